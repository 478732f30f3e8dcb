//! `scripts/check-layers` catches what it promises: a planted module cycle, a query
//! outside the store modules and axum outside the HTTP layer, and passes a tree
//! without them.

use std::path::Path;
use std::process::Command;

/// Writes `files` (path, text) under a fresh directory and runs the script on it.
fn check(files: &[(&str, &str)]) -> (bool, String) {
    check_with(files, None)
}

/// [`check`], tolerating the breaches that `debt` lists.
fn check_with(files: &[(&str, &str)], debt: Option<&str>) -> (bool, String) {
    let dir = tempfile::tempdir().expect("temporary directory");
    for (path, text) in files {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
        std::fs::write(&path, text).expect("write");
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/check-layers");
    let mut cmd = Command::new("python3");
    cmd.arg(script);
    if let Some(debt) = debt {
        let file = dir.path().join("debt.txt");
        std::fs::write(&file, debt).expect("write the debt list");
        cmd.arg("--debt").arg(file);
    }
    let out = cmd
        .arg(dir.path())
        .output()
        .expect("python3 runs scripts/check-layers");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

const LIB: (&str, &str) = (
    "badge-server/src/lib.rs",
    "pub mod domain;\npub mod store;\npub mod http;\npub mod app;\n",
);

#[test]
fn a_tree_that_keeps_the_rules_passes() {
    let (ok, out) = check(&[
        LIB,
        ("badge-server/src/domain/mod.rs", "pub mod site;\n"),
        (
            "badge-server/src/domain/site.rs",
            "pub struct Site;\n// axum is named in prose only\n",
        ),
        (
            "badge-server/src/store/mod.rs",
            "use crate::domain::site::Site;\nfn q() { sqlx::query(\"SELECT 1\"); }\n",
        ),
        (
            "badge-server/src/http/mod.rs",
            "use axum::Router;\nuse crate::store;\nuse super::domain::site::Site;\n",
        ),
        (
            "badge-server/src/app.rs",
            "use axum::Router;\nuse crate::{http, store};\n",
        ),
        ("ca/src/store.rs", "fn q() { sqlx::query(\"SELECT 1\"); }\n"),
        ("ca/src/lib.rs", "pub mod store;\n"),
    ]);
    assert!(ok, "{out}");
    assert!(out.contains("the layer rules hold"), "{out}");
}

#[test]
fn a_planted_cycle_a_stray_query_and_axum_outside_http_are_each_named() {
    let (ok, out) = check(&[
        LIB,
        ("badge-server/src/domain/mod.rs", "use crate::store::Row;\n"),
        (
            "badge-server/src/store/mod.rs",
            "use crate::domain;\npub struct Row;\n",
        ),
        (
            "badge-server/src/http/mod.rs",
            "fn h() { sqlx::query(\"SELECT 1\"); }\n",
        ),
        ("badge-server/src/app.rs", "use axum::Router;\n"),
        ("ca/src/lib.rs", "pub mod a;\npub mod b;\npub mod c;\n"),
        ("ca/src/a.rs", "use crate::{b::X, c};\n"),
        ("ca/src/b.rs", "pub struct X;\n"),
        (
            "ca/src/c.rs",
            "pub fn f() { super::a::g() }\nuse axum::Router;\n",
        ),
    ]);
    assert!(!ok, "{out}");
    assert!(
        out.contains("badge-server: module cycle: domain -> store"),
        "{out}"
    );
    assert!(out.contains("ca: module cycle: a -> c"), "{out}");
    assert!(
        out.contains("badge-server/src/http/mod.rs:1: sqlx::query outside the store modules"),
        "{out}"
    );
    // axum is the HTTP layer's business in badge-server; other crates are not bound by it.
    assert!(!out.contains("ca/src/c.rs:2"), "{out}");
    assert!(!out.contains("app.rs"), "{out}");
}

#[test]
fn unit_tests_may_reach_anywhere_without_making_a_cycle() {
    let (ok, out) = check(&[
        ("ca/src/lib.rs", "pub mod a;\npub mod b;\n"),
        ("ca/src/a.rs", "use crate::b;\n"),
        (
            "ca/src/b.rs",
            "pub fn f() {}\n#[cfg(test)]\nmod tests {\n    use crate::a;\n}\n",
        ),
    ]);
    assert!(ok, "{out}");
}

#[test]
fn listed_debt_is_tolerated_a_new_breach_is_not_and_paid_debt_must_be_struck_off() {
    let tree = [
        ("ca/src/lib.rs", "pub mod a;\npub mod b;\n"),
        (
            "ca/src/a.rs",
            "fn q() { sqlx::query(\"SELECT 1\"); }\nuse crate::b;\n",
        ),
        ("ca/src/b.rs", "use crate::a;\n"),
    ];
    let debt =
        "# known\nca/src/a.rs: sqlx::query outside the store modules\nca: module cycle: a -> b\n";
    let (ok, out) = check_with(&tree, Some(debt));
    assert!(ok, "{out}");
    assert!(out.contains("no new breach; 2 known"), "{out}");
    // A second query in the same file is the same debt; one in another file is new.
    let mut more = tree.to_vec();
    more.push(("ca/src/c.rs", "fn q() { sqlx::query(\"SELECT 2\"); }\n"));
    more[0] = ("ca/src/lib.rs", "pub mod a;\npub mod b;\npub mod c;\n");
    let (ok, out) = check_with(&more, Some(debt));
    assert!(!ok, "{out}");
    assert!(out.contains("ca/src/c.rs:1: sqlx::query"), "{out}");
    // The cycle is gone but still listed: the list must shrink with it.
    let fixed = [
        ("ca/src/lib.rs", "pub mod a;\npub mod b;\n"),
        (
            "ca/src/a.rs",
            "fn q() { sqlx::query(\"SELECT 1\"); }\nuse crate::b;\n",
        ),
        ("ca/src/b.rs", "pub struct B;\n"),
    ];
    let (ok, out) = check_with(&fixed, Some(debt));
    assert!(!ok, "{out}");
    assert!(
        out.contains("ca: module cycle: a -> b: listed as debt but gone"),
        "{out}"
    );
}

#[test]
fn the_ca_store_may_be_a_folder_and_a_ca_query_outside_it_is_named() {
    let (ok, out) = check(&[
        ("ca/src/lib.rs", "pub mod audit;\npub mod store;\n"),
        ("ca/src/store/mod.rs", "pub mod audit;\n"),
        (
            "ca/src/store/audit.rs",
            "fn q() { sqlx::query(\"SELECT 1\"); }\n",
        ),
        (
            "ca/src/audit.rs",
            "use crate::store;\nfn q() { sqlx::query(\"SELECT 1\"); }\n",
        ),
    ]);
    assert!(!ok, "{out}");
    assert!(
        out.contains("ca/src/audit.rs:2: sqlx::query outside the store modules"),
        "{out}"
    );
    assert!(!out.contains("ca/src/store/"), "{out}");
}
