//! Building and publishing the anti-fraud work report of a period: count, compare
//! with what was published, print the PDF with headless Chromium, store it with its
//! audit record in one transaction. Run by `badge-server report build` and by the
//! daily `report.build` job, never by a web request.
//!
//! Published reports are immutable: building a period again recomputes its
//! figures and must find the stored bytes. Different figures mean data of a closed
//! period changed (a row deleted or edited by hand, or copied-seal hosts forgotten
//! after 90 days by housekeeping): the build fails with a conflict naming the
//! period, and the published report stays as it was.

use std::path::{Path, PathBuf};
use std::time::Duration;

use ca::db::Database;
use serde_json::json;

use crate::domain::report::{Figures, Period};
use crate::error::AppError;
use crate::store::reports as store;

/// The job that builds the month and quarter that last ended; re-enqueues itself
/// for the next day.
pub const REPORT_BUILD: &str = "report.build";

/// Longest wait for Chromium to print one report.
pub const PDF_TIMEOUT: Duration = Duration::from_secs(60);

/// Largest PDF kept (a report prints to well under 1 MiB).
pub const MAX_PDF_BYTES: usize = 16 << 20;

/// How long Chromium may take and how large its PDF may be.
#[derive(Debug, Clone, Copy)]
struct PdfLimits {
    /// Chromium is killed after this long.
    timeout: Duration,
    /// A larger output is refused.
    max_bytes: usize,
}

/// The limits builds run with.
const PDF_LIMITS: PdfLimits = PdfLimits {
    timeout: PDF_TIMEOUT,
    max_bytes: MAX_PDF_BYTES,
};

/// What a build did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Published now.
    Published,
    /// Already published with these very figures.
    Unchanged,
}

/// A built report.
#[derive(Debug, Clone)]
pub struct Built {
    /// What the build did.
    pub outcome: Outcome,
    /// The figures.
    pub figures: Figures,
    /// Whether the published report has a PDF.
    pub has_pdf: bool,
    /// Why there is no PDF, when there is none.
    pub pdf_problem: Option<String>,
}

/// The Chromium binary: `configured`, else Debian's `/usr/bin/chromium` when it is
/// there.
pub fn find_chromium(configured: Option<&Path>) -> Option<PathBuf> {
    match configured {
        Some(p) => Some(p.to_path_buf()),
        None => {
            let debian = Path::new("/usr/bin/chromium");
            debian.exists().then(|| debian.to_path_buf())
        }
    }
}

/// Builds the report of `period` as of `now` and publishes it unless it is.
/// `actor` is recorded in the audit chain.
pub async fn build(
    db: &Database,
    chromium: Option<&Path>,
    period: Period,
    now: i64,
    actor: &str,
) -> Result<Built, AppError> {
    if now < period.end() {
        return Err(AppError::Invalid(vec![(
            "period".into(),
            format!(
                "{period} is not over (it ends {} 24:00 Beijing time); a report is built once its period has ended",
                period.days().1
            ),
        )]));
    }
    let counted = store::count_period(db, period.start(), period.end()).await?;
    let figures = Figures::from_counted(period, &counted);
    let bytes = String::from_utf8(figures.to_bytes())
        .map_err(|e| AppError::Internal(ca::Error::Config(e.to_string())))?;
    let name = period.to_string();
    if let Some(stored) = store::get(db, &name).await? {
        return unchanged(stored, figures, &bytes);
    }
    let (pdf, pdf_problem) = match chromium {
        None => (
            None,
            Some("Chromium was not found (install it, or set CHENGXIN_CHROMIUM); published as HTML only".to_owned()),
        ),
        Some(bin) => match print_pdf(bin, &figures).await {
            Ok(pdf) => (Some(pdf), None),
            Err(e) => {
                tracing::warn!(error = %e, period = %name, "the report's PDF was not made");
                (None, Some(format!("the PDF was not made: {e}; published as HTML only")))
            }
        },
    };
    let mut tx = db.begin().await?;
    if !store::insert(&mut tx, &name, &bytes, pdf.as_deref(), now).await? {
        drop(tx);
        // Another replica published it between our read and our insert.
        let stored = store::get(db, &name).await?.ok_or(AppError::NotFound)?;
        return unchanged(stored, figures, &bytes);
    }
    let digest = ring::digest::digest(&ring::digest::SHA256, bytes.as_bytes());
    ca::audit::append(
        &mut tx,
        actor,
        "report.publish",
        &name,
        &json!({ "figures_sha256": hex::encode(digest.as_ref()), "pdf": pdf.is_some() }),
    )
    .await?;
    tx.commit().await?;
    Ok(Built {
        outcome: Outcome::Published,
        figures,
        has_pdf: pdf.is_some(),
        pdf_problem,
    })
}

