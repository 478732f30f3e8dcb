//! ICP filing checks against a real MIIT-shaped HTTP service on loopback, and against
//! offline datasets, with the shared fixtures (`shared/fixtures`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use ca::identity::Uscc;
use serde_json::{Value, json};
use verifier::Verdict;
use verifier::icp::{
    Applicant, FileProvider, IcpProvider, IcpRecord, MiitProvider, ProviderError, ProviderOptions,
    check, evaluate, import, provider_from_spec_with,
};

// ---------------------------------------------------------------------------------
// Fixtures

fn fixture(name: &str) -> PathBuf {
    testkit::fixtures_dir().join(name)
}

fn fixture_json(name: &str) -> Vec<Value> {
    serde_json::from_str(&std::fs::read_to_string(fixture(name)).unwrap()).unwrap()
}

/// The `row` objects of miit-rows.json.
fn miit_rows() -> Vec<Value> {
    fixture_json("miit-rows.json")
        .into_iter()
        .map(|e| e["row"].clone())
        .collect()
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or_default()
}

/// F01 as an applicant: the subject of the provider-error cases.
fn f01() -> Applicant {
    Applicant::parse(
        "北京晨曦数智科技有限公司",
        "91110108MA04T7K21H",
        "京ICP备2024018653号-1",
        "chenxi-shuzhi.cn",
    )
    .unwrap()
}

// ---------------------------------------------------------------------------------
// The loopback MIIT service

/// How the loopback service misbehaves, if at all.
#[derive(Clone, Copy)]
enum Mode {
    /// Answers from its rows, PageHelper-paginated.
    Rows,
    /// HTTP 500 with an HTML body.
    Status500,
    /// 200 with a truncated JSON body.
    Malformed,
    /// The envelope MIIT sends when its token expired.
    TokenExpired,
    /// Answers only after this long.
    Sleep(Duration),
}

/// One request the service received.
#[derive(Clone, Debug)]
struct Seen {
    token: Option<String>,
    body: Value,
}

struct Service {
    rows: Vec<Value>,
    mode: Mode,
    page_size: usize,
    seen: Mutex<Vec<Seen>>,
}

struct Miit {
    addr: SocketAddr,
    service: Arc<Service>,
}

impl Miit {
    async fn start(rows: Vec<Value>, mode: Mode, page_size: usize) -> Miit {
        let service = Arc::new(Service {
            rows,
            mode,
            page_size,
            seen: Mutex::new(Vec::new()),
        });
        let app = Router::new()
            .route("/icpAbbreviateInfo/queryByCondition", post(query))
            .with_state(service.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Miit { addr, service }
    }

    async fn fixtures() -> Miit {
        Miit::start(miit_rows(), Mode::Rows, 10).await
    }

    fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn provider(&self, token: Option<&str>, timeout: Duration) -> MiitProvider {
        MiitProvider::new(&self.base(), token.map(str::to_string), timeout).unwrap()
    }

    fn seen(&self) -> Vec<Seen> {
        self.service.seen.lock().unwrap().clone()
    }
}

/// `""`, a number or a digit string, as MIIT accepts for pageNum/pageSize.
fn page_param(v: &Value, default: usize) -> usize {
    match v {
        Value::Number(n) => n.as_u64().unwrap() as usize,
        Value::String(s) if !s.is_empty() => s.parse().unwrap(),
        _ => default,
    }
}

async fn query(State(s): State<Arc<Service>>, headers: HeaderMap, body: Bytes) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    s.seen.lock().unwrap().push(Seen {
        token: headers
            .get("token")
            .map(|t| t.to_str().unwrap().to_string()),
        body: body.clone(),
    });
    let json_type = [(header::CONTENT_TYPE, "application/json;charset=UTF-8")];
    match s.mode {
        Mode::Status500 => {
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                "<html>502 upstream</html>",
            )
                .into_response();
        }
        Mode::Malformed => {
            return (
                json_type,
                r#"{"code":200,"msg":"操作成功","success":true,"params":{"list":[{"domain":"#,
            )
                .into_response();
        }
        Mode::TokenExpired => {
            return (
                json_type,
                r#"{"success":false,"code":401,"msg":"token过期,请及时刷新页面"}"#,
            )
                .into_response();
        }
        Mode::Sleep(d) => tokio::time::sleep(d).await,
        Mode::Rows => {}
    }
    // MIIT's unitName takes a domain or a filing number; answer both exactly.
    let term = body["unitName"].as_str().unwrap_or_default();
    let matches: Vec<&Value> = s
        .rows
        .iter()
        .filter(|r| {
            str_of(r, "domain") == term
                || str_of(r, "serviceLicence") == term
                || str_of(r, "mainLicence") == term
        })
        .collect();
    let page_num = page_param(&body["pageNum"], 1).max(1);
    let page_size = page_param(&body["pageSize"], s.page_size).max(1);
    let total = matches.len();
    let pages = total.div_ceil(page_size);
    let start = ((page_num - 1) * page_size).min(total);
    let list: Vec<Value> = matches[start..(start + page_size).min(total)]
        .iter()
        .map(|v| (*v).clone())
        .collect();
    let size = list.len();
    let envelope = json!({
        "code": 200,
        "msg": "操作成功",
        "success": true,
        "params": {
            "endRow": if size == 0 { 0 } else { start + size },
            "firstPage": 1,
            "hasNextPage": page_num < pages,
            "hasPreviousPage": page_num > 1,
            "isFirstPage": page_num == 1,
            "isLastPage": page_num >= pages,
            "lastPage": pages,
            "list": list,
            "navigatePages": 8,
            "navigatepageNums": (1..=pages).collect::<Vec<_>>(),
            "nextPage": if page_num < pages { page_num + 1 } else { 0 },
            "pageNum": page_num,
            "pageSize": page_size,
            "pages": pages,
            "prePage": page_num - 1,
            "size": size,
            "startRow": if size == 0 { 0 } else { start + 1 },
            "total": total,
        }
    });
    (json_type, envelope.to_string()).into_response()
}

