//! [`OciFunction`]: a function in OCI Functions, called through its signed invoke endpoint
//! (fn-protocols §4.1).
//!
//! Request: `POST {invoke_endpoint}/{api_version}/functions/{function_id}/actions/invoke` with
//! `fn-invoke-type: sync` and the same Fn headers a local function gets, built by
//! [`protocol::call_headers`] so that a function behaves the same locally and in OCI:
//! `fn-intent: httprequest`, `Fn-Http-Method`, `Fn-Http-Request-Url`, `Fn-Http-H-*` and the
//! unprefixed `Content-Type` for a route's call; only the body and `Content-Type` for a direct
//! invocation. `Fn-Call-Id` and `Fn-Deadline` are left out — OCI assigns them to the call it
//! makes — and the call id travels as `opc-request-id` instead, so OCI's logs and the
//! gateway's can be matched. The request is then signed (see [`super::signer`]).
//!
//! Response: 200 is decoded by [`protocol::decode_response`] exactly like a local FDK's answer
//! (`Fn-Http-Status`, `Fn-Http-H-*`, `Content-Type`). OCI's own errors map to:
//!
//! | OCI answer | error | client |
//! |---|---|---|
//! | 401, 403, 404 (not authenticated, not authorized or not found) | `NotInvocable` | 500 |
//! | 429 (too many requests) | `Busy` | 503 |
//! | 502 (the function failed) | `Failed` | 502 |
//! | 504 (the function timed out) | `Timeout` | 504 |
//! | other 4xx and 5xx | `Failed` | 502 |
//! | no answer by the call's deadline | `Timeout` | 504 |
//! | cannot connect (DNS, TCP, TLS) | `Unavailable` | 502 |
//!
//! Each of these is logged with the function, the call id, OCI's status, error code and
//! `opc-request-id` (OCI's error message is quoted; it carries no secrets).

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use gateway_core::function::{FunctionCall, FunctionInvoker, FunctionResponse, InvokeError};
use gateway_core::request_limits::MAX_FUNCTION_BODY;
use gateway_core::BoxFuture;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full, Limited};
use rustls::pki_types::CertificateDer;

use super::client::OciHttpClient;
use super::credentials::Credentials;
use super::OciError;
use crate::protocol::{self, DecodeError};

/// The invoke API version when none is configured (the Go SDK's and the Python SDK's until
/// 2.189, which moved to `20260325`; configurable because which one OCI prefers may change).
pub const DEFAULT_API_VERSION: &str = "20181201";
/// OCI Functions' default function timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest response body accepted (OCI's body limit).
pub const MAX_RESPONSE_BODY: usize = MAX_FUNCTION_BODY;
/// The content type sent when the call has none: the signature needs one, and this is the Go
/// SDK's default for binary bodies.
pub const DEFAULT_CONTENT_TYPE: &str = "application/octet-stream";

/// `fn-invoke-type`.
pub const FN_INVOKE_TYPE: HeaderName = HeaderName::from_static("fn-invoke-type");
/// `opc-request-id`.
pub const OPC_REQUEST_ID: HeaderName = HeaderName::from_static("opc-request-id");

/// The longest OCI error message quoted in a log line or error.
const MAX_QUOTED: usize = 512;

/// Everything needed to call one function in OCI. Build with [`OciFunctionConfig::new`] and
/// adjust the public fields.
#[derive(Debug, Clone)]
pub struct OciFunctionConfig {
    /// The function's OCID.
    pub function_id: String,
    /// For messages (`application/function`).
    pub name: String,
    /// The function's `invokeEndpoint`, e.g.
    /// `https://abcdefgh123.us-ashburn-1.functions.oci.oraclecloud.com` (a base path is kept).
    pub invoke_endpoint: String,
    /// The API version path segment; default [`DEFAULT_API_VERSION`].
    pub api_version: Option<String>,
    /// The identity calls are signed with.
    pub credentials: Credentials,
    /// The longest a call may take (the call's own deadline applies too, whichever is first).
    pub timeout: Duration,
    /// Certificates trusted besides Mozilla's roots (private endpoints, tests). Ignored by
    /// [`OciFunction::with_client`], which uses the client's.
    pub extra_roots: Vec<CertificateDer<'static>>,
}

impl OciFunctionConfig {
    /// A configuration with every default.
    pub fn new(
        function_id: impl Into<String>,
        name: impl Into<String>,
        invoke_endpoint: impl Into<String>,
        credentials: Credentials,
    ) -> Self {
        OciFunctionConfig {
            function_id: function_id.into(),
            name: name.into(),
            invoke_endpoint: invoke_endpoint.into(),
            api_version: None,
            credentials,
            timeout: DEFAULT_TIMEOUT,
            extra_roots: Vec::new(),
        }
    }
}

