//! The OpenAPI document and the router tell the same story: the real router, with a
//! real state (SQLite, a fresh CA), answers every documented operation and no other
//! method or `/api/v1` path; the operations that name the bearer scheme are the ones
//! that want a token; and the bodies the handlers return match the documented schemas
//! for the documented status codes.

use std::collections::BTreeSet;
use std::path::Path;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderValue, Method, Request, StatusCode, header};
use axum::response::IntoResponse;
use badge_server::domain::account::{Email, Role};
use badge_server::http::AppState;
use serde_json::{Value, json};
use tower::ServiceExt;

/// What the API is, checked by hand: a route added, removed or renamed under `/api/v1`
/// must change this list, the router and the document together.
const API: &[(&str, &str)] = &[
    ("delete", "/api/v1/complaints/{id}/prominent"),
    ("delete", "/api/v1/events/{id}"),
    ("delete", "/api/v1/members/{id}/origins"),
    ("delete", "/api/v1/me/tokens/{id}"),
    ("delete", "/api/v1/me/webhook"),
    ("delete", "/api/v1/warnings/{id}/prominent"),
    ("get", "/api/v1/applications/{id}"),
    ("get", "/api/v1/check"),
    ("get", "/api/v1/complaints"),
    ("get", "/api/v1/complaints/{id}"),
    ("get", "/api/v1/complaints/{id}/attachments/{attachment}"),
    ("get", "/api/v1/conventions"),
    ("get", "/api/v1/conventions/{id}"),
    ("get", "/api/v1/events"),
    ("get", "/api/v1/events/{id}"),
    ("get", "/api/v1/exchange/events"),
    ("get", "/api/v1/me"),
    ("get", "/api/v1/me/tokens"),
    ("get", "/api/v1/members"),
    ("get", "/api/v1/members/{id}"),
    ("get", "/api/v1/members/{id}/origins"),
    ("get", "/api/v1/members/{id}/brands"),
    ("get", "/api/v1/openapi.json"),
    ("get", "/api/v1/places"),
    ("get", "/api/v1/records"),
    ("get", "/api/v1/records/{id}"),
    ("get", "/api/v1/records/{id}/attachments"),
    ("get", "/api/v1/records/{id}/attachments/{attachment}"),
    ("get", "/api/v1/sites"),
    ("get", "/api/v1/staff/settings"),
    ("get", "/api/v1/seal-copies"),
    ("get", "/api/v1/sites/{site}"),
    ("get", "/api/v1/staff/rechecks"),
    ("get", "/api/v1/staff/rechecks/{id}"),
    ("get", "/api/v1/warnings"),
    ("get", "/cert/{site}.json"),
    ("post", "/api/v1/applications"),
    ("post", "/api/v1/applications/{id}/approve"),
    ("post", "/api/v1/applications/{id}/reject"),
    ("post", "/api/v1/applications/{id}/verify"),
    ("post", "/api/v1/complaints"),
    ("post", "/api/v1/conventions"),
    ("post", "/api/v1/conventions/{id}/sign"),
    ("post", "/api/v1/conventions/{id}/versions"),
    ("post", "/api/v1/events"),
    ("post", "/api/v1/members"),
    ("post", "/api/v1/members/{id}/origins"),
    ("post", "/api/v1/members/{id}/brands"),
    ("get", "/api/v1/warning-drafts"),
    ("post", "/api/v1/warning-drafts/{id}/dismiss"),
    ("post", "/api/v1/warning-drafts/{id}/publish"),
    ("post", "/api/v1/records"),
    ("post", "/api/v1/records/{id}/attachments"),
    ("post", "/api/v1/records/{id}/dispute"),
    ("post", "/api/v1/records/{id}/resolve"),
    ("post", "/api/v1/complaints/{id}/answer"),
    ("post", "/api/v1/complaints/{id}/attachments"),
    ("post", "/api/v1/complaints/{id}/decide"),
    ("post", "/api/v1/complaints/{id}/feedback"),
    ("post", "/api/v1/complaints/{id}/prominent"),
    ("post", "/api/v1/complaints/{id}/withdraw"),
    ("post", "/api/v1/sites/{site}/recheck"),
    ("post", "/api/v1/seal-copies/warn"),
    ("post", "/api/v1/sites/{site}/revoke"),
    ("post", "/api/v1/staff/rechecks"),
    ("post", "/api/v1/warnings"),
    ("post", "/api/v1/warnings/{id}/prominent"),
    ("post", "/api/v1/warnings/{id}/withdraw"),
    ("put", "/api/v1/events/{id}"),
    ("put", "/api/v1/me/webhook"),
    ("get", "/api/v1/staff/sites"),
    ("get", "/api/v1/staff/sites/{id}"),
    ("post", "/api/v1/staff/sites/{id}/recheck"),
    ("post", "/api/v1/staff/sites/{id}/{action}"),
    ("post", "/api/v1/staff/sites/{id}/notes"),
    ("get", "/api/v1/staff/queues"),
    ("put", "/api/v1/staff/settings"),
];