// ---------------------------------------------------------------------------------
// The fixtures' expected verdicts

/// Asserts `outcome` matches an expectation from the fixtures: `pass`, `review`,
/// `fail`, `fail: <reason>` or `fail or manual review: <reason>`.
fn assert_expected(id: &str, expected: &str, app: &Applicant, outcome: &verifier::Outcome) {
    let reasons = outcome.reasons.join("\n");
    let ctx = format!(
        "{id}: expected {expected:?}, got {:?}: {reasons}",
        outcome.verdict
    );
    if expected == "pass" {
        assert_eq!(outcome.verdict, Verdict::Pass, "{ctx}");
    } else if expected == "review" {
        assert_eq!(outcome.verdict, Verdict::Review, "{ctx}");
    } else if let Some(why) = expected.strip_prefix("fail or manual review") {
        assert!(
            matches!(outcome.verdict, Verdict::Review | Verdict::Fail),
            "{ctx}"
        );
        let why = why.trim_start_matches(':').trim();
        assert!(reasons.contains(why), "{ctx}");
        assert!(reasons.contains(&app.organization), "{ctx}");
    } else if let Some(why) = expected.strip_prefix("fail") {
        assert_eq!(outcome.verdict, Verdict::Fail, "{ctx}");
        let why = why
            .trim_start_matches(':')
            .trim()
            .replace("the domain", app.domain.as_str());
        assert!(reasons.contains(&why), "{ctx}");
    } else {
        panic!("{id}: unknown expectation {expected:?}");
    }
}

#[tokio::test]
async fn every_application_gets_the_verdict_it_lists() {
    let miit = Miit::fixtures().await;
    let provider = miit.provider(None, Duration::from_secs(5));
    let apps = fixture_json("applications.json");
    assert_eq!(apps.len(), 8);
    for app in &apps {
        let id = str_of(app, "fixture");
        let expected = str_of(app, "expected");
        if id == "F18" {
            // A USCC with a wrong check character is refused before any query.
            let before = miit.seen().len();
            let err = Uscc::parse(str_of(app, "uscc")).unwrap_err().to_string();
            assert!(
                err.contains("check character") && err.contains("'W'"),
                "{err}"
            );
            let err = Applicant::parse(
                str_of(app, "organization"),
                str_of(app, "uscc"),
                str_of(app, "icp"),
                str_of(app, "domain"),
            )
            .unwrap_err();
            assert!(err.to_string().contains("check character"), "{err}");
            assert_eq!(miit.seen().len(), before, "F18 reached the provider");
            continue;
        }
        let applicant = Applicant::parse(
            str_of(app, "organization"),
            str_of(app, "uscc"),
            str_of(app, "icp"),
            str_of(app, "domain"),
        )
        .unwrap_or_else(|e| panic!("{id}: {e}"));
        let outcome = check(&provider, &applicant).await;
        assert_expected(id, expected, &applicant, &outcome);

        let ev = &outcome.evidence[0];
        assert_eq!(outcome.evidence.len(), 1);
        assert_eq!(ev.check, "icp");
        assert_eq!(ev.subject, applicant.domain.as_str());
        assert_eq!(ev.resolver.as_deref(), Some(provider.name().as_str()));
        assert_eq!(ev.verdict, outcome.verdict);
        assert_eq!(ev.asked["queries"][0]["unitName"], str_of(app, "domain"));
        assert_eq!(ev.asked["queries"][0]["serviceType"], 1);
        assert!(ev.answered.is_array(), "{id}: {}", ev.answered);
    }
}

