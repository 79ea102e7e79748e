//! The Fn "http-stream" exchange, as pure functions: a [`FunctionCall`] becomes the
//! `POST /call` request an FDK expects, and the FDK's answer becomes the [`FunctionResponse`] the
//! client sees (or an error). Kept free of I/O so that every invoker speaking this contract
//! (local processes, an Fn server, OCI) maps headers the same way.
//!
//! Request (fn-protocols §1.5, §2.1): `POST /call`, `Host: localhost`, `Fn-Call-Id`,
//! `Fn-Deadline` (UTC RFC 3339 with `Z`), `Content-Type`, `Content-Length` when the body's length
//! is known (a chunked upload streams through chunked, as Fn's own agent sends it); for an HTTP request
//! also `Fn-Intent: httprequest`, `Fn-Http-Method`, `Fn-Http-Request-Url` and every client header
//! `X` as `Fn-Http-H-X` (hop-by-hop headers dropped, `Content-Type` unprefixed).
//!
//! Response (§1.6, §2.2): the socket status is a protocol status. 200 → the client status is
//! `Fn-Http-Status` (or 200), `Fn-Http-H-X` becomes `X`, `Content-Type` passes, the rest is
//! dropped; 502 → the function failed; 504 → it timed out; anything else breaks the protocol.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use time::format_description::BorrowedFormatItem;
use time::macros::format_description;
use time::OffsetDateTime;

use bytes::Bytes;
use gateway_core::function::{FunctionCall, FunctionResponse, Intent, InvokeError};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, StatusCode};
use std::sync::Arc;

/// `Fn-Call-Id`.
pub const FN_CALL_ID: HeaderName = HeaderName::from_static("fn-call-id");
/// `Fn-Deadline`.
pub const FN_DEADLINE: HeaderName = HeaderName::from_static("fn-deadline");
/// `Fn-Intent`.
pub const FN_INTENT: HeaderName = HeaderName::from_static("fn-intent");
/// `Fn-Http-Method`.
pub const FN_HTTP_METHOD: HeaderName = HeaderName::from_static("fn-http-method");
/// `Fn-Http-Request-Url`.
pub const FN_HTTP_REQUEST_URL: HeaderName = HeaderName::from_static("fn-http-request-url");
/// `Fn-Http-Status`.
pub const FN_HTTP_STATUS: HeaderName = HeaderName::from_static("fn-http-status");
/// The prefix of a client header carried through the function (lower case, as `http` stores
/// names).
pub const FN_HTTP_HEADER_PREFIX: &str = "fn-http-h-";
/// The value of `Fn-Intent` for a call through an HTTP route.
pub const INTENT_HTTP_REQUEST: &str = "httprequest";

pub use gateway_core::headers::is_hop_by_hop;

/// Why a call could not be encoded.
#[derive(Debug, Clone, thiserror::Error)]
pub enum EncodeError {
    /// The call's `call_id` is not a valid header value (control characters, non-ASCII).
    #[error("the call id {0:?} cannot be sent as a header")]
    CallId(String),
    /// The call's `request_url` is not a valid header value, so it cannot travel in
    /// `Fn-Http-Request-Url`.
    #[error("the request URL {0:?} cannot be sent as a header")]
    RequestUrl(String),
}

/// The head of the `POST /call` request for `call`, with `Fn-Deadline` computed from the time
/// left; the invoker attaches the call's body (`request.map(|()| body)`).
pub fn encode_call(call: &FunctionCall) -> Result<Request<()>, EncodeError> {
    encode_call_with_deadline(call, SystemTime::now() + call.remaining())
}

/// The head of the `POST /call` request for `call`, with an explicit wall-clock deadline (for
/// tests, and invokers that compute it themselves).
pub fn encode_call_with_deadline(
    call: &FunctionCall,
    deadline: SystemTime,
) -> Result<Request<()>, EncodeError> {
    let headers = call_headers(call, deadline)?;
    let mut request = Request::new(());
    *request.method_mut() = Method::POST;
    *request.uri_mut() = http::Uri::from_static("/call");
    *request.headers_mut() = headers;
    Ok(request)
}