fn unchanged(
    stored: store::StoredReport,
    figures: Figures,
    bytes: &str,
) -> Result<Built, AppError> {
    if stored.figures != bytes {
        return Err(AppError::Conflict(format!(
            "{} was published with other figures: data of the closed period has changed since \
             (compare /reports/{}.json); a published report is not changed",
            stored.period, stored.period
        )));
    }
    Ok(Built {
        outcome: Outcome::Unchanged,
        figures,
        has_pdf: stored.has_pdf,
        pdf_problem: None,
    })
}

/// Prints the report's standalone document to PDF with headless Chromium, in a
/// private temporary directory removed afterwards; killed after [`PDF_TIMEOUT`].
async fn print_pdf(chromium: &Path, figures: &Figures) -> Result<Vec<u8>, String> {
    print_pdf_within(chromium, figures, PDF_LIMITS).await
}

/// [`print_pdf`] within `limits`.
async fn print_pdf_within(
    chromium: &Path,
    figures: &Figures,
    limits: PdfLimits,
) -> Result<Vec<u8>, String> {
    let html = figures.print_html().map_err(|e| e.to_string())?;
    let dir = PrivateDir::new().map_err(|e| format!("temporary directory: {e}"))?;
    let page = dir.0.join("report.html");
    let out = dir.0.join("report.pdf");
    tokio::fs::write(&page, html)
        .await
        .map_err(|e| format!("{}: {e}", page.display()))?;
    let mut cmd = tokio::process::Command::new(chromium);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-pdf-header-footer",
    ])
    .arg(format!(
        "--user-data-dir={}",
        dir.0.join("profile").display()
    ))
    .arg(format!("--print-to-pdf={}", out.display()))
    .arg(format!("file://{}", page.display()))
    .stdin(std::process::Stdio::null())
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::piped())
    .kill_on_drop(true);
    let child = cmd
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", chromium.display()))?;
    let done = tokio::time::timeout(limits.timeout, child.wait_with_output())
        .await
        .map_err(|_| format!("Chromium did not finish in {} s", limits.timeout.as_secs()))?
        .map_err(|e| e.to_string())?;
    let pdf = tokio::fs::read(&out).await.map_err(|e| {
        let stderr = String::from_utf8_lossy(&done.stderr);
        let last = stderr.lines().last().unwrap_or_default();
        format!("Chromium ({}) wrote no PDF: {e}; {last}", done.status)
    })?;
    if !pdf.starts_with(b"%PDF-") || pdf.len() > limits.max_bytes {
        return Err(format!(
            "Chromium's output is not a PDF of at most {} bytes",
            limits.max_bytes
        ));
    }
    Ok(pdf)
}

/// A directory only this user can read, removed when dropped.
struct PrivateDir(PathBuf);

impl PrivateDir {
    fn new() -> std::io::Result<PrivateDir> {
        use std::os::unix::fs::DirBuilderExt;
        let id = crate::domain::clock::new_id("chengxin-report-")
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        let path = std::env::temp_dir().join(id);
        std::fs::DirBuilder::new().mode(0o700).create(&path)?;
        Ok(PrivateDir(path))
    }
}

impl Drop for PrivateDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Builds the month and the quarter that last ended at `now`, those not published
/// yet (the `report.build` job's work).
pub async fn build_due(
    db: &Database,
    chromium: Option<&Path>,
    now: i64,
) -> Result<Vec<Built>, AppError> {
    let mut built = Vec::new();
    for period in Period::last_ended(now) {
        if store::get(db, &period.to_string()).await?.is_none() {
            built.push(build(db, chromium, period, now, "scheduler").await?);
        }
    }
    Ok(built)
}

