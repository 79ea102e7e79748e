//! `dynamicAuthentication` (reference 4.1.4): several authentication servers selected per
//! request by a context variable.

use serde::Serialize;
use serde_json::Value;

use super::{Authentication, TokenSource};
use crate::diagnostics::Diagnostics;
use crate::spec::decode::{decode_items, index_path, limit_count, FromJson, Obj};
use crate::spec::model::selection::{
    check_branches, decode_selection_source, SelectionKey, SelectionSource,
};
use crate::spec::vars_check::VarField;

/// `dynamicAuthentication` (reference 4.1.4).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DynamicAuthentication {
    /// The context variable that selects a server (no usage plan).
    pub selection_source: SelectionSource,
    /// The servers; at most 100. No match and no default → 401.
    pub authentication_servers: Vec<AuthenticationServer>,
}

/// One authentication server of a dynamic authentication policy.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthenticationServer {
    /// When this server is used.
    pub key: SelectionKey,
    /// The authentication policy applied.
    pub authentication_server_detail: Authentication,
}

impl FromJson for DynamicAuthentication {
    fn from_json(value: &Value, path: &str, d: &mut Diagnostics) -> Option<Self> {
        let mut o = Obj::new(value, path, d)?;
        let source = o.required_with("selectionSource", |v, p, d| {
            decode_selection_source(v, p, d, VarField::AuthSelector)
        });
        let by_claim = source
            .as_ref()
            .is_some_and(|s| s.selector().starts_with("request.auth["));
        let servers = o.required_with("authenticationServers", |v, p, d| {
            let items = decode_items(v, p, d, |v, p, d| {
                let mut s = Obj::new(v, p, d)?;
                let key = s.required::<SelectionKey>("key");
                let detail = s.required::<Authentication>("authenticationServerDetail");
                s.finish();
                Some(AuthenticationServer {
                    key: key?,
                    authentication_server_detail: detail?,
                })
            })?;
            if items.is_empty() {
                d.error(
                    p,
                    "must not be empty: list at least one authentication server",
                );
            }
            limit_count(d, p, items.len(), 100, "authentication servers");
            let decoded: Vec<(usize, &AuthenticationServer)> = items
                .iter()
                .enumerate()
                .filter_map(|(i, s)| s.as_ref().map(|s| (i, s)))
                .collect();
            let keys: Vec<_> = decoded.iter().map(|(i, s)| (*i, &s.key)).collect();
            let parent = p.rsplit_once('.').map_or("", |(parent, _)| parent);
            check_branches(d, parent, "authenticationServers", &keys);
            if by_claim {
                check_claim_selection(d, p, &decoded);
            }
            items.into_iter().collect::<Option<Vec<_>>>()
        });
        o.finish();
        Some(DynamicAuthentication {
            selection_source: source?,
            authentication_servers: servers?,
        })
    }
}

/// With a `request.auth[claim]` selector the claim is read from the not yet validated token,
/// so every server must be a token server reading it from the same place (reference 4.1.4).
fn check_claim_selection(
    d: &mut Diagnostics,
    list: &str,
    servers: &[(usize, &AuthenticationServer)],
) {
    let mut first: Option<(usize, String)> = None;
    for &(i, server) in servers {
        let detail = &server.authentication_server_detail;
        let path = format!("{}.authenticationServerDetail", index_path(list, i));
        if matches!(detail, Authentication::Custom(_)) {
            d.error(
                format!("{path}.type"),
                "with a request.auth selector every authentication server must be JWT_AUTHENTICATION or TOKEN_AUTHENTICATION",
            )
            .hint("the claim is read from the token before any authorizer function runs");
            continue;
        }
        let location = match detail.token_source() {
            Some(TokenSource::Header(h)) => format!("header {}", h.to_ascii_lowercase()),
            Some(TokenSource::QueryParam(q)) => format!("query parameter {q}"),
            None => continue,
        };
        match &first {
            Some((j, expected)) if *expected != location => {
                d.error(
                    path,
                    format!("reads the token from the {location}, authenticationServers[{j}] from the {expected}"),
                )
                .hint("with a request.auth selector every server must read the token from the same place");
            }
            Some(_) => {}
            None => first = Some((i, location)),
        }
    }
}