#[tokio::test]
async fn an_unfiled_domain_is_asked_about_and_fails_with_an_empty_answer() {
    let miit = Miit::fixtures().await;
    let provider = miit.provider(None, Duration::from_secs(5));
    let answer = provider.query("lakeview-shop.cn").await.unwrap();
    assert!(answer.rows.is_empty());
    assert_eq!(answer.raw[0]["params"]["total"], 0);
    assert_eq!(miit.seen()[0].body["unitName"], "lakeview-shop.cn");
    assert_eq!(miit.seen()[0].body["pageNum"], "");
}

#[tokio::test]
async fn a_filing_for_another_domain_is_found_through_the_claimed_number() {
    let miit = Miit::fixtures().await;
    let provider = miit.provider(None, Duration::from_secs(5));
    let applicant = Applicant::parse(
        "兰州华夏智联科技有限公司",
        "91620102MA73FDQ21U",
        "陇ICP备2024006632号-1",
        "www.lzhx-tech.cn",
    )
    .unwrap();
    let outcome = check(&provider, &applicant).await;
    assert_eq!(outcome.verdict, Verdict::Fail);
    let reasons = outcome.reasons.join("\n");
    assert!(
        reasons.contains("no filing found for lzhx-tech.cn"),
        "{reasons}"
    );
    assert!(reasons.contains("lzhx-tech.com"), "{reasons}");
    let bodies: Vec<Value> = miit.seen().into_iter().map(|s| s.body).collect();
    assert_eq!(
        bodies[0]["unitName"], "lzhx-tech.cn",
        "the registrable domain is asked"
    );
    assert_eq!(bodies[1]["unitName"], "陇ICP备2024006632号-1");
}

/// The application of the same fixture, if there is one: rows F14 and F15 expect a
/// failure only for the applicant of applications.json (other name, other domain).
fn application_for(id: &str) -> Option<Value> {
    fixture_json("applications.json")
        .into_iter()
        .find(|a| str_of(a, "fixture") == id)
}

#[tokio::test]
async fn every_fixture_row_gets_its_expected_verdict_from_either_provider() {
    let miit = Miit::fixtures().await;
    let http = miit.provider(None, Duration::from_secs(5));
    let file = FileProvider::load(fixture("miit-rows.json")).unwrap();
    // The on-disk index of the same dataset, through the spec a deployment uses.
    let dir = tempfile::tempdir().unwrap();
    let index_path = dir.path().join("icp.idx");
    assert_eq!(
        verifier::icp::index::build(&fixture("miit-rows.json"), &index_path).unwrap(),
        16
    );
    let indexed =
        verifier::icp::provider_from_spec(&format!("file:{}", index_path.display())).unwrap();
    let entries = fixture_json("miit-rows.json");
    assert_eq!(entries.len(), 16);
    for entry in &entries {
        let id = str_of(entry, "fixture");
        let row = &entry["row"];
        let mut expected = str_of(entry, "expected").to_string();
        let (mut organization, mut domain) = (
            str_of(row, "unitName").to_string(),
            str_of(row, "domain").to_string(),
        );
        if let Some(app) = application_for(id)
            && expected == "fail"
        {
            organization = str_of(&app, "organization").to_string();
            domain = str_of(&app, "domain").to_string();
            if str_of(&app, "expected").starts_with("fail or manual review") {
                expected = "fail or manual review".into();
            }
        }
        let applicant = Applicant::parse(
            &organization,
            str_of(entry, "uscc"),
            str_of(row, "serviceLicence"),
            &domain,
        )
        .unwrap_or_else(|e| panic!("{id}: {e}"));
        for provider in [&http as &dyn IcpProvider, &file, indexed.as_ref()] {
            let outcome = check(provider, &applicant).await;
            assert_expected(
                &format!("{id} via {}", provider.name()),
                &expected,
                &applicant,
                &outcome,
            );
        }
    }
}

