//! badge-server's integration tests, one binary with a module per area: the real
//! router and a real state (a fresh CA, SQLite or PostgreSQL), driven in-process.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod accounts;
mod approval;
mod board;
mod complaints;
mod conventions;
mod edge;
mod events;
mod exchange;
mod log;
mod members;
mod members_watch;
mod openapi;
mod pages;
mod pki;
mod places;
mod queue;
mod rechecks;
mod records;
mod reports;
mod settings;
mod site;
mod snapshots;
mod staff_sites;
mod storage;
mod warnings;

use std::path::Path;
use std::sync::Arc;

use badge_server::config::ServerSettings;
use badge_server::http::AppState;
use clap::Parser;

#[derive(Parser)]
struct Args {
    #[command(flatten)]
    settings: ServerSettings,
}

/// A real application state: a new CA in `dir` (its passphrase in a file there), the
/// database at `db_url`, and `extra` command-line settings. Domain checks ask a DNS
/// server that is not there, so they end in an error (never a pass or a failure).
pub(crate) async fn app_state(dir: &Path, db_url: &str, extra: &[&str]) -> AppState {
    let pass = dir.join("passphrase");
    if !pass.exists() {
        ca::signer::write_private_file(&pass, b"correct-horse-battery-staple").unwrap();
    }
    let passphrases = ca::authority::KeyPassphrases {
        root: b"root-horse-battery-staple",
        issuing: Some(b"correct-horse-battery-staple"),
    };
    // A restart (TestApp::restart) opens the CA made by the first start.
    if !dir.join("ca").exists() {
        ca::authority::init(&dir.join("ca"), &passphrases, None).unwrap();
    }
    let ca_dir = dir.join("ca");
    let mut args = vec![
        "badge-server",
        "--database-url",
        db_url,
        "--dir",
        ca_dir.to_str().unwrap(),
        "--passphrase-file",
        pass.to_str().unwrap(),
        "--dns-servers",
        "127.0.0.1:1",
    ];
    args.extend_from_slice(extra);
    let s = Args::parse_from(args).settings;
    let db = s.common.database().await.unwrap();
    let ca = Arc::new(s.common.open_ca(db.clone()).await.unwrap());
    ca.claim_serial_prefix().await.unwrap();
    let state = AppState::build(
        &s,
        badge_server::service::Services::build(
            &s,
            db.clone(),
            ca,
            badge_server::app::job_registry(),
        )
        .unwrap(),
    );
    // As `serve` does: the seal cache keeps facts while it follows the changes.
    tokio::spawn(state.seal_cache.clone().run_change_feed(db));
    state
}

/// An application of `operator` for the fixture organization and `domain`, left
/// `pending`: its id.
pub(crate) async fn pending_application(
    state: &AppState,
    operator: &badge_server::domain::account::Account,
    domain: &str,
) -> String {
    apply_for(state, operator, "京ICP备2024018653号-1", &[domain]).await
}

/// The fixture organization (F01) claiming `icp` for the first of `domains`.
pub(crate) fn fixture_identity(icp: &str, domains: &[&str]) -> ca::profile::SiteIdentity {
    ca::profile::SiteIdentity::parse(
        "北京晨曦数智科技有限公司",
        "91110108MA04T7K21H",
        icp,
        "北京市",
        "市辖区",
        domains,
    )
    .unwrap()
}

/// An application of `operator` for the fixture organization claiming `icp` for the
/// first of `domains`, stored as the API stores it (a key generated): its id.
pub(crate) async fn apply_for(
    state: &AppState,
    operator: &badge_server::domain::account::Account,
    icp: &str,
    domains: &[&str],
) -> String {
    apply_with_csr(state, operator, icp, domains, None).await
}

/// As [`apply_for`], with the operator's own PKCS#10 request when `csr_pem` is given.
pub(crate) async fn apply_with_csr(
    state: &AppState,
    operator: &badge_server::domain::account::Account,
    icp: &str,
    domains: &[&str],
    csr_pem: Option<&str>,
) -> String {
    let identity = fixture_identity(icp, domains);
    let filings = badge_server::domain::application::claims(&identity, &[]).unwrap();
    badge_server::service::applications::create(
        &state.db,
        operator,
        &identity,
        &filings,
        csr_pem,
        badge_server::domain::clock::now(),
    )
    .await
    .unwrap()
    .application
    .id
}