/// A function in OCI Functions as a [`FunctionInvoker`]. Cheap to clone.
#[derive(Clone)]
pub struct OciFunction {
    inner: Arc<Inner>,
}

struct Inner {
    name: Arc<str>,
    function_id: String,
    uri: Uri,
    host: HeaderValue,
    timeout: Duration,
    credentials: Credentials,
    client: OciHttpClient,
}

impl OciFunction {
    /// Validates the endpoint, API version and function id and builds an HTTPS client of its
    /// own (trusting `extra_roots`). No connection is made yet.
    pub fn new(config: OciFunctionConfig) -> Result<Self, OciError> {
        let client = OciHttpClient::new(&config.extra_roots)?;
        Self::with_client(config, client)
    }

    /// Like [`OciFunction::new`], sharing `client` (and its connection pool) with other
    /// functions.
    pub fn with_client(config: OciFunctionConfig, client: OciHttpClient) -> Result<Self, OciError> {
        let api_version = config
            .api_version
            .as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .unwrap_or(DEFAULT_API_VERSION);
        let (uri, host) = invoke_uri(
            &config.name,
            &config.invoke_endpoint,
            api_version,
            &config.function_id,
        )?;
        Ok(OciFunction {
            inner: Arc::new(Inner {
                name: Arc::from(config.name.as_str()),
                function_id: config.function_id,
                uri,
                host,
                timeout: config.timeout,
                credentials: config.credentials,
                client,
            }),
        })
    }

    /// The URL calls are posted to.
    pub fn invoke_url(&self) -> &Uri {
        &self.inner.uri
    }

    /// The call timeout to register the function with.
    pub fn timeout(&self) -> Duration {
        self.inner.timeout
    }

    /// The identity calls are signed with.
    pub fn credentials(&self) -> &Credentials {
        &self.inner.credentials
    }
}

impl fmt::Debug for OciFunction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OciFunction")
            .field("name", &self.inner.name)
            .field("function_id", &self.inner.function_id)
            .field("uri", &self.inner.uri)
            .field("timeout", &self.inner.timeout)
            .field("credentials", &self.inner.credentials)
            .finish()
    }
}

impl FunctionInvoker for OciFunction {
    fn invoke(
        &self,
        call: FunctionCall,
    ) -> BoxFuture<'static, Result<FunctionResponse, InvokeError>> {
        let inner = self.inner.clone();
        Box::pin(async move { inner.invoke(call).await })
    }

    /// Checks that the credentials can sign (key and token files readable and valid), so a
    /// broken identity is reported when the gateway starts. OCI itself is not contacted.
    fn start(&self) -> BoxFuture<'static, Result<(), InvokeError>> {
        let inner = self.inner.clone();
        Box::pin(async move {
            inner
                .credentials
                .signer()
                .map(|_| ())
                .map_err(|e| InvokeError::NotInvocable {
                    function: inner.name.clone(),
                    reason: format!("OCI credentials ({}): {e}", inner.credentials.describe()),
                })
        })
    }
}

impl Inner {
    async fn invoke(&self, mut call: FunctionCall) -> Result<FunctionResponse, InvokeError> {
        let function = self.name.clone();
        // The signature covers the body's digest: it is read whole, and held against the
        // gateway's body budget until OCI has answered.
        let (body, _held) = call.body.buffer().await?;
        let budget = call.remaining().min(self.timeout);
        if budget.is_zero() {
            return Err(InvokeError::Timeout {
                function,
                timeout: budget,
            });
        }
        let deadline = tokio::time::Instant::now() + budget;
        let request = self.build_request(&call, body, budget)?;

        let exchange = async {
            let response = self
                .client
                .client
                .request(request)
                .await
                .map_err(Transport::Request)?;
            let (parts, body) = response.into_parts();
            let body = Limited::new(body, MAX_RESPONSE_BODY)
                .collect()
                .await
                .map_err(Transport::Body)?
                .to_bytes();
            Ok::<_, Transport>((parts, body))
        };
        match tokio::time::timeout_at(deadline, exchange).await {
            Err(_) => {
                tracing::warn!(
                    %function,
                    call_id = %call.call_id,
                    "OCI did not answer the invoke within {budget:.1?}"
                );
                Err(InvokeError::Timeout {
                    function,
                    timeout: budget,
                })
            }
            Ok(Err(error)) => Err(self.transport_error(&call, error)),
            Ok(Ok((parts, body))) => {
                map_response(&function, &call, budget, parts.status, &parts.headers, body)
            }
        }
    }

