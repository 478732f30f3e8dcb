//! The HTTP provider: MIIT's `queryByCondition` JSON shape (icp.md §2.2).
//!
//! The public site's captcha and auth dance is out of scope: production points this at
//! a licensed data source that serves the same envelope and rows, optionally behind a
//! `token` header.

use std::time::Duration;

use serde_json::{Map, Value, json};

use super::{IcpProvider, IcpRecord, ProviderAnswer, ProviderError, install_crypto_provider};

/// At most this many pages are read for one query. A registrable domain has one row
/// (a few for legacy multi-domain filings); more than ten pages means the source is
/// answering something else, and we refuse to judge on a partial answer.
pub const MAX_PAGES: u64 = 10;
/// Largest response body accepted (1 MiB); a page of rows is a few kilobytes, so
/// anything bigger is a broken or hostile upstream.
pub const MAX_RESPONSE_BYTES: usize = 1 << 20;
/// How much of a failed response's body goes into the error, for the operator.
const ERROR_BODY_CHARS: usize = 300;
const QUERY_PATH: &str = "/icpAbbreviateInfo/queryByCondition";

/// Asks an HTTP service that speaks the MIIT query's JSON (POST
/// `{base}/icpAbbreviateInfo/queryByCondition`), following pagination.
#[derive(Debug, Clone)]
pub struct MiitProvider {
    base: String,
    endpoint: String,
    token: Option<String>,
    timeout: Duration,
    client: reqwest::Client,
}

/// What one page said about paging, besides its rows.
struct Page {
    envelope: Value,
    rows: Vec<IcpRecord>,
    total: Option<u64>,
    pages: Option<u64>,
    has_next: Option<bool>,
    page_size: Option<u64>,
}

impl MiitProvider {
    /// A provider for `base_url` (`http://host:port[/path]`, or https), sending `token`
    /// as the `token` header when given; `timeout` bounds each page request, connect
    /// to last byte. Fails with a configuration error on a URL that is not http(s).
    pub fn new(base_url: &str, token: Option<String>, timeout: Duration) -> crate::Result<Self> {
        let parsed = url::Url::parse(base_url).map_err(|e| {
            crate::Error::Config(format!(
                "ICP provider URL {base_url:?} is not a URL ({e}); expected miit:http://host:port"
            ))
        })?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
            return Err(crate::Error::Config(format!(
                "ICP provider URL {base_url:?} must be http:// or https:// with a host"
            )));
        }
        if parsed.query().is_some() || parsed.fragment().is_some() {
            return Err(crate::Error::Config(format!(
                "ICP provider URL {base_url:?} must not carry a query or fragment"
            )));
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(crate::Error::Config(format!(
                "ICP provider URL for host {:?} must not carry credentials; use {}",
                parsed.host_str().unwrap_or_default(),
                super::TOKEN_ENV
            )));
        }
        let base = parsed.as_str().trim_end_matches('/').to_string();
        if let Some(t) = &token
            && reqwest::header::HeaderValue::from_str(t).is_err()
        {
            return Err(crate::Error::Config(
                "the ICP provider token is not a valid HTTP header value".into(),
            ));
        }
        install_crypto_provider();
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("chengxin-verifier/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| crate::Error::Config(format!("cannot build the HTTP client: {e}")))?;
        Ok(MiitProvider {
            endpoint: format!("{base}{QUERY_PATH}"),
            base,
            token,
            timeout,
            client,
        })
    }

    /// The full query URL, for diagnostics.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    async fn post(&self, body: &Value) -> Result<Value, ProviderError> {
        let mut request = self.client.post(&self.endpoint).json(body);
        if let Some(token) = &self.token {
            request = request.header("token", token);
        }
        let mut response = request.send().await.map_err(|e| self.transport(&e))?;
        let status = response.status();
        if let Some(len) = response.content_length()
            && len > MAX_RESPONSE_BYTES as u64
        {
            return Err(ProviderError::Malformed(format!(
                "response of {len} bytes exceeds the {MAX_RESPONSE_BYTES}-byte limit"
            )));
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| self.transport(&e))? {
            if bytes.len() + chunk.len() > MAX_RESPONSE_BYTES {
                if !status.is_success() {
                    break;
                }
                return Err(ProviderError::Malformed(format!(
                    "response exceeds the {MAX_RESPONSE_BYTES}-byte limit"
                )));
            }
            bytes.extend_from_slice(&chunk);
        }
        if !status.is_success() {
            let body: String = String::from_utf8_lossy(&bytes)
                .chars()
                .take(ERROR_BODY_CHARS)
                .collect();
            return Err(ProviderError::Http {
                status: status.as_u16(),
                body,
            });
        }
        serde_json::from_slice(&bytes)
            .map_err(|e| ProviderError::Malformed(format!("response is not JSON: {e}")))
    }

    fn transport(&self, e: &reqwest::Error) -> ProviderError {
        if e.is_timeout() {
            return ProviderError::Timeout(self.timeout);
        }
        // reqwest's own message is terse ("error sending request"); the causes say why.
        let mut text = e.to_string();
        let mut source = std::error::Error::source(e);
        while let Some(cause) = source {
            text.push_str(": ");
            text.push_str(&cause.to_string());
            source = cause.source();
        }
        ProviderError::Transport(text)
    }

    async fn page(&self, body: &Value) -> Result<Page, ProviderError> {
        let envelope = self.post(body).await?;
        let page = parse_envelope(&envelope)?;
        Ok(Page { envelope, ..page })
    }
}