/// The PKCS#10 request of `operator`'s (only) application: its key, for another
/// application that uses the same key.
pub(crate) async fn csr_of(
    state: &AppState,
    operator: &badge_server::domain::account::Account,
) -> String {
    let (csr,): (String,) = ca::on_pool!(&state.db, |p| sqlx::query_as(
        "SELECT csr_pem FROM applications WHERE account_id = $1"
    )
    .bind(operator.id)
    .fetch_one(p)
    .await
    .unwrap());
    csr
}

/// Server settings from these command-line flags (defaults for the rest).
pub(crate) fn settings_from(flags: &[&str]) -> ServerSettings {
    Args::parse_from(std::iter::once("badge-server").chain(flags.iter().copied())).settings
}

/// A domain-control checker that asks `dns` (a real DNS server on loopback) alone.
pub(crate) fn challenger_for(dns: &testkit::DnsServer) -> verifier::Challenger {
    let addr = dns.addr.to_string();
    verifier::Challenger::from_settings(&settings_from(&["--dns-servers", &addr]).verifier).unwrap()
}

/// Proves control of every domain of application `id` through the real verification
/// path: dnsmasq on loopback serving the application's TXT records, asked by a copy
/// of `state`. Without a filing source the application then waits for staff
/// (`review`). The verification's answer.
pub(crate) async fn prove_control(
    state: &AppState,
    actor: &badge_server::domain::account::Account,
    id: &str,
) -> serde_json::Value {
    let app = badge_server::service::applications::get(&state.db, id)
        .await
        .unwrap()
        .unwrap();
    let zone = app.domains.iter().fold(testkit::Zone::new(), |z, d| {
        z.txt(&format!("_chengxin-challenge.{d}"), &app.token)
    });
    let dns = zone.start();
    let mut state = state.clone();
    state.challenger = Arc::new(challenger_for(&dns));
    verify_json(&state, &app, actor, Some(verifier::Method::DnsTxt))
        .await
        .unwrap()
}

/// A certified site through the real application store, verification and approval:
/// control is proven over real DNS, the application waits for staff (no filing
/// source), and `staff` approves it. The site's id.
pub(crate) async fn certified_site(
    state: &AppState,
    operator: &badge_server::domain::account::Account,
    staff: &badge_server::domain::account::Account,
    domain: &str,
) -> String {
    certified_site_with_csr(state, operator, staff, domain, None).await
}

/// As [`certified_site`], the key from `csr_pem` when given.
pub(crate) async fn certified_site_with_csr(
    state: &AppState,
    operator: &badge_server::domain::account::Account,
    staff: &badge_server::domain::account::Account,
    domain: &str,
    csr_pem: Option<&str>,
) -> String {
    let id = apply_with_csr(state, operator, "京ICP备2024018653号-1", &[domain], csr_pem).await;
    let checked = prove_control(state, operator, &id).await;
    assert_eq!(checked["status"], "review", "{checked}");
    let app = badge_server::service::applications::get(&state.db, &id)
        .await
        .unwrap()
        .unwrap();
    let site = approve_json(state, &app, staff).await.unwrap();
    site["site"].as_str().unwrap().to_string()
}

/// Verifies `app` now, as the API does: its answer as JSON.
pub(crate) async fn verify_json(
    state: &AppState,
    app: &badge_server::domain::application::Application,
    actor: &badge_server::domain::account::Account,
    method: Option<verifier::Method>,
) -> Result<serde_json::Value, badge_server::AppError> {
    let now = badge_server::domain::clock::now();
    let verified =
        badge_server::service::applications::verify(state, app, actor, method, now).await?;
    Ok(
        serde_json::to_value(badge_server::http::views::application::VerifyOutcome::new(
            verified,
            &state.public_base(),
        ))
        .unwrap(),
    )
}

/// Approves `app` now, as the API does: the site view as JSON.
pub(crate) async fn approve_json(
    state: &AppState,
    app: &badge_server::domain::application::Application,
    staff: &badge_server::domain::account::Account,
) -> Result<serde_json::Value, badge_server::AppError> {
    let now = badge_server::domain::clock::now();
    let site = badge_server::service::applications::approve(state, app, staff, now).await?;
    Ok(
        serde_json::to_value(badge_server::http::views::site::SiteView::new(
            site,
            &state.public_base(),
        ))
        .unwrap(),
    )
}

/// The view of `site` its operator gets from the API, as JSON.
pub(crate) async fn site_json(state: &AppState, site: &str) -> serde_json::Value {
    let site = badge_server::service::sites::site_certificate(&state.db, site)
        .await
        .unwrap();
    serde_json::to_value(badge_server::http::views::site::SiteView::new(
        site,
        &state.public_base(),
    ))
    .unwrap()
}
