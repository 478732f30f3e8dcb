// A re-verification run's page (/console/rechecks/{id}): while the run goes, ask
// for its progress every two seconds and show it in place; when it has ended,
// load the page once more, which then shows the summary and what changed.
// Without scripts the page refreshes itself (<noscript> meta refresh).
"use strict";
(function () {
  const root = document.getElementById("run");
  if (!root || root.dataset.state !== "running") return;
  const url = "/console/rechecks/" + encodeURIComponent(root.dataset.run) + "/progress";
  const fields = ["done", "total", "passed", "failed", "errors"];
  async function poll() {
    try {
      const r = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (!r.ok) throw new Error("HTTP " + r.status);
      const run = await r.json();
      for (const f of fields) {
        const el = document.getElementById("run-" + f);
        if (el) el.textContent = String(run[f]);
      }
      const bar = document.getElementById("run-progress");
      if (bar) {
        bar.max = Math.max(run.total, run.done, 1);
        bar.value = run.done;
      }
      root.dataset.polled = String(Number(root.dataset.polled || "0") + 1);
      if (run.state !== "running") {
        window.location.reload();
        return;
      }
    } catch (e) {
      // A failed poll is tried again at the next tick.
    }
    setTimeout(poll, 2000);
  }
  setTimeout(poll, 1000);
})();