/// The headers of the `POST /call` request (everything but the body), for invokers that build
/// the request line themselves (an Fn server's or OCI's invoke endpoint).
pub fn call_headers(call: &FunctionCall, deadline: SystemTime) -> Result<HeaderMap, EncodeError> {
    let mut out = HeaderMap::new();
    out.insert(header::HOST, HeaderValue::from_static("localhost"));
    out.insert(
        FN_CALL_ID,
        HeaderValue::from_str(&call.call_id)
            .map_err(|_| EncodeError::CallId(call.call_id.clone()))?,
    );
    // Always ASCII digits, colons, dashes and dots: a valid header value.
    if let Ok(value) = HeaderValue::from_str(&format_rfc3339_utc(deadline)) {
        out.insert(FN_DEADLINE, value);
    }

    match call.intent {
        Intent::HttpRequest => {
            out.insert(FN_INTENT, HeaderValue::from_static(INTENT_HTTP_REQUEST));
            if let Ok(method) = HeaderValue::from_str(call.method.as_str()) {
                out.insert(FN_HTTP_METHOD, method);
            }
            out.insert(
                FN_HTTP_REQUEST_URL,
                HeaderValue::from_str(&call.request_url)
                    .map_err(|_| EncodeError::RequestUrl(call.request_url.clone()))?,
            );
            for (name, value) in &call.headers {
                if is_hop_by_hop(name, &call.headers) {
                    continue;
                }
                if name == header::CONTENT_TYPE {
                    out.append(header::CONTENT_TYPE, value.clone());
                    continue;
                }
                let prefixed = format!("{FN_HTTP_HEADER_PREFIX}{}", name.as_str());
                // A valid name with a valid prefix is always a valid name.
                if let Ok(prefixed) = HeaderName::from_bytes(prefixed.as_bytes()) {
                    out.append(prefixed, value.clone());
                }
            }
        }
        Intent::Invoke => {
            for value in call.headers.get_all(header::CONTENT_TYPE) {
                out.append(header::CONTENT_TYPE, value.clone());
            }
        }
    }
    if let Some(length) = call.body.exact_len() {
        out.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    }
    Ok(out)
}

/// Why an FDK's answer does not give the client a response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Socket 502: the function raised or reported an error. `detail` is the FDK's body, for
    /// the log only.
    #[error("the function reported an error: {detail}")]
    FunctionFailed {
        /// The FDK's response body, cut after 2048 bytes.
        detail: String,
    },
    /// Socket 504: the FDK says the function timed out.
    #[error("the function reported a timeout")]
    FunctionTimedOut,
    /// Any other socket status: the FDK is broken (Fn kills such a container).
    #[error("unexpected status {0} on the function socket (only 200, 502 and 504 are allowed)")]
    InvalidStatus(StatusCode),
    /// `Fn-Http-Status` is not a status a client can be given.
    #[error("invalid Fn-Http-Status {0:?}")]
    InvalidHttpStatus(String),
}

impl DecodeError {
    /// Whether the process that answered must be replaced: after it broke the protocol its
    /// state is unknown; a function error or an FDK-reported timeout leaves it usable (as in
    /// Fn, which keeps the container in both cases).
    pub fn replaces_process(&self) -> bool {
        !matches!(
            self,
            DecodeError::FunctionFailed { .. } | DecodeError::FunctionTimedOut
        )
    }

    /// The error the gateway reports. A function's own timeout has no duration we know, so the
    /// caller passes the call's budget.
    pub fn into_invoke_error(
        self,
        function: Arc<str>,
        timeout: std::time::Duration,
    ) -> InvokeError {
        match self {
            DecodeError::FunctionFailed { .. } => InvokeError::Failed {
                function,
                reason: "the function reported an error".to_string(),
            },
            DecodeError::FunctionTimedOut => InvokeError::Timeout { function, timeout },
            other => InvokeError::BadResponse {
                function,
                reason: other.to_string(),
            },
        }
    }
}

/// The longest FDK error body quoted in a log line.
const MAX_LOGGED_DETAIL: usize = 2048;