// ---------------------------------------------------------------------------------
// Provider errors: retryable, never a pass, never a silent fail

async fn assert_error_verdict(provider: &dyn IcpProvider, expect: impl Fn(&ProviderError) -> bool) {
    let err = provider.query("chenxi-shuzhi.cn").await.unwrap_err();
    assert!(expect(&err), "unexpected error {err:?}");
    assert!(err.is_retryable());
    let outcome = check(provider, &f01()).await;
    assert_eq!(outcome.verdict, Verdict::Error, "{:?}", outcome.reasons);
    assert!(
        outcome.reasons[0].contains("retry later"),
        "{:?}",
        outcome.reasons
    );
    let ev = &outcome.evidence[0];
    assert_eq!(ev.verdict, Verdict::Error);
    assert_eq!(ev.answered, Value::String(err.to_string()));
    assert_eq!(ev.asked["queries"][0]["unitName"], "chenxi-shuzhi.cn");
}

#[tokio::test]
async fn an_http_500_is_a_retryable_error() {
    let miit = Miit::start(miit_rows(), Mode::Status500, 10).await;
    let provider = miit.provider(None, Duration::from_secs(5));
    assert_error_verdict(
        &provider,
        |e| matches!(e, ProviderError::Http { status: 500, body } if body.contains("502 upstream")),
    )
    .await;
}

#[tokio::test]
async fn malformed_json_is_a_retryable_error() {
    let miit = Miit::start(miit_rows(), Mode::Malformed, 10).await;
    let provider = miit.provider(None, Duration::from_secs(5));
    assert_error_verdict(&provider, |e| matches!(e, ProviderError::Malformed(_))).await;
}

#[tokio::test]
async fn success_false_with_an_expired_token_is_a_retryable_error() {
    let miit = Miit::start(miit_rows(), Mode::TokenExpired, 10).await;
    let provider = miit.provider(Some("stale"), Duration::from_secs(5));
    assert_error_verdict(&provider, |e| {
        matches!(e, ProviderError::Unsuccessful { code: Some(401), msg } if msg.contains("token过期"))
    })
    .await;
}

#[tokio::test]
async fn an_answer_slower_than_the_timeout_is_a_retryable_error() {
    let miit = Miit::start(miit_rows(), Mode::Sleep(Duration::from_secs(10)), 10).await;
    let provider = miit.provider(None, Duration::from_millis(500));
    let started = Instant::now();
    assert_error_verdict(&provider, |e| matches!(e, ProviderError::Timeout(_))).await;
    // Two queries (one direct, one through check) each give up after ~500 ms.
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_refused_connection_is_a_retryable_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let provider =
        MiitProvider::new(&format!("http://{addr}"), None, Duration::from_secs(2)).unwrap();
    assert_error_verdict(&provider, |e| {
        matches!(e, ProviderError::Transport(_) | ProviderError::Timeout(_))
    })
    .await;
}

/// `n` rows for one domain (a legacy multi-domain filing), distinct ids.
fn many_rows(domain: &str, n: usize) -> Vec<Value> {
    let mut base = miit_rows()[0].clone();
    base["domain"] = json!(domain);
    (0..n)
        .map(|i| {
            let mut row = base.clone();
            row["domainId"] = json!(20_000_000_000_i64 + i as i64);
            row
        })
        .collect()
}

#[tokio::test]
async fn twenty_five_rows_served_ten_per_page_are_all_read() {
    let mut rows = many_rows("chenxi-shuzhi.cn", 25);
    // Only the last row, on page 3, disagrees: the verdict shows it was read and judged.
    rows[24]["unitName"] = json!("北京晨曦数智信息技术有限公司");
    let miit = Miit::start(rows, Mode::Rows, 10).await;
    let provider = miit.provider(None, Duration::from_secs(5));

    let answer = provider.query("chenxi-shuzhi.cn").await.unwrap();
    assert_eq!(answer.rows.len(), 25);
    let mut ids: Vec<i64> = answer.rows.iter().map(|r| r.domain_id.unwrap()).collect();
    ids.dedup();
    assert_eq!(ids.len(), 25);
    assert_eq!(answer.raw.as_array().unwrap().len(), 3);
    let pages: Vec<Value> = miit
        .seen()
        .iter()
        .map(|s| s.body["pageNum"].clone())
        .collect();
    assert_eq!(pages, vec![json!(""), json!("2"), json!("3")]);
    assert_eq!(miit.seen()[1].body["pageSize"], "10");

    let outcome = check(&provider, &f01()).await;
    assert_eq!(outcome.verdict, Verdict::Review);
    let reasons = outcome.reasons.join("\n");
    assert!(
        reasons.contains("北京晨曦数智信息技术有限公司"),
        "{reasons}"
    );
    assert!(reasons.contains("disagree on unitName"), "{reasons}");
    assert_eq!(outcome.evidence[0].answered.as_array().unwrap().len(), 25);
}