const PROBED: [Method; 5] = [
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
];

/// Marks responses the router made because no route (or no method) matched.
const UNROUTED: &str = "x-unrouted";

/// A real application state on SQLite and a new CA in `dir`, with one-second
/// domain-check timeouts.
async fn state(dir: &Path) -> AppState {
    let db_url = format!("sqlite://{}", dir.join("chengxin.db").display());
    crate::app_state(
        dir,
        &db_url,
        &[
            "--public-url",
            "http://127.0.0.1:8080",
            "--dns-timeout-secs",
            "1",
            "--http-timeout-secs",
            "1",
        ],
    )
    .await
}

/// The real routes, with fallbacks that mark what no route answered.
fn probe_router(state: AppState) -> Router {
    badge_server::http::router::routes()
        .fallback(|| async { ([(UNROUTED, "path")], StatusCode::NOT_FOUND).into_response() })
        .method_not_allowed_fallback(|| async {
            ([(UNROUTED, "method")], StatusCode::METHOD_NOT_ALLOWED).into_response()
        })
        .with_state(state)
}

pub(crate) fn document() -> Value {
    serde_json::to_value(badge_server::http::router::document()).unwrap()
}

/// (method, path template) of every documented operation.
fn operations(doc: &Value) -> BTreeSet<(String, String)> {
    let mut ops = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if [
                "get", "put", "post", "delete", "options", "head", "patch", "trace",
            ]
            .contains(&method.as_str())
            {
                ops.insert((method.clone(), path.clone()));
            }
        }
    }
    ops
}

/// A request path for a template: parameters filled with ids that do not exist.
fn concrete(template: &str) -> String {
    template
        .replace("{id}", "app_nonexistent")
        .replace("{site}", "s_nonexistent")
        .replace("{attachment}", "att_nonexistent")
}

/// Whether a concrete path fits a template (a parameter may be part of a segment).
fn fits(template: &str, path: &str) -> bool {
    let (t, p): (Vec<&str>, Vec<&str>) = (template.split('/').collect(), path.split('/').collect());
    t.len() == p.len()
        && t.iter()
            .zip(&p)
            .all(|(t, p)| match (t.find('{'), t.find('}')) {
                (Some(open), Some(close)) => {
                    let (prefix, suffix) = (&t[..open], &t[close + 1..]);
                    p.len() > prefix.len() + suffix.len()
                        && p.starts_with(prefix)
                        && p.ends_with(suffix)
                }
                _ => t == p,
            })
}