/// Maps the FDK's answer to what the client sees.
///
/// For [`Intent::HttpRequest`] the client headers are exactly the `Fn-Http-H-*` headers with the
/// prefix stripped once, plus `Content-Type`; the status is `Fn-Http-Status` or 200. For
/// [`Intent::Invoke`] (as Fn's invoke endpoint does) every header but hop-by-hop ones and the
/// FDK's framing passes as is, and the status is 200.
pub fn decode_response(
    status: StatusCode,
    headers: &HeaderMap,
    body: Bytes,
    intent: Intent,
) -> Result<FunctionResponse, DecodeError> {
    match status.as_u16() {
        200 => {}
        502 => {
            let mut detail = String::from_utf8_lossy(&body).into_owned();
            if detail.len() > MAX_LOGGED_DETAIL {
                let mut cut = MAX_LOGGED_DETAIL;
                while !detail.is_char_boundary(cut) {
                    cut -= 1;
                }
                detail.truncate(cut);
                detail.push('…');
            }
            return Err(DecodeError::FunctionFailed { detail });
        }
        504 => return Err(DecodeError::FunctionTimedOut),
        _ => return Err(DecodeError::InvalidStatus(status)),
    }

    let mut out = HeaderMap::new();
    let status = match intent {
        Intent::HttpRequest => {
            for (name, value) in headers {
                if name == header::CONTENT_TYPE {
                    out.append(header::CONTENT_TYPE, value.clone());
                    continue;
                }
                let Some(stripped) = name.as_str().strip_prefix(FN_HTTP_HEADER_PREFIX) else {
                    continue;
                };
                let Ok(stripped) = HeaderName::from_bytes(stripped.as_bytes()) else {
                    continue; // exactly the prefix: nothing to name
                };
                if is_framing(&stripped, headers) {
                    continue; // the gateway frames the client response itself
                }
                out.append(stripped, value.clone());
            }
            match headers.get(FN_HTTP_STATUS) {
                None => StatusCode::OK,
                Some(value) => parse_http_status(value)?,
            }
        }
        Intent::Invoke => {
            for (name, value) in headers {
                if !is_framing(name, headers) {
                    out.append(name.clone(), value.clone());
                }
            }
            StatusCode::OK
        }
    };
    Ok(FunctionResponse {
        status,
        headers: out,
        body,
    })
}

/// Hop-by-hop headers and `Content-Length`: they describe the FDK's connection and framing,
/// which the gateway replaces with its own.
fn is_framing(name: &HeaderName, headers: &HeaderMap) -> bool {
    name == header::CONTENT_LENGTH || is_hop_by_hop(name, headers)
}

/// A client-facing status: three digits, 200–599 (1xx cannot end an exchange).
fn parse_http_status(value: &HeaderValue) -> Result<StatusCode, DecodeError> {
    let text = value.to_str().unwrap_or("").trim();
    let invalid =
        || DecodeError::InvalidHttpStatus(String::from_utf8_lossy(value.as_bytes()).into());
    if text.len() != 3 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid());
    }
    let code: u16 = text.parse().map_err(|_| invalid())?;
    if !(200..=599).contains(&code) {
        return Err(invalid());
    }
    StatusCode::from_u16(code).map_err(|_| invalid())
}