#[tokio::test]
async fn more_pages_than_the_cap_is_a_retryable_error_not_a_partial_verdict() {
    let miit = Miit::start(many_rows("chenxi-shuzhi.cn", 105), Mode::Rows, 10).await;
    let provider = miit.provider(None, Duration::from_secs(5));
    assert_error_verdict(
        &provider,
        |e| matches!(e, ProviderError::Malformed(m) if m.contains("more than 10 pages")),
    )
    .await;
}

#[tokio::test]
async fn the_token_header_is_sent_when_configured_and_only_then() {
    let miit = Miit::fixtures().await;
    let with = miit.provider(Some("s3cret-token"), Duration::from_secs(5));
    assert_eq!(check(&with, &f01()).await.verdict, Verdict::Pass);
    let without = miit.provider(None, Duration::from_secs(5));
    assert_eq!(check(&without, &f01()).await.verdict, Verdict::Pass);
    let tokens: Vec<Option<String>> = miit.seen().into_iter().map(|s| s.token).collect();
    assert_eq!(tokens, vec![Some("s3cret-token".to_string()), None]);
    // The token is a credential: it is never part of the evidence or the name.
    let outcome = check(&with, &f01()).await;
    let evidence = serde_json::to_string(&outcome.evidence).unwrap();
    assert!(!evidence.contains("s3cret-token"));
    assert!(!with.name().contains("s3cret-token"));
}

// ---------------------------------------------------------------------------------
// Offline datasets

#[tokio::test]
async fn the_fixture_file_loads_directly_as_a_dataset() {
    let file = FileProvider::load(fixture("miit-rows.json")).unwrap();
    assert_eq!(file.len(), 16);
    let answer = file.query("chenxi-shuzhi.cn").await.unwrap();
    assert_eq!(answer.rows.len(), 1);
    assert_eq!(answer.rows[0].main_id, Some(7_100_001));
    assert_eq!(answer.rows[0].service_licence, "京ICP备2024018653号-1");
    assert!(
        file.query("lakeview-shop.cn")
            .await
            .unwrap()
            .rows
            .is_empty()
    );
    assert_eq!(check(&file, &f01()).await.verdict, Verdict::Pass);
}

#[tokio::test]
async fn a_jsonl_dataset_with_bare_and_wrapped_rows_loads() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("icp.jsonl");
    let entries = fixture_json("miit-rows.json");
    let text = format!(
        "{}\n\n{}\n",
        entries[0]["row"], // bare row
        json!({"row": entries[2]["row"], "note": "wrapped"}),
    );
    std::fs::write(&path, text).unwrap();
    let file = FileProvider::load(&path).unwrap();
    assert_eq!(file.len(), 2);
    assert_eq!(check(&file, &f01()).await.verdict, Verdict::Pass);
    let answer = file.query("pujiangyun.com").await.unwrap();
    assert_eq!(answer.rows[0].unit_name, "上海浦江云服务有限公司");
    assert_eq!(answer.raw[0]["mainId"], 7_100_003);
}

#[tokio::test]
async fn a_csv_dataset_with_a_header_row_loads() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("icp.csv");
    let text = "\u{feff}domain,unitName,natureName,mainLicence,serviceLicence,limitAccess,mainId,serviceId,domainId,serviceName,updateRecordTime\r\n\
        chenxi-shuzhi.cn,北京晨曦数智科技有限公司,企业,京ICP备2024018653号,京ICP备2024018653号-1,否,7100001,10008000000,10009000000,\"北京晨曦数智, 官网\",2024-06-12 10:21:33\r\n\
        xixi-ec.cn,杭州西溪电子商务有限公司,企业,浙ICP备2022009417号,浙ICP备2022009417号-1,是,,,,,\r\n";
    std::fs::write(&path, text).unwrap();
    let file = FileProvider::load(&path).unwrap();
    assert_eq!(file.len(), 2);
    let row = &file.query("chenxi-shuzhi.cn").await.unwrap().rows[0];
    assert_eq!(row.service_name, "北京晨曦数智, 官网");
    assert_eq!(row.service_id, Some(10_008_000_000));
    assert_eq!(check(&file, &f01()).await.verdict, Verdict::Pass);
    let f05 = Applicant::parse(
        "杭州西溪电子商务有限公司",
        "91330106MA2KC4N1X2",
        "",
        "xixi-ec.cn",
    )
    .unwrap();
    let outcome = check(&file, &f05).await;
    assert_eq!(outcome.verdict, Verdict::Fail);
    assert!(
        outcome
            .reasons
            .join(" ")
            .contains("filing has limited access")
    );
}

