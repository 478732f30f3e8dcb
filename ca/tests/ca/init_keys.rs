//! `ca init` and the keys: the database checked first, the passphrases, and the
//! serial-prefix lease.

use super::*;

/// Issue 11 item 14: `ca init` proves the database writable before it creates any key,
/// so a database that is down leaves nothing behind and a later init works; it
/// tightens an existing CA directory others could open to 0700, and the audit log
/// records the generation of each key with its key id.
#[tokio::test]
async fn ca_init_checks_the_database_first_tightens_the_directory_and_audits_key_generation() {
    use std::os::unix::fs::PermissionsExt;
    for backend in Backend::all() {
        let dir = tempfile::tempdir().unwrap();
        let good_url = backend.fresh_database(dir.path());
        let down = match backend {
            Backend::Sqlite => "sqlite:///proc/chengxin-no-such-dir/ca.db".to_string(),
            _ => "postgres://chengxin@127.0.0.1:1/chengxin".to_string(),
        };
        let t = TestCa { dir, db_url: down };
        std::fs::create_dir(t.ca_dir()).unwrap();
        std::fs::set_permissions(t.ca_dir(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let refused = t.ca(&["init"]);
        assert_eq!(refused.code, 2, "{backend:?}: {refused:?}");
        assert!(refused.stderr.contains("error"), "{refused:?}");
        let left: Vec<_> = std::fs::read_dir(t.ca_dir()).unwrap().collect();
        assert!(
            left.is_empty(),
            "{backend:?}: init with the database down left {left:?}"
        );

        let t = TestCa {
            dir: t.dir,
            db_url: good_url,
        };
        let out = t.ca(&["init"]).ok();
        let mode = std::fs::metadata(t.ca_dir()).unwrap().permissions().mode();
        assert_eq!(
            mode & 0o777,
            0o700,
            "{backend:?}: CA directory mode {mode:o}"
        );

        // Each key's generation is on record with its key id (the certificate's SKI).
        let db = t.db().await;
        let rows: Vec<(String, String, String)> = on_pool!(&db, |p| sqlx::query_as(
            "SELECT action, subject, details FROM audit_log ORDER BY seq"
        )
        .fetch_all(p)
        .await
        .unwrap());
        db.close().await;
        let actions: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
        assert_eq!(
            actions[..3],
            ["ca.key.generate", "ca.key.generate", "ca.init"],
            "{backend:?}: {rows:?}"
        );
        for (row, (cert, key)) in rows
            .iter()
            .zip([("root.pem", "root"), ("issuing.pem", "issuing")])
        {
            let ski = t
                .openssl(&[
                    "x509",
                    "-in",
                    &format!("ca/{cert}"),
                    "-noout",
                    "-ext",
                    "subjectKeyIdentifier",
                ])
                .ok()
                .stdout;
            let ski: String = ski
                .lines()
                .nth(1)
                .unwrap()
                .trim()
                .replace(':', "")
                .to_lowercase();
            assert_eq!(row.1, ski, "{backend:?} {key}: {row:?}");
            assert!(row.2.contains(&format!("\"key\":\"{key}\"")), "{row:?}");
            assert!(rows[2].2.contains(&ski), "{:?}", rows[2]);
        }
        assert!(
            out.stdout.contains("created root and issuing CA"),
            "{out:?}"
        );
        t.ca(&["audit", "verify"]).ok();
    }
}

/// Issue 11 item 15: the root and issuing keys have passphrases of their own, which
/// must differ, and trivially weak ones are refused; nothing is created then.
#[test]
fn ca_init_wants_two_different_passphrases_that_are_not_trivially_weak() {
    let dir = tempfile::tempdir().unwrap();
    let db_url = Backend::Sqlite.fresh_database(dir.path());
    let t = TestCa { dir, db_url };
    let init_with = |root: Option<&str>, issuing: &str| {
        let mut cmd = t.command();
        cmd.env("CHENGXIN_CA_PASSPHRASE", issuing);
        match root {
            Some(r) => cmd.env("CHENGXIN_CA_ROOT_PASSPHRASE", r),
            None => cmd.env_remove("CHENGXIN_CA_ROOT_PASSPHRASE"),
        };
        run(cmd.arg("init"))
    };
    for (root, issuing, expected) in [
        (None, PASSPHRASE, "no passphrase for the root key"),
        (Some(PASSPHRASE), PASSPHRASE, "need different passphrases"),
        (
            Some("aaaaaaaaaaaaaaaa"),
            PASSPHRASE,
            "root key passphrase is too weak",
        ),
        (
            Some(ROOT_PASSPHRASE),
            "123456789012",
            "issuing key passphrase is too weak",
        ),
        (Some(ROOT_PASSPHRASE), "password1234", "common passwords"),
        (Some(ROOT_PASSPHRASE), "abcdabcdabcd", "repeats a unit of 4"),
        (Some(ROOT_PASSPHRASE), "short", "at least 12"),
    ] {
        let r = init_with(root, issuing);
        assert_ne!(r.code, 0, "{root:?} {issuing}: {r:?}");
        assert!(
            r.stderr.contains(expected),
            "{root:?} {issuing}: expected {expected:?} in {:?}",
            r.stderr
        );
        assert!(
            !t.ca_dir().exists(),
            "{root:?} {issuing}: a refused init created the directory"
        );
    }
    // The root passphrase from a file (owner-only), as the README shows it.
    let root_file = t.path("root-passphrase");
    std::fs::write(&root_file, format!("{ROOT_PASSPHRASE}\n")).unwrap();
    std::fs::set_permissions(
        &root_file,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    run(t
        .command()
        .env_remove("CHENGXIN_CA_ROOT_PASSPHRASE")
        .arg("--root-passphrase-file")
        .arg(&root_file)
        .arg("init"))
    .ok();
    // Each key opens with its own passphrase only.
    let opens = |key: &str, passphrase: &str| {
        t.openssl(&[
            "pkey",
            "-in",
            key,
            "-passin",
            &format!("pass:{passphrase}"),
            "-noout",
        ])
        .code
            == 0
    };
    assert!(opens("ca/root.key.pem", ROOT_PASSPHRASE));
    assert!(!opens("ca/root.key.pem", PASSPHRASE));
    assert!(opens("ca/issuing.key.pem", PASSPHRASE));
    assert!(!opens("ca/issuing.key.pem", ROOT_PASSPHRASE));
    t.issue("a.pem", &[]).ok();
}

/// Issue 11 item 15: a CA that issues holds its serial instance prefix as a lease in
/// the database; a second one with the same prefix is refused while the first is live,
/// another prefix is fine, and a released, expired or dead holder's prefix is free.
#[tokio::test]
async fn a_second_ca_with_a_serial_prefix_in_use_is_refused_and_another_prefix_is_fine() {
    for backend in Backend::all() {
        let t = TestCa::new(backend);
        let first = t.open().await;
        first.claim_serial_prefix().await.unwrap();
        let second = t.open().await;
        let err = second.claim_serial_prefix().await.unwrap_err();
        assert!(
            matches!(err, ca::Error::SerialPrefixInUse { prefix: 1, .. }),
            "{backend:?}: {err}"
        );
        assert!(err.to_string().contains("CHENGXIN_CA_INSTANCE"), "{err}");
        let err = second
            .issue(&f01_identity(), KeySource::Generate, "test")
            .await
            .unwrap_err();
        assert!(matches!(err, ca::Error::SerialPrefixInUse { .. }), "{err}");
        // Another process (the command line) with the same prefix is refused too.
        let cli = t.issue("cli.pem", &[]);
        assert_eq!(cli.code, 2, "{backend:?}: {cli:?}");
        assert!(
            cli.stderr
                .contains("serial instance prefix 1 is held by a running CA"),
            "{}",
            cli.stderr
        );
        assert_eq!(t.count("certificates").await, 0);

        // Another prefix is fine, in this process and in another.
        let other = t.open_instance(2).await;
        other.claim_serial_prefix().await.unwrap();
        let issued = other
            .issue(&f01_identity(), KeySource::Generate, "test")
            .await
            .unwrap();
        assert_eq!(issued.serial.as_bytes()[0], 2);
        let mut args = vec!["issue"];
        args.extend_from_slice(&F01);
        args.extend_from_slice(&["--city", "海淀区", "--out", "three.pem"]);
        run(t.command().env("CHENGXIN_CA_INSTANCE", "3").args(args)).ok();
        assert!(t.serial_of("three.pem").starts_with("03"));

        // A clean release frees the prefix at once; the released CA issues no more.
        first.release_serial_prefix().await.unwrap();
        let err = first
            .issue(&f01_identity(), KeySource::Generate, "test")
            .await
            .unwrap_err();
        assert!(matches!(err, ca::Error::SerialPrefixNotHeld(_)), "{err}");
        second.claim_serial_prefix().await.unwrap();
        second
            .issue(&f01_identity(), KeySource::Generate, "test")
            .await
            .unwrap();
        drop(second);

        // Live: another host's unexpired lease. Not live: an expired one, or a process
        // of this host that is gone.
        let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
        let mut gone = Command::new("true").spawn().unwrap();
        let gone_pid = i64::from(gone.id());
        gone.wait().unwrap();
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        for (host, pid, expires_at, live) in [
            ("elsewhere".to_string(), 1, now + 50, true),
            ("elsewhere".to_string(), 1, now - 1, false),
            (hostname.trim().to_string(), gone_pid, now + 50, false),
        ] {
            let db = t.db().await;
            on_pool!(&db, |p| sqlx::query(
                "DELETE FROM ca_instances WHERE prefix = 2"
            )
            .execute(p)
            .await
            .map(drop)
            .unwrap());
            on_pool!(&db, |p| sqlx::query(
                "INSERT INTO ca_instances (prefix, holder, host, pid, claimed_at, expires_at) \
                 VALUES (2, 'x', $1, $2, 0, $3)"
            )
            .bind(&host)
            .bind(pid)
            .bind(expires_at)
            .execute(p)
            .await
            .map(drop)
            .unwrap());
            let fresh = t.open_instance(2).await;
            let claimed = fresh.claim_serial_prefix().await;
            assert_eq!(
                claimed.is_ok(),
                !live,
                "{backend:?} {host} {pid}: {claimed:?}"
            );
            fresh.release_serial_prefix().await.unwrap();
            let (holders,): (i64,) = on_pool!(&db, |p| sqlx::query_as(
                "SELECT COUNT(*) FROM ca_instances WHERE prefix = 2 AND holder = 'x'"
            )
            .fetch_one(p)
            .await
            .unwrap());
            db.close().await;
            assert_eq!(holders, i64::from(live), "{backend:?} {host} {pid}");
        }
        drop(other);
    }
}