async fn send(app: &Router, method: Method, path: &str, token: Option<&str>) -> (StatusCode, bool) {
    let mut req = Request::builder().method(method).uri(path);
    if let Some(t) = token {
        req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    let resp = app
        .clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    (resp.status(), resp.headers().contains_key(UNROUTED))
}

/// Every `"/api/v1…"` string literal in the crate's sources: where routes are named.
fn api_literals() -> BTreeSet<String> {
    fn walk(dir: &Path, out: &mut BTreeSet<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                for (i, _) in text.match_indices("\"/api/v1") {
                    let rest = &text[i + 1..];
                    out.insert(rest[..rest.find('"').unwrap()].to_string());
                }
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut out);
    out
}

#[tokio::test]
async fn every_documented_operation_is_routed_and_nothing_else_under_api_v1_is() {
    let doc = document();
    let documented = operations(&doc);
    let expected: BTreeSet<(String, String)> = API
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(
        documented, expected,
        "the document and the hand-checked list of the API differ"
    );

    let dir = tempfile::tempdir().unwrap();
    let app = probe_router(state(dir.path()).await);
    let paths: BTreeSet<&String> = documented.iter().map(|(_, p)| p).collect();
    for template in &paths {
        for method in PROBED {
            let (status, unrouted) = send(&app, method.clone(), &concrete(template), None).await;
            let is_documented =
                documented.contains(&(method.as_str().to_lowercase(), template.to_string()));
            assert_eq!(
                !unrouted,
                is_documented,
                "{method} {template}: documented {is_documented}, router answered {status} \
                 ({})",
                if unrouted { "no route" } else { "a handler" }
            );
        }
    }

    // Paths the document does not have: every route under /api/v1 is named by a string
    // literal in the sources (a `.route(…)` or a `#[utoipa::path(…)]`).
    let literals = api_literals();
    let undocumented: Vec<&String> = literals.iter().filter(|l| !paths.contains(l)).collect();
    assert!(
        undocumented.is_empty(),
        "named in the sources, missing from the document: {undocumented:?}"
    );
    for path in &literals {
        let mut routed = false;
        for method in PROBED {
            routed |= !send(&app, method, &concrete(path), None).await.1;
        }
        assert!(routed, "{path} is named but not routed");
    }
    // And the probe can tell: a path nobody routes is reported as such.
    assert!(send(&app, Method::GET, "/api/v1/nonexistent", None).await.1);
}

#[tokio::test]
async fn operations_that_name_the_bearer_scheme_are_exactly_those_that_want_a_token() {
    let doc = document();
    let schemes = doc["components"]["securitySchemes"].as_object().unwrap();
    assert_eq!(schemes["bearer"]["type"], "http");
    assert_eq!(schemes["bearer"]["scheme"], "bearer");

    let dir = tempfile::tempdir().unwrap();
    let app = probe_router(state(dir.path()).await);
    for (method, path) in operations(&doc) {
        let op = &doc["paths"][&path][&method];
        let security = op["security"].as_array().cloned().unwrap_or_default();
        for requirement in &security {
            for name in requirement.as_object().unwrap().keys() {
                assert!(
                    schemes.contains_key(name),
                    "{method} {path}: unknown scheme {name}"
                );
            }
        }
        let wants_token = !security.is_empty();
        let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let (status, unrouted) = send(&app, m, &concrete(&path), None).await;
        assert!(!unrouted);
        assert_eq!(
            status == StatusCode::UNAUTHORIZED,
            wants_token,
            "{method} {path} answered {status} without a token; documented security: {security:?}"
        );
        if wants_token {
            assert!(
                op["responses"]["401"].is_object(),
                "{method} {path}: 401 not documented"
            );
        }
    }
}

/// Checks `value` against a schema of the document: types, enums, required
/// properties, and no property the schema does not name (the document is meant to name
/// them all). `oneOf` needs exactly one branch to match; the parts of an `allOf` are
/// checked each, and together must name every property.
pub(crate) fn conforms(doc: &Value, schema: &Value, value: &Value, at: &str) -> Result<(), String> {
    conforms_part(doc, schema, value, at, false)
}

/// The target of a `$ref`, or the schema itself.
fn resolved<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(r) => {
            let name = r.strip_prefix("#/components/schemas/").unwrap();
            let target = &doc["components"]["schemas"][name];
            assert!(target.is_object(), "dangling reference {r}");
            resolved(doc, target)
        }
        None => schema,
    }
}

/// Every property a schema names, through `$ref`s and `allOf` parts.
fn named_properties(doc: &Value, schema: &Value, into: &mut BTreeSet<String>) {
    let schema = resolved(doc, schema);
    into.extend(
        schema["properties"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, _)| k.clone()),
    );
    for part in schema["allOf"].as_array().into_iter().flatten() {
        named_properties(doc, part, into);
    }
}

