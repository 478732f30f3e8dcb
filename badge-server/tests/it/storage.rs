//! When the database cannot write: the SQLite file on a small tmpfs that the test
//! fills and frees (the tests run as root, as `.ci/run` does; they fail, never skip,
//! without it). Visitors are told the disk is full, and the server writes again by
//! itself once there is room.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use axum::http::StatusCode;

use crate::accounts::{PASSWORD, PUBLIC, TestApp};

/// A tmpfs of `size` mounted on a new directory; unmounted on drop.
pub(crate) struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    pub(crate) fn mount(size: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "these tests mount a small tmpfs and need root: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        SmallDisk { dir }
    }

    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Fills the disk to the last byte with a file; its path.
    pub(crate) fn fill(&self) -> PathBuf {
        let path = self.path().join("filler");
        let mut f = std::fs::File::create(&path).unwrap();
        let chunk = vec![0u8; 64 * 1024];
        let mut size = chunk.len();
        // Big writes first, then smaller ones, until not one byte more fits.
        while size > 0 {
            match f.write(&chunk[..size]) {
                Ok(0) | Err(_) => size /= 2,
                Ok(_) => {}
            }
        }
        let _ = f.sync_all();
        path
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// The application with its SQLite database on a fresh 16 MiB tmpfs (the CA lives
/// elsewhere), the write-ahead log emptied so that the next write needs new space.
pub(crate) async fn app_on_small_disk(extra: &[&str]) -> (TestApp, SmallDisk) {
    let disk = SmallDisk::mount("16m");
    let db_url = format!("sqlite://{}", disk.path().join("chengxin.db").display());
    let mut args = vec!["--public-url", PUBLIC];
    args.extend_from_slice(extra);
    let t = TestApp::with_database(tempfile::tempdir().unwrap(), &db_url, &args).await;
    t.exec("PRAGMA wal_checkpoint(TRUNCATE)").await;
    (t, disk)
}

fn register_fields(email: &str) -> Vec<(&str, &str)> {
    vec![
        ("email", email),
        ("password", PASSWORD),
        ("password2", PASSWORD),
        ("role", "user"),
    ]
}

/// A full disk stops writes with a page that says so (503, not a generic 500); once
/// space is freed the same server writes again, on every connection of its pool. After
/// a disk-full error, 1,581 of 1,581 later writes failed until a restart, with
/// "non-zero transaction depth" in the log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_is_named_as_such_and_writes_resume_once_there_is_room() {
    let (t, disk) = app_on_small_disk(&[]).await;
    let filler = disk.fill();
    for n in 0..3 {
        let mut b = t.browser_at(&format!("192.0.2.{n}:5000"));
        let email = format!("full{n}@example.cn");
        let r = b
            .submit("/register", "/register", &register_fields(&email))
            .await;
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{r:?}");
        assert!(r.body.contains("disk is full"), "{}", r.body);
    }
    std::fs::remove_file(filler).unwrap();
    // More writes at once than the pool has connections: all of them work again.
    let writes = (0..20).map(|n| {
        let t = &t;
        async move {
            let mut b = t.browser_at(&format!("198.51.100.{n}:5000"));
            let email = format!("room{n}@example.cn");
            b.submit("/register", "/register", &register_fields(&email))
                .await
                .expect(200, "Check your mail");
        }
    });
    futures_util::future::join_all(writes).await;
    assert_eq!(
        t.scalar("SELECT COUNT(*) FROM accounts WHERE email LIKE 'room%'")
            .await,
        20
    );
}

/// `GET /healthz`: its status and JSON body.
async fn health(t: &TestApp) -> (StatusCode, serde_json::Value) {
    let req = axum::http::Request::get("/healthz")
        .body(axum::body::Body::empty())
        .unwrap();
    let (status, _, body) = t.call(req).await;
    (status, serde_json::from_slice(&body).unwrap())
}

/// `/healthz` proves a write can happen, not only a read: ok (200) normally, and 503
/// `degraded` naming the full disk while the database cannot write, so that an
/// orchestrator drains or restarts the replica; ok again once there is room. The
/// write is made at most once per `CHENGXIN_HEALTH_WRITE_SECS` (default 5) and the
/// answer kept in between. Before, it only read, and answered 200 throughout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_proves_a_write_and_reports_degraded_while_the_disk_is_full() {
    let (t, disk) = app_on_small_disk(&["--health-write-secs", "0"]).await;
    let (status, body) = health(&t).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "ok");
    assert_eq!(body["write"], "ok", "{body}");
    let filler = disk.fill();
    let (status, body) = health(&t).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["status"], "degraded");
    assert!(
        body["reason"].as_str().unwrap().contains("disk is full"),
        "{body}"
    );
    std::fs::remove_file(filler).unwrap();
    let (status, body) = health(&t).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // With the default interval, answers within it reuse the last probe: one write.
    let (t, _disk) = app_on_small_disk(&[]).await;
    for _ in 0..5 {
        assert_eq!(health(&t).await.0, StatusCode::OK);
    }
    assert_eq!(t.scalar("SELECT probes FROM health_probe").await, 1);
}
