-- A one-time message carried across a redirect (post/redirect/get): the console
-- says what a step did on the page the browser lands on, and a reload does not
-- submit the step again.
ALTER TABLE sessions ADD COLUMN flash TEXT;