    /// The signed invoke request.
    fn build_request(
        &self,
        call: &FunctionCall,
        body: Bytes,
        budget: Duration,
    ) -> Result<Request<Full<Bytes>>, InvokeError> {
        let function = &self.name;
        let failed = |reason: String| InvokeError::Failed {
            function: function.clone(),
            reason,
        };
        if body.len() > MAX_FUNCTION_BODY {
            return Err(failed(format!(
                "the body ({} bytes) is larger than OCI's limit of {MAX_FUNCTION_BODY} bytes",
                body.len()
            )));
        }
        let mut headers = protocol::call_headers(call, SystemTime::now() + budget)
            .map_err(|e| failed(e.to_string()))?;
        adapt_headers(&mut headers, &self.host, &call.call_id);

        let signer = self.credentials.signer().map_err(|e| {
            tracing::error!(
                %function,
                call_id = %call.call_id,
                credentials = %self.credentials.describe(),
                "cannot sign the OCI invoke: {e}"
            );
            InvokeError::NotInvocable {
                function: function.clone(),
                reason: format!("OCI credentials: {e}"),
            }
        })?;
        signer
            .sign(&Method::POST, &self.uri, &mut headers, &body)
            .map_err(|e| failed(format!("cannot sign the OCI invoke: {e}")))?;

        let mut request = Request::new(Full::new(body));
        *request.method_mut() = Method::POST;
        *request.uri_mut() = self.uri.clone();
        *request.headers_mut() = headers;
        Ok(request)
    }

    fn transport_error(&self, call: &FunctionCall, error: Transport) -> InvokeError {
        let function = self.name.clone();
        let (reason, unavailable) = match &error {
            Transport::Request(e) if e.is_connect() => (
                format!("cannot connect to {}: {}", self.uri, chain(e)),
                true,
            ),
            Transport::Request(e) => (format!("invoke request to OCI failed: {}", chain(e)), false),
            Transport::Body(e) if e.is::<http_body_util::LengthLimitError>() => {
                return InvokeError::BadResponse {
                    function,
                    reason: format!("the response body is larger than {MAX_RESPONSE_BODY} bytes"),
                };
            }
            Transport::Body(e) => (
                format!("error reading OCI's response: {}", chain(e.as_ref())),
                false,
            ),
        };
        tracing::warn!(%function, call_id = %call.call_id, "{reason}");
        if unavailable {
            InvokeError::Unavailable { function, reason }
        } else {
            InvokeError::Failed { function, reason }
        }
    }
}

enum Transport {
    Request(hyper_util::client::legacy::Error),
    Body(Box<dyn StdError + Send + Sync>),
}

/// The Fn headers from the shared protocol, adapted to OCI's invoke endpoint.
fn adapt_headers(headers: &mut HeaderMap, host: &HeaderValue, call_id: &str) {
    // OCI sets Fn-Call-Id and Fn-Deadline on the call it makes to the function.
    headers.remove(protocol::FN_CALL_ID);
    headers.remove(protocol::FN_DEADLINE);
    headers.insert(header::HOST, host.clone());
    headers.insert(FN_INVOKE_TYPE, HeaderValue::from_static("sync"));
    // The call id was accepted as a header value by call_headers.
    if let Ok(id) = HeaderValue::from_str(call_id) {
        headers.insert(OPC_REQUEST_ID, id);
    }
    // The signature covers exactly one content type.
    match headers.get(header::CONTENT_TYPE).cloned() {
        Some(first) => {
            headers.insert(header::CONTENT_TYPE, first);
        }
        None => {
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(DEFAULT_CONTENT_TYPE),
            );
        }
    }
}

