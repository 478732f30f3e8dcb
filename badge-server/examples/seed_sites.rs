//! Fills a deployment with certified sites for benchmarks: each site goes through
//! the real application store and the real approval (organization, site, domains,
//! certificate signed by the CA, audit entry, re-verification enrolment). The only
//! shortcut is the verification step, which is marked "review" directly since the
//! sites have no DNS. Reads the same CHENGXIN_* settings as `badge-server serve`.
//!
//! `cargo run --release -p chengxin-badge-server --example seed_sites -- 100000 --concurrency 8`

#![allow(missing_docs)]

use std::sync::Arc;
use std::time::Instant;

use badge_server::config::ServerSettings;
use badge_server::domain::account::{Email, Role};
use badge_server::domain::application::claims;
use badge_server::domain::clock::now;
use badge_server::http::AppState;
use badge_server::service::applications as application;
use ca::on_pool;
use ca::profile::SiteIdentity;
use clap::Parser;

/// Seeds certified sites.
#[derive(Parser)]
struct Args {
    /// How many sites.
    #[arg(default_value_t = 1000)]
    sites: usize,
    /// Approvals in flight.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    #[command(flatten)]
    settings: ServerSettings,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let Args {
        sites: n,
        concurrency,
        settings,
    } = Args::parse();
    let db = settings.common.database().await?;
    let ca = Arc::new(settings.common.open_ca(db.clone()).await?);
    ca.claim_serial_prefix().await?;
    let services = badge_server::service::Services::build(
        &settings,
        db.clone(),
        ca,
        badge_server::app::job_registry(),
    )?;
    let state = AppState::build(&settings, services);
    let operator = badge_server::store::accounts::ensure(
        &db,
        &Email::parse("seed@chenxi-shuzhi.cn")?,
        Role::Operator,
    )
    .await?;
    let staff = badge_server::store::accounts::ensure(
        &db,
        &Email::parse("seed-staff@chengxin.test")?,
        Role::Staff,
    )
    .await?;
    // Resumable: sites already there (from an interrupted run) are kept.
    let (existing,): (i64,) = on_pool!(&db, |p| sqlx::query_as("SELECT count(*) FROM sites")
        .fetch_one(p)
        .await
        .map_err(ca::Error::from))?;
    let existing = usize::try_from(existing).unwrap_or(0);
    if existing > 0 {
        println!("{existing} sites already there; seeding the rest");
    }
    let start = Instant::now();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(existing));
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (state, next, operator, staff) =
            (state.clone(), next.clone(), operator.clone(), staff.clone());
        workers.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= n {
                    return Ok::<(), badge_server::AppError>(());
                }
                let identity = SiteIdentity::parse(
                    "北京晨曦数智科技有限公司",
                    "91110108MA04T7K21H",
                    "京ICP备2024018653号-1",
                    "北京市",
                    "市辖区",
                    &[format!("s{i}.chenxi-shuzhi.cn")],
                )?;
                let filings = claims(&identity, &[]).map_err(badge_server::AppError::Invalid)?;
                let app =
                    application::create(&state.db, &operator, &identity, &filings, None, now())
                        .await?
                        .application;
                // Benchmark data, not a certification: the domains are under a name
                // nobody resolves, so the seeding records the domain-control pass that
                // approval requires instead of asking DNS 100,000 times.
                let proof = verifier::verdict::Evidence {
                    check: "dns-txt".into(),
                    subject: identity.primary().to_string(),
                    asked: serde_json::json!("bench seeding"),
                    answered: serde_json::Value::Null,
                    resolver: Some("bench-seal seeding".into()),
                    at: verifier::verdict::now(),
                    verdict: verifier::Verdict::Pass,
                    reasons: vec![],
                };
                let subject = verifier::store::Subject {
                    application_id: Some(app.id.clone()),
                    site_id: None,
                };
                verifier::store::record(&state.db, &subject, &[proof]).await?;
                on_pool!(&state.db, |p| sqlx::query(
                    "UPDATE applications SET status = 'review' WHERE id = $1"
                )
                .bind(&app.id)
                .execute(p)
                .await
                .map(|_| ())
                .map_err(ca::Error::from))?;
                let app = application::get(&state.db, &app.id)
                    .await?
                    .ok_or(badge_server::AppError::NotFound)?;
                let site = match application::approve(&state, &app, &staff, now()).await {
                    Ok(site) => site,
                    // A domain left certified by an interrupted run: skip it.
                    Err(badge_server::AppError::Conflict(_)) => continue,
                    Err(e) => return Err(e),
                };
                if i == 0 {
                    println!("first site: {}", site.id);
                }
            }
        }));
    }
    for w in workers {
        w.await??;
    }
    let secs = start.elapsed().as_secs_f64();
    let made = n.saturating_sub(existing);
    println!(
        "seeded {made} certified sites in {secs:.1} s ({:.0}/s)",
        made as f64 / secs
    );
    db.close().await;
    Ok(())
}