/// [`conforms`]; within an `allOf` (`open`) a part leaves properties it does not
/// name to the other parts.
fn conforms_part(
    doc: &Value,
    schema: &Value,
    value: &Value,
    at: &str,
    open: bool,
) -> Result<(), String> {
    if schema["$ref"].is_string() {
        return conforms_part(doc, resolved(doc, schema), value, at, open);
    }
    if let Some(branches) = schema["oneOf"].as_array() {
        let results: Vec<Result<(), String>> = branches
            .iter()
            .map(|b| conforms(doc, b, value, at))
            .collect();
        let matched = results.iter().filter(|r| r.is_ok()).count();
        return match matched {
            1 => Ok(()),
            0 => Err(format!("{at}: no oneOf branch matches: {results:?}")),
            n => Err(format!("{at}: {n} oneOf branches match")),
        };
    }
    if let Some(parts) = schema["allOf"].as_array() {
        for part in parts {
            conforms_part(doc, part, value, at, true)?;
        }
        if let (Value::Object(map), false) = (value, open) {
            let mut named = BTreeSet::new();
            named_properties(doc, schema, &mut named);
            if let Some(k) = map.keys().find(|k| !named.contains(*k)) {
                return Err(format!("{at}: {k} is not documented"));
            }
        }
    }
    if let Some(allowed) = schema["enum"].as_array()
        && !allowed.contains(value)
    {
        return Err(format!("{at}: {value} not in {allowed:?}"));
    }
    let actual = match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    let typed = types.is_empty()
        || types.contains(&actual)
        || (actual == "integer" && types.contains(&"number"));
    if !typed {
        return Err(format!("{at}: a {actual}, documented as {types:?}"));
    }
    match value {
        Value::Object(map) => {
            if let Some(props) = schema["properties"].as_object() {
                for key in schema["required"].as_array().into_iter().flatten() {
                    let key = key.as_str().unwrap();
                    if !map.contains_key(key) {
                        return Err(format!("{at}: required {key} is missing"));
                    }
                }
                for (k, v) in map {
                    match props.get(k) {
                        Some(s) => conforms(doc, s, v, &format!("{at}.{k}"))?,
                        None if open || schema["allOf"].is_array() => {}
                        None => return Err(format!("{at}: {k} is not documented")),
                    }
                }
            }
            if schema["additionalProperties"].is_object() {
                for (k, v) in map {
                    conforms(
                        doc,
                        &schema["additionalProperties"],
                        v,
                        &format!("{at}.{k}"),
                    )?;
                }
            }
        }
        Value::Array(items) if schema["items"].is_object() => {
            for (i, v) in items.iter().enumerate() {
                conforms(doc, &schema["items"], v, &format!("{at}[{i}]"))?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// The real router, called as a client would, every answer checked against the document.
struct Client {
    app: Router,
    doc: Value,
    ops: BTreeSet<(String, String)>,
}

impl Client {
    /// Sends a request and checks that its status is documented for the operation and
    /// its body conforms to that response's schema; returns the body.
    async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<(&str, &str)>,
        expect: u16,
    ) -> Value {
        let mut req = Request::builder().method(method.clone()).uri(path);
        if let Some(t) = token {
            req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        let req = match body {
            Some((content_type, text)) => req
                .header(header::CONTENT_TYPE, content_type)
                .body(Body::from(text.to_string())),
            None => req.body(Body::empty()),
        }
        .unwrap();
        let resp = self.app.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let content_type = resp
            .headers()
            .get(header::CONTENT_TYPE)
            .map(HeaderValue::to_str)
            .transpose()
            .unwrap()
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap()
            .trim()
            .to_string();
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        let text = String::from_utf8(bytes.to_vec()).unwrap();
        assert_eq!(status.as_u16(), expect, "{method} {path}: {text}");

        let route = path.split('?').next().unwrap();
        let m = method.as_str().to_lowercase();
        let (_, template) = self
            .ops
            .iter()
            .find(|(om, t)| *om == m && fits(t, route))
            .unwrap_or_else(|| panic!("{method} {path} is not documented"));
        let response = &self.doc["paths"][template][&m]["responses"][status.as_str()];
        assert!(
            response.is_object(),
            "{method} {template}: status {status} is not documented"
        );
        if status == StatusCode::NO_CONTENT {
            assert!(text.is_empty(), "{method} {path}: 204 with a body");
            assert!(
                response.get("content").is_none(),
                "{method} {template}: 204 documents a body"
            );
            return Value::Null;
        }
        let media = &response["content"][&content_type];
        assert!(
            media.is_object(),
            "{method} {template} {status}: content type {content_type:?} is not documented \
             ({})",
            response["content"]
        );
        let value = if content_type == "application/json" {
            serde_json::from_str(&text).unwrap()
        } else {
            Value::String(text)
        };
        if let Err(e) = conforms(&self.doc, &media["schema"], &value, "body") {
            panic!("{method} {path} {status}: {e}\n{value:#}");
        }
        value
    }

    async fn get(&self, path: &str, token: Option<&str>, expect: u16) -> Value {
        self.call(Method::GET, path, token, None, expect).await
    }

    async fn post(&self, path: &str, token: Option<&str>, body: Value, expect: u16) -> Value {
        self.call(
            Method::POST,
            path,
            token,
            Some(("application/json", &body.to_string())),
            expect,
        )
        .await
    }
}

async fn token(state: &AppState, role: Role, email: &str) -> String {
    let account =
        badge_server::store::accounts::ensure(&state.db, &Email::parse(email).unwrap(), role)
            .await
            .unwrap();
    badge_server::store::accounts::create_token(&state.db, &account, "test")
        .await
        .unwrap()
}

#[tokio::test]
async fn what_the_api_answers_through_an_application_s_life_is_what_the_document_says() {
    let dir = tempfile::tempdir().unwrap();
    let state = state(dir.path()).await;
    let a = token(&state, Role::Operator, "a@chenxi-shuzhi.cn").await;
    let b = token(&state, Role::Operator, "b@pujiangyun.com").await;
    let staff = token(&state, Role::Staff, "staff@seal.test").await;
    let user = token(&state, Role::User, "visitor@seal.test").await;
    let doc = document();
    let c = Client {
        app: badge_server::http::router::build(state.clone()),
        ops: operations(&doc),
        doc,
    };
    let (a, b, staff, user) = (Some(&*a), Some(&*b), Some(&*staff), Some(&*user));

    let me = c.get("/api/v1/me", a, 200).await;
    assert_eq!(me["role"], "operator");
    c.get("/api/v1/me", None, 401).await;
    c.call(
        Method::PUT,
        "/api/v1/me/webhook",
        user,
        Some((
            "application/json",
            r#"{"url": "https://hooks.chenxi-shuzhi.cn/x"}"#,
        )),
        403,
    )
    .await;
    for refused in [
        "http://127.0.0.1:9/x",
        "http://10.1.2.3/x",
        "ftp://hooks.chenxi-shuzhi.cn/",
        "https://user:pw@hooks.chenxi-shuzhi.cn/",
        "http://localhost/x",
        "not a url",
    ] {
        let body = format!("{{\"url\": \"{refused}\"}}");
        let refusal = c
            .call(
                Method::PUT,
                "/api/v1/me/webhook",
                a,
                Some(("application/json", &body)),
                422,
            )
            .await;
        assert!(refusal["fields"]["url"].is_string(), "{refused}: {refusal}");
    }
    c.call(
        Method::PUT,
        "/api/v1/me/webhook",
        a,
        Some(("application/json", "{not json")),
        400,
    )
    .await;
    // The name does not resolve here (no DNS server answers): accepted, checked on delivery.
    let set = c
        .call(
            Method::PUT,
            "/api/v1/me/webhook",
            a,
            Some((
                "application/json",
                r#"{"url": "https://hooks.chenxi-shuzhi.cn/chengxin"}"#,
            )),
            200,
        )
        .await;
    assert!(
        set["secret"].as_str().unwrap().starts_with("whsec_"),
        "{set}"
    );
    c.call(Method::DELETE, "/api/v1/me/webhook", a, None, 204)
        .await;
    c.call(Method::DELETE, "/api/v1/me/webhook", staff, None, 403)
        .await;
    let served = c.get("/api/v1/openapi.json", None, 200).await;
    assert_eq!(served, c.doc, "the served document is the document");

    let f01 = json!({
        "domains": ["chenxi-shuzhi.cn"], "organization": "北京晨曦数智科技有限公司",
        "uscc": "91110108MA04T7K21H", "icp": "京ICP备2024018653号-1",
        "province": "北京市", "city": "市辖区"
    });
    c.post("/api/v1/applications", None, f01.clone(), 401).await;
    c.post("/api/v1/applications", user, f01.clone(), 403).await;
    c.post(
        "/api/v1/applications",
        a,
        json!({"domains": ["bad domain"]}),
        422,
    )
    .await;
    let mut bad = f01.clone();
    bad["uscc"] = json!("91110108MA04T7K21J");
    let invalid = c.post("/api/v1/applications", a, bad, 422).await;
    assert!(invalid["fields"]["uscc"].is_string(), "{invalid}");
    c.call(
        Method::POST,
        "/api/v1/applications",
        a,
        Some(("application/json", "{not json")),
        400,
    )
    .await;
    let applied = c.post("/api/v1/applications", a, f01.clone(), 201).await;
    assert_eq!(applied["challenges"].as_array().unwrap().len(), 3);
    // No CSR: the operator's key is generated now and shown in this answer only.
    let key = applied["private_key_pem"].as_str().unwrap();
    assert!(key.starts_with("-----BEGIN PRIVATE KEY-----"), "{applied}");
    let id = applied["id"].as_str().unwrap().to_string();
    let app_path = format!("/api/v1/applications/{id}");

    let shown = c.get(&app_path, a, 200).await;
    assert_eq!(shown["status"], "pending");
    c.get(&app_path, b, 403).await;
    c.get(&app_path, staff, 200).await;
    c.get("/api/v1/applications/app_nonexistent", a, 404).await;

    let verify = format!("{app_path}/verify");
    c.post(&verify, b, json!({}), 403).await;
    c.post(&verify, staff, json!({}), 403).await;
    c.post(&verify, a, json!({"method": "carrier-pigeon"}), 422)
        .await;
    c.post(&verify, a, json!({"mode": "dns-txt"}), 422).await;
    c.call(
        Method::POST,
        &verify,
        a,
        Some(("application/json", "{not json")),
        400,
    )
    .await;
    c.call(
        Method::POST,
        &verify,
        a,
        Some(("text/plain", "dns-txt")),
        415,
    )
    .await;
    // No DNS answers: domain control could not be told, so the application stays
    // pending (never staff review, even with no ICP source) and cannot be approved.
    let run = c.call(Method::POST, &verify, a, None, 200).await;
    assert_eq!(run["status"], "pending", "{run}");
    assert_eq!(run["verdict"], "error", "{run}");
    assert!(!run["evidence"].as_array().unwrap().is_empty());
    c.get(&app_path, a, 200).await;

    let approve = format!("{app_path}/approve");
    c.post(&approve, a, json!({}), 403).await;
    c.post(&approve, staff, json!({}), 409).await;
    // Proven over real DNS, the filing question goes to staff, who approve: the key
    // was the operator's (generated at apply time), so approval returns none.
    let operator = badge_server::store::accounts::ensure(
        &state.db,
        &Email::parse("a@chenxi-shuzhi.cn").unwrap(),
        Role::Operator,
    )
    .await
    .unwrap();
    let proven = crate::prove_control(&state, &operator, &id).await;
    assert_eq!(proven["status"], "review", "{proven}");
    let issued = c.post(&approve, staff, json!({}), 200).await;
    assert!(issued.get("private_key_pem").is_none(), "{issued}");
    c.post(&approve, staff, json!({}), 409).await;
    c.post(&verify, a, json!({}), 409).await;
    c.post(
        &format!("{app_path}/reject"),
        staff,
        json!({"reason": "late"}),
        409,
    )
    .await;
    c.post(
        "/api/v1/applications/app_nonexistent/approve",
        staff,
        json!({}),
        404,
    )
    .await;

    let site = issued["site"].as_str().unwrap().to_string();
    let site_path = format!("/api/v1/sites/{site}");
    let view = c.get(&site_path, a, 200).await;
    assert_eq!(view["status"], "certified");
    c.get(&site_path, b, 403).await;
    c.get("/api/v1/sites/s_nonexistent", staff, 404).await;
    let public = c.get(&format!("/cert/{site}.json"), None, 200).await;
    assert!(public.get("snippet").is_none());
    assert_eq!(public["transparency_log"]["checkpoint"], Value::Null);
    // Once a checkpoint is out, the log section has its proofs (checked as well).
    state.services.log.checkpoint(&state.db).await.unwrap();
    let public = c.get(&format!("/cert/{site}.json"), None, 200).await;
    assert!(
        public["transparency_log"]["events"][0]["proof"].is_array(),
        "{public}"
    );
    c.get("/cert/s_nonexistent.json", None, 404).await;

    let found = c.get("/api/v1/sites?q=%E6%99%A8%E6%9B%A6", None, 200).await;
    assert_eq!(found["results"][0]["site"], site.as_str());
    c.get("/api/v1/sites?page=0", None, 422).await;
    c.get("/api/v1/sites?page=first", None, 400).await;
    let covered = c
        .get(
            "/api/v1/check?url=https://www.chenxi-shuzhi.cn/about",
            None,
            200,
        )
        .await;
    assert_eq!(covered["result"], "certified");
    let not = c.get("/api/v1/check?url=example.org", None, 200).await;
    assert_eq!(not["result"], "not_certified");
    c.get("/api/v1/check?url=%20", None, 422).await;
    c.get("/api/v1/check", None, 400).await;

    let recheck = format!("{site_path}/recheck");
    c.post(&recheck, b, json!({}), 403).await;
    let rechecked = c.post(&recheck, a, json!({}), 200).await;
    assert_eq!(rechecked["site"]["site"], site.as_str());

    let revoke = format!("{site_path}/revoke");
    c.post(&revoke, a, json!({"reason": "keyCompromise"}), 403)
        .await;
    c.post(&revoke, staff, json!({"reason": "boredom"}), 422)
        .await;
    let revoked = c
        .post(&revoke, staff, json!({"reason": "keyCompromise"}), 200)
        .await;
    assert_eq!(revoked["status"], "revoked");
    assert_eq!(revoked["revocation_reason"], "keyCompromise");
    c.post(&revoke, staff, json!({"reason": "keyCompromise"}), 409)
        .await;
    c.post(
        "/api/v1/sites/s_nonexistent/revoke",
        staff,
        json!({"reason": "superseded"}),
        404,
    )
    .await;

    let second = c.post("/api/v1/applications", b, f01.clone(), 201).await;
    let reject = format!(
        "/api/v1/applications/{}/reject",
        second["id"].as_str().unwrap()
    );
    c.post(&reject, b, json!({"reason": "no"}), 403).await;
    c.post(&reject, staff, json!({}), 422).await;
    let rejected = c
        .post(
            &reject,
            staff,
            json!({"reason": "the filing names another company"}),
            200,
        )
        .await;
    assert_eq!(rejected["status"], "rejected");
    c.post(&reject, staff, json!({"reason": "again"}), 409)
        .await;
}

#[test]
fn a_composed_schema_names_its_parts_properties_and_still_refuses_an_unnamed_one() {
    let doc = serde_json::json!({"components": {"schemas": {
        "Base": {"type": "object", "properties": {"site": {"type": "string"}}, "required": ["site"]},
        "Site": {"allOf": [{"$ref": "#/components/schemas/Base"},
                           {"type": "object", "properties": {"snippet": {"type": "string"}}}]}
    }}});
    let site = serde_json::json!({"$ref": "#/components/schemas/Site"});
    let ok = serde_json::json!({"site": "s_1", "snippet": "<a>"});
    assert_eq!(conforms(&doc, &site, &ok, "body"), Ok(()));
    let extra = serde_json::json!({"site": "s_1", "private_key_pem": "…"});
    assert_eq!(
        conforms(&doc, &site, &extra, "body"),
        Err("body: private_key_pem is not documented".to_string())
    );
    let missing = serde_json::json!({"snippet": "<a>"});
    assert!(conforms(&doc, &site, &missing, "body").is_err());
    let mistyped = serde_json::json!({"site": "s_1", "snippet": 3});
    assert!(conforms(&doc, &site, &mistyped, "body").is_err());
}