/// Published reports, newest first.
pub async fn list(db: &Database) -> Result<Vec<store::StoredReport>, AppError> {
    store::list(db).await
}

/// A published report's figures and whether it has a PDF.
pub async fn get(
    db: &Database,
    period: Period,
) -> Result<Option<(Figures, store::StoredReport)>, AppError> {
    let Some(stored) = store::get(db, &period.to_string()).await? else {
        return Ok(None);
    };
    let figures: Figures = serde_json::from_str(&stored.figures).map_err(|e| {
        AppError::Internal(ca::Error::Config(format!(
            "stored report {}: {e}",
            stored.period
        )))
    })?;
    Ok(Some((figures, stored)))
}

/// A published report's PDF.
pub async fn pdf(db: &Database, period: Period) -> Result<Option<Vec<u8>>, AppError> {
    store::pdf(db, &period.to_string()).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::report::Counted;
    use std::os::unix::fs::PermissionsExt;

    /// A stand-in for a Chromium that misbehaves: a shell script that is handed the
    /// same arguments. It notes its process id and output path in `dir`.
    fn chromium(dir: &Path, body: &str) -> PathBuf {
        let path = dir.join("chromium");
        let script = format!(
            "#!/bin/sh\nfor a; do case $a in --print-to-pdf=*) out=${{a#--print-to-pdf=}};; esac; done\n\
             echo $$ > {d}/pid; echo \"$out\" > {d}/out\n{body}\n",
            d = dir.display()
        );
        std::fs::write(&path, script).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    fn figures() -> Figures {
        Figures::from_counted(Period::parse("2026-Q3").unwrap(), &Counted::default())
    }

    fn noted(dir: &Path, what: &str) -> String {
        std::fs::read_to_string(dir.join(what))
            .unwrap()
            .trim()
            .to_string()
    }

    const LIMITS: PdfLimits = PdfLimits {
        timeout: Duration::from_secs(1),
        max_bytes: 1024,
    };

    #[tokio::test]
    async fn a_chromium_that_hangs_is_killed_at_the_timeout_and_its_directory_removed() {
        let dir = tempfile::tempdir().unwrap();
        let bin = chromium(dir.path(), "exec sleep 60");
        let started = std::time::Instant::now();
        let err = print_pdf_within(&bin, &figures(), LIMITS)
            .await
            .unwrap_err();
        assert_eq!(err, "Chromium did not finish in 1 s");
        assert!(started.elapsed() < Duration::from_secs(10));
        // Killed, not left running: give the kernel a moment to reap it.
        let pid = noted(dir.path(), "pid");
        let mut gone = false;
        for _ in 0..50 {
            let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            // Gone, or a zombie waiting for a parent that no longer waits.
            if state.is_empty() || state.split(") ").nth(1).is_some_and(|s| s.starts_with('Z')) {
                gone = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(gone, "the stand-in ({pid}) still runs");
        let out = PathBuf::from(noted(dir.path(), "out"));
        assert!(!out.parent().unwrap().exists(), "{}", out.display());
    }

    #[tokio::test]
    async fn output_over_the_size_limit_or_not_a_pdf_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        for body in [
            "head -c 2000 /dev/zero | sed 's/^/%PDF-/' > \"$out\"",
            "echo '<html>not a pdf</html>' > \"$out\"",
        ] {
            let bin = chromium(dir.path(), body);
            let err = print_pdf_within(&bin, &figures(), LIMITS)
                .await
                .unwrap_err();
            assert_eq!(
                err, "Chromium's output is not a PDF of at most 1024 bytes",
                "{body}"
            );
            let out = PathBuf::from(noted(dir.path(), "out"));
            assert!(!out.parent().unwrap().exists(), "{}", out.display());
        }
        // Within the limits: taken as it is.
        let bin = chromium(dir.path(), "printf '%%PDF-1.4 small' > \"$out\"");
        let pdf = print_pdf_within(&bin, &figures(), LIMITS).await.unwrap();
        assert_eq!(pdf, b"%PDF-1.4 small");
    }
}