#[test]
fn a_dataset_with_a_bad_line_is_refused_naming_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let row = &miit_rows()[0];

    let jsonl = dir.path().join("bad.jsonl");
    std::fs::write(
        &jsonl,
        format!("{row}\n{row}\n{{\"domain\": \"x.cn\", \"unitName\": 5}}\n"),
    )
    .unwrap();
    let err = FileProvider::load(&jsonl).unwrap_err().to_string();
    assert!(err.contains("line 3") && err.contains("bad.jsonl"), "{err}");

    std::fs::write(&jsonl, format!("{row}\nnot json\n")).unwrap();
    let err = FileProvider::load(&jsonl).unwrap_err().to_string();
    assert!(err.contains("line 2"), "{err}");

    let array = dir.path().join("bad.json");
    std::fs::write(
        &array,
        format!("[\n{row},\n{{\"unitName\": \"无域名\", \"serviceLicence\": \"京ICP备2024018653号-1\"}}\n]"),
    )
    .unwrap();
    let err = FileProvider::load(&array).unwrap_err().to_string();
    assert!(err.contains("line 3") && err.contains("no domain"), "{err}");

    let csv = dir.path().join("bad.csv");
    std::fs::write(
        &csv,
        "domain,unitName,serviceLicence,mainId\na.cn,甲公司,京ICP备2024018653号-1,1\nb.cn,乙公司,京ICP备2024018653号-2,notanumber\n",
    )
    .unwrap();
    let err = FileProvider::load(&csv).unwrap_err().to_string();
    assert!(err.contains("line 3") && err.contains("mainId"), "{err}");
}

#[tokio::test]
async fn import_writes_normalized_jsonl_that_loads_again() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("icp.jsonl");
    assert_eq!(import(&fixture("miit-rows.json"), &out).unwrap(), 16);
    let text = std::fs::read_to_string(&out).unwrap();
    assert_eq!(text.lines().count(), 16);
    for line in text.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        assert!(v["mainId"].is_i64() && v["unitName"].is_string(), "{line}");
        assert!(v.get("row").is_none());
    }
    let again = FileProvider::load(&out).unwrap();
    let original = FileProvider::load(fixture("miit-rows.json")).unwrap();
    let (a, b) = (
        again.query("qwgw-health.org.cn").await.unwrap().rows,
        original.query("qwgw-health.org.cn").await.unwrap().rows,
    );
    assert_eq!(a, b);

    // A bad input writes nothing.
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(&bad, "{}\n").unwrap();
    let target = dir.path().join("never.jsonl");
    assert!(import(&bad, &target).is_err());
    assert!(!target.exists());
}

#[test]
fn provider_specs_name_miit_or_file_and_nothing_else() {
    let opts = ProviderOptions::default;
    let p = provider_from_spec_with("miit:http://127.0.0.1:9/api", opts()).unwrap();
    assert_eq!(p.name(), "miit:http://127.0.0.1:9/api");
    let path = fixture("miit-rows.json");
    let p = provider_from_spec_with(&format!("file:{}", path.display()), opts()).unwrap();
    assert!(p.name().starts_with("file:"));
    for bad in [
        "",
        "miit:",
        "miit:ftp://h",
        "file:",
        "http://h",
        "tianapi:key",
    ] {
        let err = provider_from_spec_with(bad, opts()).err().unwrap();
        assert!(matches!(err, verifier::Error::Config(_)), "{bad}: {err}");
    }
    let err = provider_from_spec_with("file:/nonexistent/icp.jsonl", opts())
        .err()
        .unwrap();
    assert!(matches!(err, verifier::Error::Dataset { .. }), "{err}");
}

// ---------------------------------------------------------------------------------
// Rules the fixtures do not reach

fn f01_row() -> IcpRecord {
    IcpRecord::from_json(miit_rows()[0].clone()).unwrap()
}