/// Checks the envelope (`success`, `code`, `params`) and reads one page.
fn parse_envelope(envelope: &Value) -> Result<Page, ProviderError> {
    let obj = envelope
        .as_object()
        .ok_or_else(|| ProviderError::Malformed("response is not a JSON object".into()))?;
    let code = obj.get("code").and_then(Value::as_i64);
    let msg = obj
        .get("msg")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    match obj.get("success") {
        Some(Value::Bool(true)) => {}
        Some(Value::Bool(false)) => return Err(ProviderError::Unsuccessful { code, msg }),
        _ => {
            return Err(ProviderError::Malformed(
                "response has no boolean \"success\"".into(),
            ));
        }
    }
    if let Some(c) = code
        && c != 200
    {
        // success:true with an error code is contradictory: believe the error.
        return Err(ProviderError::Unsuccessful { code, msg });
    }
    let params = obj
        .get("params")
        .and_then(Value::as_object)
        .ok_or_else(|| ProviderError::Malformed("response has no \"params\" object".into()))?;
    let list = params
        .get("list")
        .and_then(Value::as_array)
        .ok_or_else(|| ProviderError::Malformed("params has no \"list\" array".into()))?;
    let rows = list
        .iter()
        .enumerate()
        .map(|(i, v)| {
            IcpRecord::from_json(v.clone())
                .map_err(|e| ProviderError::Malformed(format!("list[{i}]: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Page {
        envelope: Value::Null,
        rows,
        total: number(params, "total")?,
        pages: number(params, "pages")?,
        has_next: match params.get("hasNextPage") {
            None | Some(Value::Null) => None,
            Some(Value::Bool(b)) => Some(*b),
            Some(_) => {
                return Err(ProviderError::Malformed(
                    "params.hasNextPage is not a boolean".into(),
                ));
            }
        },
        page_size: number(params, "pageSize")?,
    })
}

/// A PageHelper count: absent or null is unknown; a non-negative integer (or digit
/// string) is read; anything else is malformed.
fn number(params: &Map<String, Value>, key: &str) -> Result<Option<u64>, ProviderError> {
    match params.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n.as_u64().map(Some).ok_or_else(|| {
            ProviderError::Malformed(format!("params.{key} is not a non-negative integer"))
        }),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => s
            .parse()
            .map(Some)
            .map_err(|_| ProviderError::Malformed(format!("params.{key} {s:?} is not a number"))),
        Some(_) => Err(ProviderError::Malformed(format!(
            "params.{key} is not a number"
        ))),
    }
}

#[async_trait::async_trait]
impl IcpProvider for MiitProvider {
    fn name(&self) -> String {
        format!("miit:{}", self.base)
    }

    async fn query(&self, registrable_domain: &str) -> Result<ProviderAnswer, ProviderError> {
        let mut bodies = vec![super::query_body(registrable_domain)];
        let first = self.page(&bodies[0]).await?;
        let (total, pages, page_size) = (first.total, first.pages, first.page_size);
        let mut has_next = first.has_next;
        let mut rows = first.rows;
        let mut envelopes = vec![first.envelope];
        let mut page_num: u64 = 1;
        loop {
            let more = match pages {
                Some(p) => page_num < p,
                None => has_next == Some(true),
            };
            if !more {
                break;
            }
            if page_num >= MAX_PAGES {
                return Err(ProviderError::Malformed(format!(
                    "the answer for {registrable_domain:?} has more than {MAX_PAGES} pages; refusing to judge on part of it"
                )));
            }
            page_num += 1;
            let body = json!({
                "pageNum": page_num.to_string(),
                "pageSize": page_size.map(|s| s.to_string()).unwrap_or_default(),
                "unitName": registrable_domain,
                "serviceType": 1,
            });
            let page = self.page(&body).await?;
            if let Some(echo) = page.envelope.pointer("/params/pageNum")
                && echo.as_u64() != Some(page_num)
                && echo.as_str() != Some(page_num.to_string().as_str())
            {
                return Err(ProviderError::Malformed(format!(
                    "asked for page {page_num}, got page {echo}"
                )));
            }
            if page.rows.is_empty() {
                return Err(ProviderError::Malformed(format!(
                    "page {page_num} of {registrable_domain:?} is empty although more were announced"
                )));
            }
            has_next = page.has_next;
            rows.extend(page.rows);
            envelopes.push(page.envelope);
            bodies.push(body);
        }
        if let Some(total) = total
            && total != rows.len() as u64
        {
            return Err(ProviderError::Malformed(format!(
                "total says {total} rows for {registrable_domain:?}, the pages held {}",
                rows.len()
            )));
        }
        Ok(ProviderAnswer {
            provider: self.name(),
            asked: json!({"url": self.endpoint, "bodies": bodies}),
            rows,
            raw: Value::Array(envelopes),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_code_with_success_true_is_not_believed() {
        let env =
            json!({"code": 500, "msg": "服务器异常", "success": true, "params": {"list": []}});
        assert!(matches!(
            parse_envelope(&env),
            Err(ProviderError::Unsuccessful {
                code: Some(500),
                ..
            })
        ));
    }

    #[test]
    fn a_row_with_a_numeric_unit_name_is_malformed() {
        let env = json!({"code": 200, "success": true, "params": {"list": [{"unitName": 5}]}});
        assert!(matches!(
            parse_envelope(&env),
            Err(ProviderError::Malformed(_))
        ));
    }

    #[test]
    fn a_missing_list_is_malformed_not_empty() {
        let env = json!({"code": 200, "success": true, "params": {"total": 0}});
        assert!(matches!(
            parse_envelope(&env),
            Err(ProviderError::Malformed(_))
        ));
    }

    #[test]
    fn urls_other_than_http_are_refused() {
        for bad in ["ftp://x", "not a url", "http://u:p@host", "http://h/?q=1"] {
            assert!(
                MiitProvider::new(bad, None, Duration::from_secs(1)).is_err(),
                "{bad}"
            );
        }
    }
}
