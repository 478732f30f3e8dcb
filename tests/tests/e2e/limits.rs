//! Connections, timeouts and descriptor limits: the server keeps answering.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use testkit::{Backend, Child, bin, wait_for_port};

use crate::{Deployment, http};

/// Sockets that never send a request are closed after the header timeout, and the
/// connection limit leaves descriptors for the database: 100 idle sockets against a
/// server limited to 96 open files and 20 connections, and `/healthz` still answers.
/// Before, idle sockets stayed open for ever, and 260 of them on a 256-descriptor
/// limit stopped `/healthz`.
#[test]
fn idle_sockets_are_closed_and_healthz_keeps_answering_under_a_descriptor_limit() {
    let d = Deployment::new(Backend::Sqlite);
    d.ca(&["init"]).ok();
    let mut cmd = Command::new("prlimit");
    cmd.args(["--nofile=96:96", "--"]).arg(bin("badge-server"));
    d.env(&mut cmd);
    let log = std::fs::File::create(d.path("server.log")).unwrap();
    let _server = Child(
        cmd.arg("serve")
            .env("CHENGXIN_HEADER_TIMEOUT_SECS", "1")
            .env("CHENGXIN_MAX_CONNECTIONS", "20")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    let addr = format!("127.0.0.1:{}", d.port);
    wait_for_port(&addr, 30);
    let idle: Vec<std::net::TcpStream> = (0..100)
        .map(|_| std::net::TcpStream::connect(&addr).unwrap())
        .collect();
    let asked = Instant::now();
    let health = http().get(d.url("/healthz")).send();
    let health = health.unwrap_or_else(|e| {
        panic!(
            "/healthz did not answer: {e}\n{}",
            std::fs::read_to_string(d.path("server.log")).unwrap_or_default()
        )
    });
    assert_eq!(health.status(), 200);
    eprintln!("/healthz answered after {:?}", asked.elapsed());
    for mut s in idle {
        use std::io::Read;
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut buf = [0u8; 16];
        match s.read(&mut buf) {
            Ok(0) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
            other => panic!("an idle socket is still open: {other:?}"),
        }
    }
}