/// Formats a time as RFC 3339 in UTC with milliseconds and a `Z` (`2026-11-24T21:30:26.123Z`):
/// the form every FDK's deadline parser accepts (Go `time.RFC3339`, Java `Instant.parse`,
/// JavaScript `Date.parse`).
pub fn format_rfc3339_utc(time: SystemTime) -> String {
    const FORMAT: &[BorrowedFormatItem<'_>] =
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    // 9999-12-31T23:59:59.999Z: the last instant four year digits can show (a deadline that
    // far off means "none", and `OffsetDateTime` would not take it).
    let last = UNIX_EPOCH + Duration::from_millis(253_402_300_799_999);
    let time = OffsetDateTime::from(time.clamp(UNIX_EPOCH, last));
    // Every field is in range between 1970 and 9999, so formatting cannot fail.
    time.format(FORMAT).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use gateway_core::Refusal as _;
    use std::time::{Duration, Instant};

    fn call(intent: Intent) -> FunctionCall {
        let mut headers = HeaderMap::new();
        headers.insert("authorization", HeaderValue::from_static("Bearer abc"));
        headers.insert("x-custom", HeaderValue::from_static("foo"));
        headers.append("x-multi", HeaderValue::from_static("1"));
        headers.append("x-multi", HeaderValue::from_static("2"));
        headers.insert("content-type", HeaderValue::from_static("application/json"));
        headers.insert(
            "connection",
            HeaderValue::from_static("keep-alive, x-drop-me"),
        );
        headers.insert("x-drop-me", HeaderValue::from_static("gone"));
        headers.insert("keep-alive", HeaderValue::from_static("75"));
        headers.insert("transfer-encoding", HeaderValue::from_static("chunked"));
        headers.insert("te", HeaderValue::from_static("trailers"));
        headers.insert("upgrade", HeaderValue::from_static("h2c"));
        FunctionCall {
            function_id: Arc::from("ocid1.fnfunc.test"),
            call_id: "01JTESTCALL0002".into(),
            deadline: Instant::now() + Duration::from_secs(30),
            intent,
            method: Method::PUT,
            request_url: "/v1/items/42?x=1".into(),
            headers,
            body: "{\"a\":1}".into(),
        }
    }

    fn header<'a>(req: &'a Request<()>, name: &str) -> Vec<&'a str> {
        req.headers()
            .get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap_or("<binary>"))
            .collect()
    }

    #[test]
    fn http_request_matches_the_worked_example() -> Result<(), EncodeError> {
        // 2026-11-24T21:30:26Z
        let deadline = UNIX_EPOCH + Duration::from_secs(1_795_555_826);
        let req = encode_call_with_deadline(&call(Intent::HttpRequest), deadline)?;
        assert_eq!(req.method(), Method::POST);
        assert_eq!(req.uri(), "/call");
        assert_eq!(header(&req, "host"), ["localhost"]);
        assert_eq!(header(&req, "fn-call-id"), ["01JTESTCALL0002"]);
        assert_eq!(header(&req, "fn-deadline"), ["2026-11-24T21:30:26.000Z"]);
        assert_eq!(header(&req, "fn-intent"), ["httprequest"]);
        assert_eq!(header(&req, "fn-http-method"), ["PUT"]);
        assert_eq!(header(&req, "fn-http-request-url"), ["/v1/items/42?x=1"]);
        assert_eq!(header(&req, "fn-http-h-authorization"), ["Bearer abc"]);
        assert_eq!(header(&req, "fn-http-h-x-custom"), ["foo"]);
        assert_eq!(header(&req, "fn-http-h-x-multi"), ["1", "2"]);
        assert_eq!(header(&req, "content-type"), ["application/json"]);
        assert!(header(&req, "fn-http-h-content-type").is_empty());
        assert_eq!(header(&req, "content-length"), ["7"]);
        for dropped in [
            "connection",
            "keep-alive",
            "transfer-encoding",
            "te",
            "upgrade",
            "x-drop-me",
        ] {
            assert!(header(&req, dropped).is_empty(), "{dropped}");
            assert!(
                header(&req, &format!("fn-http-h-{dropped}")).is_empty(),
                "{dropped}"
            );
        }
        Ok(())
    }

    #[test]
    fn invoke_sends_only_body_and_content_type() -> Result<(), EncodeError> {
        let req = encode_call(&call(Intent::Invoke))?;
        let mut names: Vec<&str> = req.headers().keys().map(|k| k.as_str()).collect();
        names.sort_unstable();
        assert_eq!(
            names,
            [
                "content-length",
                "content-type",
                "fn-call-id",
                "fn-deadline",
                "host"
            ]
        );
        Ok(())
    }

    #[test]
    fn only_a_body_of_known_length_gets_content_length() -> Result<(), EncodeError> {
        use gateway_core::function::CallBody;
        use gateway_core::request_limits::BodyBudget;
        use gateway_core::Body;
        use http_body_util::{BodyExt, Full};

        let mut c = call(Intent::HttpRequest);
        // A chunked upload: its length is not known until it ends, so it streams chunked.
        let streamed = Body::new(Full::new(Bytes::from_static(b"abc")).map_frame(|f| f));
        c.body = CallBody::client(streamed, 10, BodyBudget::default());
        assert!(header(&encode_call(&c)?, "content-length").is_empty());
        c.body = CallBody::client(Body::full("abc"), 10, BodyBudget::default());
        assert_eq!(header(&encode_call(&c)?, "content-length"), ["3"]);
        Ok(())
    }

    #[test]
    fn deadline_is_utc_with_z_and_millis() {
        assert_eq!(format_rfc3339_utc(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let leap = UNIX_EPOCH + Duration::from_millis(951_782_400_123); // 2000-02-29
        assert_eq!(format_rfc3339_utc(leap), "2000-02-29T00:00:00.123Z");
        let end = UNIX_EPOCH + Duration::from_secs(253_402_300_799); // 9999-12-31T23:59:59
        assert_eq!(format_rfc3339_utc(end), "9999-12-31T23:59:59.000Z");
        let beyond = UNIX_EPOCH + Duration::from_secs(1 << 50);
        assert_eq!(format_rfc3339_utc(beyond), "9999-12-31T23:59:59.999Z");
    }

    #[test]
    fn bad_call_id_or_url_is_an_error_not_a_panic() {
        let mut c = call(Intent::HttpRequest);
        c.call_id = "bad\nid".into();
        assert!(matches!(encode_call(&c), Err(EncodeError::CallId(_))));
        let mut c = call(Intent::HttpRequest);
        c.request_url = "/a\u{7f}".into();
        assert!(matches!(encode_call(&c), Err(EncodeError::RequestUrl(_))));
    }

    fn fdk_headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(HeaderName::from_static(k), HeaderValue::from_static(v));
        }
        map
    }

    #[test]
    fn gateway_response_strips_prefix_once_and_drops_the_rest() -> Result<(), DecodeError> {
        let headers = fdk_headers(&[
            ("content-type", "application/json"),
            ("fn-http-h-x-echo", "yes"),
            ("fn-http-h-set-cookie", "a=1"),
            ("fn-http-h-set-cookie", "b=2"),
            ("fn-http-h-fn-http-h-x-a", "junk"),
            ("fn-http-h-", "nameless"),
            ("fn-http-h-content-length", "999"),
            ("fn-http-h-transfer-encoding", "chunked"),
            ("fn-fdk-version", "fdk-python/0.1.128"),
            ("fn-fdk-runtime", "python/3.11.7 final"),
            ("x-plain", "dropped"),
            ("keep-alive", "75"),
            ("content-length", "256"),
            ("fn-http-status", "201"),
        ]);
        let resp = decode_response(
            StatusCode::OK,
            &headers,
            Bytes::from_static(b"{}"),
            Intent::HttpRequest,
        )?;
        assert_eq!(resp.status, StatusCode::CREATED);
        let mut names: Vec<&str> = resp.headers.keys().map(|k| k.as_str()).collect();
        names.sort_unstable();
        assert_eq!(
            names,
            ["content-type", "fn-http-h-x-a", "set-cookie", "x-echo"]
        );
        assert_eq!(resp.headers.get_all("set-cookie").iter().count(), 2);
        assert_eq!(resp.body.as_ref(), b"{}");
        Ok(())
    }

    #[test]
    fn missing_status_is_200_and_bad_status_is_rejected() {
        let ok = decode_response(
            StatusCode::OK,
            &HeaderMap::new(),
            Bytes::new(),
            Intent::HttpRequest,
        );
        assert!(matches!(ok, Ok(r) if r.status == StatusCode::OK));
        for bad in ["abc", "99", "1000", "101", "600", "", " 20", "2x0"] {
            let mut headers = HeaderMap::new();
            if let Ok(v) = HeaderValue::from_str(bad) {
                headers.insert(FN_HTTP_STATUS, v);
            }
            let result =
                decode_response(StatusCode::OK, &headers, Bytes::new(), Intent::HttpRequest);
            assert!(
                matches!(result, Err(DecodeError::InvalidHttpStatus(_))),
                "{bad}: {result:?}"
            );
        }
        let mut headers = HeaderMap::new();
        headers.insert(FN_HTTP_STATUS, HeaderValue::from_static("404"));
        let result = decode_response(StatusCode::OK, &headers, Bytes::new(), Intent::HttpRequest);
        assert!(matches!(result, Ok(r) if r.status == StatusCode::NOT_FOUND));
    }

    #[test]
    fn invoke_response_keeps_plain_headers() -> Result<(), DecodeError> {
        let headers = fdk_headers(&[
            ("content-type", "application/json"),
            ("x-echo", "yes"),
            ("connection", "keep-alive"),
            ("keep-alive", "75"),
            ("content-length", "2"),
            ("fn-http-status", "201"),
        ]);
        let resp = decode_response(
            StatusCode::OK,
            &headers,
            Bytes::from_static(b"{}"),
            Intent::Invoke,
        )?;
        assert_eq!(resp.status, StatusCode::OK);
        let mut names: Vec<&str> = resp.headers.keys().map(|k| k.as_str()).collect();
        names.sort_unstable();
        assert_eq!(names, ["content-type", "fn-http-status", "x-echo"]);
        Ok(())
    }

    #[test]
    fn socket_statuses_map_to_errors() {
        let failed = decode_response(
            StatusCode::BAD_GATEWAY,
            &fdk_headers(&[("fn-http-status", "502")]),
            Bytes::from_static(b"deliberate failure"),
            Intent::HttpRequest,
        );
        assert_eq!(
            failed.as_ref().err(),
            Some(&DecodeError::FunctionFailed {
                detail: "deliberate failure".into()
            })
        );
        let timeout = decode_response(
            StatusCode::GATEWAY_TIMEOUT,
            &HeaderMap::new(),
            Bytes::new(),
            Intent::Invoke,
        );
        assert_eq!(timeout.err(), Some(DecodeError::FunctionTimedOut));
        for status in [
            StatusCode::NOT_FOUND,
            StatusCode::INTERNAL_SERVER_ERROR,
            StatusCode::CREATED,
        ] {
            let err = decode_response(status, &HeaderMap::new(), Bytes::new(), Intent::HttpRequest);
            assert_eq!(
                err.as_ref().err(),
                Some(&DecodeError::InvalidStatus(status))
            );
            assert!(err.err().is_some_and(|e| e.replaces_process()));
        }
        assert!(!DecodeError::FunctionTimedOut.replaces_process());
        assert!(!DecodeError::FunctionFailed {
            detail: String::new()
        }
        .replaces_process());
        assert!(DecodeError::InvalidHttpStatus("x".into()).replaces_process());
    }

    #[test]
    fn decode_errors_map_to_gateway_statuses() {
        let f: Arc<str> = Arc::from("app/fn");
        let d = Duration::from_secs(1);
        let cases = [
            (DecodeError::FunctionFailed { detail: "x".into() }, 502),
            (DecodeError::FunctionTimedOut, 504),
            (DecodeError::InvalidStatus(StatusCode::NOT_FOUND), 502),
            (DecodeError::InvalidHttpStatus("x".into()), 502),
        ];
        for (err, status) in cases {
            assert_eq!(
                err.into_invoke_error(f.clone(), d).status().as_u16(),
                status
            );
        }
    }

    #[test]
    fn long_failure_detail_is_truncated_on_a_char_boundary() {
        let body = "é".repeat(3000);
        let err = decode_response(
            StatusCode::BAD_GATEWAY,
            &HeaderMap::new(),
            Bytes::from(body),
            Intent::Invoke,
        );
        match err {
            Err(DecodeError::FunctionFailed { detail }) => {
                assert!(detail.len() <= MAX_LOGGED_DETAIL + '…'.len_utf8());
                assert!(detail.ends_with('…'));
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}
