//! Reading an authorizer function's answer (reference 5.2) and how long to trust it (5.3).
//!
//! | function answers | verdict |
//! |---|---|
//! | 2xx, JSON object, `active: true` | allowed: `principal`, `scope` (array or space-separated), `clientId`, `context` → `request.auth`; cached until `expiresAt`, clamped to 60–3600 s (60 s when absent or unreadable) |
//! | 2xx, JSON object, `active` false or absent | denied, with `wwwAuthenticate` and `context` for the failure policy; cached 60 s |
//! | 4xx (Oracle's own API-key sample answers 401) | denied, reading the body the same way when it is a valid answer; cached 60 s |
//! | 2xx that is not a valid answer, 5xx, any other status | failed (502), never cached, never a pass |

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderValue, StatusCode};
use serde::Deserialize;
use serde_json::{Map, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use gateway_core::auth::{AuthOutcome, Rejection};
use gateway_core::AuthContext;

/// Shortest time an allowed result is reused.
pub(crate) const MIN_TTL: Duration = Duration::from_secs(60);
/// Longest time an allowed result is reused.
pub(crate) const MAX_TTL: Duration = Duration::from_secs(3600);
/// How long a denial is reused (reference 5.3 proposal).
pub(crate) const NEGATIVE_TTL: Duration = Duration::from_secs(60);

/// What the authorizer decided, as cached.
#[derive(Debug, Clone)]
pub(crate) enum Verdict {
    Allow {
        caller: Arc<AuthContext>,
        ttl: Duration,
    },
    Deny(Rejection),
    Fail(String),
}

impl Verdict {
    /// How long the verdict may be reused; failures never are.
    pub(crate) fn ttl(&self) -> Option<Duration> {
        match self {
            Verdict::Allow { ttl, .. } => Some(*ttl),
            Verdict::Deny(_) => Some(NEGATIVE_TTL),
            Verdict::Fail(_) => None,
        }
    }

    pub(crate) fn into_outcome(self) -> AuthOutcome {
        match self {
            Verdict::Allow { caller, .. } => AuthOutcome::Authenticated(caller),
            Verdict::Deny(rejection) => AuthOutcome::Rejected(rejection),
            Verdict::Fail(reason) => AuthOutcome::Failed(reason),
        }
    }
}

/// The answer's fields; unknown fields are ignored, wrongly typed known ones make the answer
/// invalid.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Answer {
    active: Option<bool>,
    principal: Option<String>,
    scope: Option<Scope>,
    client_id: Option<String>,
    expires_at: Option<String>,
    context: Option<Map<String, Value>>,
    www_authenticate: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Scope {
    Text(String),
    List(Vec<String>),
}

/// Reads a function response.
pub(crate) fn read(status: StatusCode, body: &[u8]) -> Verdict {
    if status.is_client_error() {
        let answer = serde_json::from_slice::<Answer>(body).ok();
        return Verdict::Deny(denial(answer, format!("the authorizer answered {status}")));
    }
    if !status.is_success() {
        return Verdict::Fail(format!("the authorizer answered {status}"));
    }
    let answer = match serde_json::from_slice::<Answer>(body) {
        Ok(a) => a,
        Err(e) => return Verdict::Fail(format!("unexpected authorizer response: {e}")),
    };
    if answer.active != Some(true) {
        return Verdict::Deny(denial(
            Some(answer),
            "the authorizer answered active: false".into(),
        ));
    }
    let ttl = ttl(answer.expires_at.as_deref(), OffsetDateTime::now_utc());
    let scopes = match answer.scope {
        Some(Scope::Text(s)) => s.split_whitespace().map(str::to_owned).collect(),
        Some(Scope::List(list)) => list,
        None => Vec::new(),
    };
    let mut claims = context_claims(answer.context);
    // Exposed as request.auth[principal] / [clientId] unless the context says otherwise
    // (reference 5.2 proposal).
    for (name, value) in [
        ("principal", &answer.principal),
        ("clientId", &answer.client_id),
    ] {
        if let Some(value) = value {
            claims
                .entry(name.to_owned())
                .or_insert_with(|| value.clone());
        }
    }
    Verdict::Allow {
        caller: Arc::new(AuthContext {
            principal: answer.principal,
            client_id: answer.client_id,
            scopes,
            claims,
        }),
        ttl,
    }
}

fn denial(answer: Option<Answer>, reason: String) -> Rejection {
    let Some(answer) = answer else {
        return Rejection::new(reason);
    };
    let www_authenticate = answer
        .www_authenticate
        .and_then(|v| HeaderValue::try_from(v).ok());
    let context = answer.context.map(|c| {
        Arc::new(AuthContext {
            claims: context_claims(Some(c)),
            ..AuthContext::default()
        })
    });
    Rejection {
        www_authenticate,
        context,
        reason,
    }
}

/// `context` as `request.auth` values: strings as they are, anything else as JSON text.
fn context_claims(context: Option<Map<String, Value>>) -> BTreeMap<String, String> {
    context
        .into_iter()
        .flatten()
        .map(|(k, v)| {
            let text = match v {
                Value::String(s) => s,
                other => other.to_string(),
            };
            (k, text)
        })
        .collect()
}

/// The reuse time of an allowed answer: until `expiresAt`, clamped to 60–3600 s; 60 s when
/// it is absent or not RFC 3339.
fn ttl(expires_at: Option<&str>, now: OffsetDateTime) -> Duration {
    let Some(at) = expires_at.and_then(|s| OffsetDateTime::parse(s.trim(), &Rfc3339).ok()) else {
        return MIN_TTL;
    };
    let seconds = (at - now).whole_seconds();
    let seconds = u64::try_from(seconds).unwrap_or(0);
    Duration::from_secs(seconds).clamp(MIN_TTL, MAX_TTL)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allow(body: &str) -> (Arc<AuthContext>, Duration) {
        match read(StatusCode::OK, body.as_bytes()) {
            Verdict::Allow { caller, ttl } => (caller, ttl),
            other => panic!("not allowed: {other:?}"),
        }
    }

    #[test]
    fn the_documented_answer() {
        let (caller, _) = allow(
            r#"{ "active": true, "principal": "https://example.com/users/jdoe",
                 "scope": ["list:hello", "read:hello"], "clientId": "host123",
                 "expiresAt": "2019-05-30T10:15:30+01:00",
                 "context": { "email": "john.doe@example.com", "n": 3 } }"#,
        );
        assert_eq!(caller.scopes, ["list:hello", "read:hello"]);
        assert_eq!(caller.claims["email"], "john.doe@example.com");
        assert_eq!(caller.claims["n"], "3");
        assert_eq!(caller.claims["principal"], "https://example.com/users/jdoe");
        assert_eq!(caller.claims["clientId"], "host123");
        assert_eq!(caller.client_id.as_deref(), Some("host123"));
    }

    #[test]
    fn scope_may_be_space_separated_and_context_wins() {
        let (caller, _) = allow(
            r#"{"active": true, "scope": "a  b", "principal": "p", "context": {"principal": "c"}}"#,
        );
        assert_eq!(caller.scopes, ["a", "b"]);
        assert_eq!(caller.claims["principal"], "c");
    }

    #[test]
    fn active_defaults_to_false() {
        for body in [r#"{}"#, r#"{"active": false}"#, r#"{"active": null}"#] {
            assert!(
                matches!(read(StatusCode::OK, body.as_bytes()), Verdict::Deny(_)),
                "{body}"
            );
        }
        let Verdict::Deny(r) = read(
            StatusCode::OK,
            br#"{"active": false, "wwwAuthenticate": "Bearer realm=\"x\"", "context": {"responseCode": "302"}}"#,
        ) else {
            panic!("denied");
        };
        assert_eq!(
            r.www_authenticate.as_ref().map(|v| v.as_bytes()),
            Some(&b"Bearer realm=\"x\""[..])
        );
        assert_eq!(
            r.context
                .map(|c| c.claims["responseCode"].clone())
                .as_deref(),
            Some("302")
        );
    }

    #[test]
    fn client_errors_deny_and_everything_else_fails() {
        assert!(matches!(
            read(StatusCode::UNAUTHORIZED, b"junk"),
            Verdict::Deny(_)
        ));
        assert!(matches!(
            read(StatusCode::FORBIDDEN, br#"{"active": true}"#),
            Verdict::Deny(_)
        ));
        for (status, body) in [
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                &br#"{"active": true}"#[..],
            ),
            (StatusCode::BAD_GATEWAY, b""),
            (StatusCode::FOUND, br#"{"active": true}"#),
            (StatusCode::OK, b"not json"),
            (StatusCode::OK, b"[true]"),
            (StatusCode::OK, br#"{"active": "yes"}"#),
            (StatusCode::OK, br#"{"active": true, "scope": 5}"#),
            (StatusCode::OK, br#"{"active": true, "context": []}"#),
        ] {
            assert!(
                matches!(read(status, body), Verdict::Fail(_)),
                "{status} {}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn ttl_is_clamped() {
        let now = OffsetDateTime::parse("2024-01-01T00:00:00Z", &Rfc3339).expect("date");
        let t = |s: &str| ttl(Some(s), now);
        assert_eq!(t("2024-01-01T00:10:00Z"), Duration::from_secs(600));
        assert_eq!(t("2024-01-01T00:00:10Z"), MIN_TTL);
        assert_eq!(t("2023-12-31T00:00:00Z"), MIN_TTL);
        assert_eq!(t("2024-01-02T00:00:00Z"), MAX_TTL);
        assert_eq!(t("2024-01-01T01:10:00+01:00"), Duration::from_secs(600));
        assert_eq!(t("tomorrow"), MIN_TTL);
        assert_eq!(ttl(None, now), MIN_TTL);
    }
}