#[test]
fn an_app_filing_number_fails_the_website_check() {
    let mut row = f01_row();
    row.service_licence = "京ICP备2024018653号-1A".into();
    let (verdict, reasons) = evaluate(&f01(), "chenxi-shuzhi.cn", &[row]);
    assert_eq!(verdict, Verdict::Fail);
    assert!(
        reasons.join(" ").contains("app or mini-program"),
        "{reasons:?}"
    );
}

#[test]
fn an_unknown_or_missing_limit_access_fails_closed() {
    for value in ["", "未知", "否 ", "NO"] {
        let mut row = f01_row();
        row.limit_access = value.into();
        let (verdict, reasons) = evaluate(&f01(), "chenxi-shuzhi.cn", &[row]);
        assert_eq!(verdict, Verdict::Fail, "{value:?}");
        assert!(reasons.join(" ").contains("failing closed"), "{reasons:?}");
    }
}

#[test]
fn brackets_and_spaces_do_not_matter_but_words_do() {
    let mut row = f01_row();
    row.unit_name = "腾讯科技（深圳）有限公司".into();
    let mut app = f01();
    app.organization = "腾讯科技 (深圳) 有限公司".into();
    assert_eq!(
        evaluate(&app, "chenxi-shuzhi.cn", &[row.clone()]).0,
        Verdict::Pass
    );
    app.organization = "腾讯科技（深圳）股份有限公司".into();
    let (verdict, reasons) = evaluate(&app, "chenxi-shuzhi.cn", &[row]);
    assert_eq!(verdict, Verdict::Review);
    assert!(
        reasons[0].contains("MIIT says 腾讯科技（深圳）有限公司"),
        "{reasons:?}"
    );
}

#[test]
fn a_uscc_type_that_does_not_fit_the_filing_nature_goes_to_review() {
    let mut row = f01_row();
    row.nature_name = "事业单位".into();
    let (verdict, reasons) = evaluate(&f01(), "chenxi-shuzhi.cn", &[row]);
    assert_eq!(verdict, Verdict::Review);
    assert!(reasons.join(" ").contains("type 91"), "{reasons:?}");
}

#[test]
fn a_claimed_number_must_be_miits_byte_for_byte_and_extend_the_subject() {
    let mut app = f01();
    app.icp = Some(ca::identity::IcpNumber::parse_website("京ICP备2024018653号-2").unwrap());
    let (verdict, reasons) = evaluate(&app, "chenxi-shuzhi.cn", &[f01_row()]);
    assert_eq!(verdict, Verdict::Review, "{reasons:?}");
    // The subject number alone is a fine claim.
    app.icp = Some(ca::identity::IcpNumber::parse_any("京ICP备2024018653号").unwrap());
    assert_eq!(
        evaluate(&app, "chenxi-shuzhi.cn", &[f01_row()]).0,
        Verdict::Pass
    );

    let mut row = f01_row();
    row.main_licence = "京ICP备2024018654号".into();
    let (verdict, reasons) = evaluate(&f01(), "chenxi-shuzhi.cn", &[row]);
    assert_eq!(verdict, Verdict::Review);
    assert!(reasons.join(" ").contains("does not extend"), "{reasons:?}");
}

#[test]
fn a_filing_for_a_subdomain_or_parent_does_not_count() {
    let mut row = f01_row();
    row.domain = "www.chenxi-shuzhi.cn".into();
    let (verdict, reasons) = evaluate(&f01(), "chenxi-shuzhi.cn", &[row]);
    assert_eq!(verdict, Verdict::Fail);
    assert!(
        reasons.join(" ").contains("filing covers another domain"),
        "{reasons:?}"
    );
}

#[tokio::test]
async fn a_subdomain_is_checked_through_its_registrable_domain() {
    let file = FileProvider::load(fixture("miit-rows.json")).unwrap();
    let mut app = f01();
    app.domain = ca::identity::Domain::parse("shop.chenxi-shuzhi.cn").unwrap();
    let outcome = check(&file, &app).await;
    assert_eq!(outcome.verdict, Verdict::Pass, "{:?}", outcome.reasons);
    assert_eq!(outcome.evidence[0].subject, "shop.chenxi-shuzhi.cn");
    assert_eq!(outcome.evidence[0].asked["registrable"], "chenxi-shuzhi.cn");
}