/// What OCI's answer means for the client (see the module doc's table).
fn map_response(
    function: &Arc<str>,
    call: &FunctionCall,
    budget: Duration,
    status: StatusCode,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<FunctionResponse, InvokeError> {
    let code = status.as_u16();
    if status.is_success() || code == 502 || code == 504 {
        return protocol::decode_response(status, headers, body.clone(), call.intent).map_err(
            |error| {
                let oci = OciErrorBody::parse(status, headers, &body);
                match &error {
                    DecodeError::FunctionFailed { .. } => tracing::warn!(
                        %function, call_id = %call.call_id, status = code,
                        "function failed in OCI: {oci}"
                    ),
                    DecodeError::FunctionTimedOut => tracing::warn!(
                        %function, call_id = %call.call_id, status = code,
                        "function timed out in OCI: {oci}"
                    ),
                    other => tracing::warn!(
                        %function, call_id = %call.call_id, status = code,
                        "unusable answer from OCI: {other} ({oci})"
                    ),
                }
                error.into_invoke_error(function.clone(), budget)
            },
        );
    }
    let oci = OciErrorBody::parse(status, headers, &body);
    let reason = format!("OCI answered {oci}");
    let function = function.clone();
    match code {
        401 | 403 | 404 => {
            tracing::error!(
                %function, call_id = %call.call_id, status = code,
                "OCI refused the invoke (check the function OCID, the credentials and the IAM \
                 policy allowing FN_INVOCATION): {oci}"
            );
            Err(InvokeError::NotInvocable { function, reason })
        }
        429 => {
            tracing::warn!(%function, call_id = %call.call_id, status = code, "OCI throttled the invoke: {oci}");
            Err(InvokeError::Busy { function })
        }
        _ => {
            tracing::warn!(%function, call_id = %call.call_id, status = code, "OCI invoke failed: {oci}");
            Err(InvokeError::Failed { function, reason })
        }
    }
}

/// OCI's error answer, for logs: status, `code`, `message` and `opc-request-id`.
struct OciErrorBody {
    status: StatusCode,
    code: Option<String>,
    message: Option<String>,
    request_id: Option<String>,
}

impl OciErrorBody {
    fn parse(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> Self {
        let json: Option<serde_json::Value> = serde_json::from_slice(body).ok();
        let field = |name: &str| {
            json.as_ref()
                .and_then(|j| j.get(name))
                .and_then(|v| v.as_str())
                .map(quote)
        };
        let message = field("message").or_else(|| {
            let text = String::from_utf8_lossy(body);
            let text = text.trim();
            (!text.is_empty()).then(|| quote(text))
        });
        OciErrorBody {
            status,
            code: field("code"),
            message,
            request_id: headers
                .get(OPC_REQUEST_ID)
                .and_then(|v| v.to_str().ok())
                .map(quote),
        }
    }
}

impl fmt::Display for OciErrorBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.status.as_u16())?;
        if let Some(code) = &self.code {
            write!(f, " {code}")?;
        }
        if let Some(message) = &self.message {
            write!(f, ": {message}")?;
        }
        if let Some(id) = &self.request_id {
            write!(f, " (opc-request-id {id})")?;
        }
        Ok(())
    }
}

/// At most [`MAX_QUOTED`] bytes of `text`, cut on a character boundary.
fn quote(text: &str) -> String {
    if text.len() <= MAX_QUOTED {
        return text.to_string();
    }
    let mut cut = MAX_QUOTED;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}…", &text[..cut])
}

/// An error and its sources, `: `-joined (hyper's top-level messages say little alone).
fn chain(error: &(dyn StdError + 'static)) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        let text = inner.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = inner.source();
    }
    out
}

