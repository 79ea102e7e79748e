//! What the login flow keeps: the session a browser carries, the state of a login under way,
//! and the sessions ended by a logout.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// A logged-in browser's session, sealed into its cookie (or `X-APIGW-TOKEN`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Session {
    /// Random id, so that a logout can end this session for good.
    pub(crate) sid: String,
    /// Unix time the session ends.
    pub(crate) exp: u64,
    /// The validated ID token: its claims are the caller's, and it is the logout's
    /// `id_token_hint`.
    pub(crate) id_token: String,
    /// The access token the provider issued with it, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) access_token: Option<String>,
    /// The scopes the provider granted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) scope: Option<String>,
    /// What a cookie session's state-changing requests must repeat in `X-CSRF-TOKEN`.
    pub(crate) csrf: String,
}

/// A login under way: made when the browser is sent to the provider, consumed when it comes
/// back.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Pending {
    /// The `state` sent to the provider.
    pub(crate) state: String,
    /// The `nonce` the ID token must carry.
    pub(crate) nonce: String,
    /// The PKCE verifier, with `usePkce`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) verifier: Option<String>,
    /// The `redirect_uri` sent, which the code exchange must repeat.
    pub(crate) redirect_uri: String,
    /// Where the browser goes once logged in: a path on this gateway.
    pub(crate) return_to: String,
    /// Unix time after which the login is abandoned.
    pub(crate) exp: u64,
}

/// How long a login may take at the provider.
pub(crate) const LOGIN_SECONDS: u64 = 600;

pub(crate) fn now_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Ids of sessions ended by a logout, each kept until the session would have expired anyway,
/// so that a copy of the cookie replayed after logout is refused.
#[derive(Debug, Default)]
pub(crate) struct EndedSessions {
    ended: Mutex<HashMap<String, u64>>,
}

impl EndedSessions {
    pub(crate) fn end(&self, sid: &str, exp: u64) {
        let now = now_seconds();
        let mut ended = lock(&self.ended);
        ended.retain(|_, until| *until > now);
        if exp > now {
            ended.insert(sid.to_owned(), exp);
        }
    }

    pub(crate) fn is_ended(&self, sid: &str) -> bool {
        lock(&self.ended).contains_key(sid)
    }
}

/// Logins under way when `useCookiesForIntermediateSteps` is off: kept here, by `state`, for
/// at most [`LOGIN_SECONDS`] and at most `capacity` at once (the oldest give way).
#[derive(Debug)]
pub(crate) struct PendingLogins {
    capacity: usize,
    pending: Mutex<HashMap<String, Pending>>,
}

impl PendingLogins {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            pending: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn insert(&self, login: Pending) {
        let now = now_seconds();
        let mut pending = lock(&self.pending);
        pending.retain(|_, p| p.exp > now);
        if pending.len() >= self.capacity {
            if let Some(oldest) = pending
                .iter()
                .min_by_key(|(_, p)| p.exp)
                .map(|(k, _)| k.clone())
            {
                pending.remove(&oldest);
            }
        }
        pending.insert(login.state.clone(), login);
    }

    /// The login with this `state`, removed: a callback is answered once.
    pub(crate) fn take(&self, state: &str) -> Option<Pending> {
        lock(&self.pending).remove(state)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Every update is a single insert or remove: a poisoned lock still holds a usable map.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(state: &str, exp: u64) -> Pending {
        Pending {
            state: state.to_owned(),
            nonce: "n".to_owned(),
            verifier: None,
            redirect_uri: "http://gw/app".to_owned(),
            return_to: "/app".to_owned(),
            exp,
        }
    }

    #[test]
    fn ended_sessions_are_remembered_until_they_would_have_expired() {
        let ended = EndedSessions::default();
        ended.end("a", now_seconds() + 60);
        ended.end("old", now_seconds().saturating_sub(1));
        assert!(ended.is_ended("a"));
        assert!(!ended.is_ended("old"));
        assert!(!ended.is_ended("b"));
    }

    #[test]
    fn a_pending_login_is_taken_once_and_the_oldest_give_way() {
        let logins = PendingLogins::new(2);
        let later = now_seconds() + 600;
        logins.insert(pending("s1", later));
        logins.insert(pending("s2", later + 1));
        logins.insert(pending("s3", later + 2));
        assert!(logins.take("s1").is_none(), "the oldest gave way");
        assert!(logins.take("s2").is_some());
        assert!(logins.take("s2").is_none(), "answered once");
        assert!(logins.take("s3").is_some());
    }
}
