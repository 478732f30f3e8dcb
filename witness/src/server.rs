//! The HTTP side: `POST /add-checkpoint` (C2SP tlog-witness), its status codes, the
//! body limit and the request deadline.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Request, State as AxumState};
use axum::http::{StatusCode, header};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use tlog::witness::{
    AddCheckpoint, MAX_REQUEST_BYTES, SIZE_CONTENT_TYPE, check_request, size_body,
};
use tlog::{Checkpoint, Error, WitnessKey};

use crate::state::State;

/// How long a request may take, body upload included, unless `--request-timeout`
/// says otherwise: a witness answers in milliseconds, and a client that trickles its
/// body must not hold a connection open.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Everything a request needs.
pub struct Witness {
    /// The key that cosigns.
    pub key: WitnessKey,
    /// The logs followed: origin → the log's note verifier key.
    pub logs: BTreeMap<String, String>,
    /// The last checkpoint cosigned per log; the lock is held from the check until
    /// the file is written (tlog-witness: check and persist atomically).
    pub state: Mutex<State>,
    /// Where the state lives.
    pub state_path: PathBuf,
}

/// The router: one route, its body limit and its deadline.
pub fn router(witness: Arc<Witness>, timeout: Duration) -> Router {
    Router::new()
        .route("/add-checkpoint", post(add_checkpoint))
        .with_state(witness)
        .layer(DefaultBodyLimit::max(MAX_REQUEST_BYTES))
        .layer(from_fn_with_state(timeout, deadline))
}

/// Answers 408 when the request (reading the body included) outlives `timeout`.
async fn deadline(AxumState(timeout): AxumState<Duration>, req: Request, next: Next) -> Response {
    match tokio::time::timeout(timeout, next.run(req)).await {
        Ok(r) => r,
        Err(_) => text(StatusCode::REQUEST_TIMEOUT, "request timed out\n".into()),
    }
}

fn text(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body,
    )
        .into_response()
}

/// `POST /add-checkpoint`: parse (400), know the origin (404), the log's signature
/// (403), then the decision under the state lock (409, 422) and the cosignature.
async fn add_checkpoint(AxumState(w): AxumState<Arc<Witness>>, body: Bytes) -> Response {
    let req = match AddCheckpoint::parse(&body) {
        Ok(r) => r,
        Err(e) => return text(StatusCode::BAD_REQUEST, format!("{e}\n")),
    };
    let origin = match req.checkpoint() {
        Ok(c) => c.origin,
        Err(e) => return text(StatusCode::BAD_REQUEST, format!("{e}\n")),
    };
    let Some(vkey) = w.logs.get(&origin) else {
        return text(StatusCode::NOT_FOUND, format!("unknown log {origin:?}\n"));
    };
    let checkpoint = match Checkpoint::open(&req.note, vkey) {
        Ok(c) => c,
        Err(e @ Error::Checkpoint(_)) => return text(StatusCode::BAD_REQUEST, format!("{e}\n")),
        Err(e) => return text(StatusCode::FORBIDDEN, format!("{e}\n")),
    };
    // The decision and the write run on their own thread to completion, whatever
    // happens to this request (a deadline, a client gone): a state written but not
    // taken into memory would let a later request roll the log back.
    let decided = tokio::task::spawn_blocking(move || w.decide(&req, checkpoint)).await;
    match decided {
        Ok(r) => r,
        Err(_) => text(StatusCode::INTERNAL_SERVER_ERROR, "internal error\n".into()),
    }
}

impl Witness {
    /// Checks `req` against the last cosigned checkpoint, records `new` durably, and
    /// cosigns it; or says why not.
    fn decide(&self, req: &AddCheckpoint, new: Checkpoint) -> Response {
        let Ok(mut state) = self.state.lock() else {
            return text(StatusCode::INTERNAL_SERVER_ERROR, "state lock\n".into());
        };
        match check_request(state.get(&new.origin), req, &new) {
            Ok(()) => {}
            Err(Error::OldSize { latest }) => {
                return (
                    StatusCode::CONFLICT,
                    [(header::CONTENT_TYPE, SIZE_CONTENT_TYPE)],
                    size_body(latest),
                )
                    .into_response();
            }
            Err(e @ Error::SplitView { .. }) => {
                // Evidence of a log showing two trees: the note is signed by the log.
                eprintln!(
                    "chengxin-witness: {} {e}; the log-signed checkpoint:\n{}",
                    new.origin,
                    String::from_utf8_lossy(&req.note)
                );
                return text(StatusCode::CONFLICT, format!("{e}\n"));
            }
            Err(e @ Error::Merkle(_)) => {
                eprintln!(
                    "chengxin-witness: {} size {}: consistency proof refused: {e}",
                    new.origin, new.size
                );
                return text(StatusCode::UNPROCESSABLE_ENTITY, format!("{e}\n"));
            }
            Err(e) => return text(StatusCode::BAD_REQUEST, format!("{e}\n")),
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let line = match self.key.cosign(&req.note, now) {
            Ok(l) => l,
            Err(e) => {
                eprintln!("chengxin-witness: cosigning failed: {e}");
                return text(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "cosigning failed\n".into(),
                );
            }
        };
        let mut next = state.clone();
        next.set(new);
        if let Err(e) = next.save(&self.state_path) {
            eprintln!(
                "chengxin-witness: writing {}: {e}",
                self.state_path.display()
            );
            return text(
                StatusCode::INTERNAL_SERVER_ERROR,
                "could not record the checkpoint\n".into(),
            );
        }
        *state = next;
        text(StatusCode::OK, line)
    }
}