#[test]
fn a_certificate_number_in_the_row_must_be_the_applicants_uscc() {
    let mut raw = miit_rows()[0].clone();
    raw["mainUnitCertNo"] = json!("91110108MA04T7K21H");
    let row = IcpRecord::from_json(raw.clone()).unwrap();
    assert_eq!(
        evaluate(&f01(), "chenxi-shuzhi.cn", &[row]).0,
        Verdict::Pass
    );
    raw["mainUnitCertNo"] = json!("91440300708461136T");
    let row = IcpRecord::from_json(raw).unwrap();
    let (verdict, reasons) = evaluate(&f01(), "chenxi-shuzhi.cn", &[row]);
    assert_eq!(verdict, Verdict::Review);
    assert!(reasons[0].contains("91440300708461136T"), "{reasons:?}");
}

#[tokio::test]
async fn a_bare_lookup_says_who_filed_the_domain_under_which_number() {
    let miit = Miit::fixtures().await;
    let provider = miit.provider(None, Duration::from_secs(5));
    let filed = verifier::icp::lookup(
        &provider,
        &ca::identity::Domain::parse("www.chenxi-shuzhi.cn").unwrap(),
    )
    .await;
    assert_eq!(filed.verdict, Verdict::Pass, "{:?}", filed.reasons);
    let said = filed.reasons.join("\n");
    for needle in [
        "chenxi-shuzhi.cn is filed for a website",
        "北京晨曦数智科技有限公司",
        "京ICP备2024018653号-1",
    ] {
        assert!(said.contains(needle), "{needle}: {said}");
    }
    let unfiled = verifier::icp::lookup(
        &provider,
        &ca::identity::Domain::parse("lakeview-shop.cn").unwrap(),
    )
    .await;
    assert_eq!(unfiled.verdict, Verdict::Fail);
    assert!(
        unfiled.reasons[0].contains("no website filing"),
        "{:?}",
        unfiled.reasons
    );

    // The CLI without applicant details: exit 0 for a filed domain, 1 for none.
    let spec = format!("file:{}", fixture("miit-rows.json").display());
    let run = |domain: &str| {
        std::process::Command::new(testkit::bin("verifier"))
            .args(["icp", domain, "--no-record"])
            .env("CHENGXIN_ICP_PROVIDER", &spec)
            .output()
            .unwrap()
    };
    let out = run("chenxi-shuzhi.cn");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("京ICP备2024018653号-1") && !stdout.contains("applicant says"),
        "{stdout}"
    );
    assert_eq!(run("lakeview-shop.cn").status.code(), Some(1));
}

#[tokio::test]
async fn the_on_disk_index_answers_every_question_the_in_memory_dataset_does() {
    let file = FileProvider::load(fixture("miit-rows.json")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("icp.idx");
    verifier::icp::index::build(&fixture("miit-rows.json"), &path).unwrap();
    let indexed = verifier::icp::IndexedProvider::open(&path).unwrap();
    // Built from JSONL (read a line at a time), the index is the same file.
    let jsonl = dir.path().join("rows.jsonl");
    import(&fixture("miit-rows.json"), &jsonl).unwrap();
    let from_jsonl = dir.path().join("jsonl.idx");
    verifier::icp::index::build(&jsonl, &from_jsonl).unwrap();
    assert_eq!(
        std::fs::read(&path).unwrap(),
        std::fs::read(&from_jsonl).unwrap()
    );
    // Every domain (any case) and every filing number, and names that are not there.
    let mut terms: Vec<String> = vec!["lakeview-shop.cn".into(), "".into(), "zzz.cn".into()];
    for row in miit_rows() {
        for key in ["domain", "serviceLicence", "mainLicence"] {
            terms.push(str_of(&row, key).to_string());
        }
        terms.push(str_of(&row, "domain").to_uppercase());
    }
    for term in &terms {
        let a = file.query(term).await.unwrap();
        let b = indexed.query(term).await.unwrap();
        let mut a: Vec<String> = a.rows.iter().map(|r| r.raw.to_string()).collect();
        let mut b: Vec<String> = b.rows.iter().map(|r| r.raw.to_string()).collect();
        a.sort();
        b.sort();
        assert_eq!(a, b, "{term:?}");
    }
    // A file that is not an index, or whose keys are out of order, is refused.
    let not = dir.path().join("plain.jsonl");
    std::fs::write(&not, "{}\n").unwrap();
    assert!(verifier::icp::IndexedProvider::open(&not).is_err());
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines[1..].reverse();
    let shuffled = dir.path().join("shuffled.idx");
    std::fs::write(&shuffled, lines.join("\n") + "\n").unwrap();
    let e = verifier::icp::IndexedProvider::open(&shuffled)
        .unwrap_err()
        .to_string();
    assert!(e.contains("out of order"), "{e}");
}