/// `https://authority[/base]/{api_version}/functions/{function_id}/actions/invoke` and the
/// `host` value to sign. Ids and versions are restricted to URL-safe characters so the
/// request target needs no encoding and is signed exactly as sent.
fn invoke_uri(
    name: &str,
    endpoint: &str,
    api_version: &str,
    function_id: &str,
) -> Result<(Uri, HeaderValue), OciError> {
    let invalid = |reason: &str| OciError::InvalidEndpoint {
        function: name.to_string(),
        endpoint: endpoint.to_string(),
        reason: reason.to_string(),
    };
    let parsed: Uri = endpoint
        .trim()
        .parse()
        .map_err(|e: http::uri::InvalidUri| invalid(&e.to_string()))?;
    if !parsed
        .scheme_str()
        .is_some_and(|s| s.eq_ignore_ascii_case("https"))
    {
        return Err(invalid("the invoke endpoint must be an https:// URL"));
    }
    let authority = parsed
        .authority()
        .ok_or_else(|| invalid("no host"))?
        .as_str();
    if authority.contains('@') {
        return Err(invalid("credentials in the URL are not allowed"));
    }
    if parsed.query().is_some() {
        return Err(invalid("a query is not allowed"));
    }
    let base = parsed.path().trim_end_matches('/');

    let url_safe = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'~'))
    };
    if !url_safe(api_version) {
        return Err(OciError::InvalidApiVersion {
            function: name.to_string(),
            api_version: api_version.to_string(),
        });
    }
    if !url_safe(function_id) {
        return Err(OciError::InvalidFunctionId {
            function: name.to_string(),
            function_id: function_id.to_string(),
        });
    }
    let uri: Uri =
        format!("https://{authority}{base}/{api_version}/functions/{function_id}/actions/invoke")
            .parse()
            .map_err(|e: http::uri::InvalidUri| invalid(&e.to_string()))?;
    let host = HeaderValue::from_str(authority).map_err(|_| invalid("invalid host"))?;
    Ok((uri, host))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invoke_uri_keeps_authority_and_base_path() -> Result<(), OciError> {
        let (uri, host) = invoke_uri(
            "f",
            "https://abc.us-ashburn-1.functions.oci.oraclecloud.com/",
            "20181201",
            "ocid1.fnfunc.oc1.iad.aaaa",
        )?;
        assert_eq!(
            uri.to_string(),
            "https://abc.us-ashburn-1.functions.oci.oraclecloud.com/20181201/functions/ocid1.fnfunc.oc1.iad.aaaa/actions/invoke"
        );
        assert_eq!(host, "abc.us-ashburn-1.functions.oci.oraclecloud.com");
        let (uri, host) = invoke_uri("f", "https://127.0.0.1:8443/base", "v", "id")?;
        assert_eq!(uri.path(), "/base/v/functions/id/actions/invoke");
        assert_eq!(host, "127.0.0.1:8443");
        Ok(())
    }

    #[test]
    fn invoke_uri_rejects_what_cannot_be_signed_as_sent() {
        for endpoint in [
            "http://abc.example",
            "abc.example",
            "https://u:p@abc.example",
            "https://abc.example?x=1",
            "",
        ] {
            assert!(
                invoke_uri("f", endpoint, "20181201", "id").is_err(),
                "{endpoint}"
            );
        }
        assert!(matches!(
            invoke_uri("f", "https://a.example", "2018 1201", "id"),
            Err(OciError::InvalidApiVersion { .. })
        ));
        assert!(matches!(
            invoke_uri("f", "https://a.example", "20181201", "id/../x"),
            Err(OciError::InvalidFunctionId { .. })
        ));
    }

    #[test]
    fn oci_error_body_is_summarised_and_bounded() {
        let mut headers = HeaderMap::new();
        headers.insert(OPC_REQUEST_ID, HeaderValue::from_static("REQ1"));
        let body = br#"{"code":"NotAuthorizedOrNotFound","message":"Authorization failed"}"#;
        let text = OciErrorBody::parse(StatusCode::NOT_FOUND, &headers, body).to_string();
        assert_eq!(
            text,
            "404 NotAuthorizedOrNotFound: Authorization failed (opc-request-id REQ1)"
        );
        let long = "é".repeat(1000);
        let text = OciErrorBody::parse(StatusCode::BAD_GATEWAY, &HeaderMap::new(), long.as_bytes())
            .to_string();
        assert!(text.len() < MAX_QUOTED + 16, "{}", text.len());
    }

    #[test]
    fn headers_are_adapted_for_oci() {
        let mut headers = HeaderMap::new();
        headers.insert(protocol::FN_CALL_ID, HeaderValue::from_static("c1"));
        headers.insert(protocol::FN_DEADLINE, HeaderValue::from_static("x"));
        headers.insert(header::HOST, HeaderValue::from_static("localhost"));
        headers.append(header::CONTENT_TYPE, HeaderValue::from_static("a/b"));
        headers.append(header::CONTENT_TYPE, HeaderValue::from_static("c/d"));
        adapt_headers(&mut headers, &HeaderValue::from_static("h.example"), "c1");
        assert!(headers.get(protocol::FN_CALL_ID).is_none());
        assert!(headers.get(protocol::FN_DEADLINE).is_none());
        assert_eq!(
            headers.get(header::HOST).map(|v| v.as_bytes()),
            Some(&b"h.example"[..])
        );
        assert_eq!(headers.get_all(header::CONTENT_TYPE).iter().count(), 1);
        assert_eq!(
            headers.get(OPC_REQUEST_ID).map(|v| v.as_bytes()),
            Some(&b"c1"[..])
        );
        assert_eq!(
            headers.get(FN_INVOKE_TYPE).map(|v| v.as_bytes()),
            Some(&b"sync"[..])
        );

        let mut empty = HeaderMap::new();
        adapt_headers(&mut empty, &HeaderValue::from_static("h"), "c2");
        assert_eq!(
            empty.get(header::CONTENT_TYPE).map(|v| v.as_bytes()),
            Some(DEFAULT_CONTENT_TYPE.as_bytes())
        );
    }
}
