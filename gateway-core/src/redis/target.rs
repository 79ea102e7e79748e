//! Where the shared stores' Redis is and how it is deployed: one server, a Redis Cluster, or a
//! primary watched by Sentinel. The same three `gateway.toml` keys select it in every section
//! that uses Redis:
//!
//! ```toml
//! url = "redis://127.0.0.1:6379"                      # one server
//! url = ["redis://10.0.0.1:7000", "redis://10.0.0.2:7000"]
//! cluster = true                                      # the urls are cluster seeds
//! sentinel = "mymaster"                               # the urls are sentinels
//! ca_file = "redis-ca.pem"                            # trust this CA for rediss://
//! ```

use std::fmt;
use std::path::Path;

use redis::{ConnectionAddr, ConnectionInfo, IntoConnectionInfo};

use crate::store::{RedisOpenError, RedisUrls};

/// How the servers behind the URLs are deployed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedisMode {
    /// One server: the first and only URL.
    Single,
    /// A Redis Cluster; the URLs are seeds, the rest of the cluster is discovered. MOVED and
    /// ASK redirections and failovers are followed by the client.
    Cluster,
    /// The primary of the named service, as the sentinels at the URLs report it; found again
    /// after a failover.
    Sentinel {
        /// The service (`sentinel monitor <name> …`).
        service: String,
    },
}

/// A Redis deployment to connect to, checked but not connected.
///
/// Credentials and the database number come from the URLs (`redis://user:password@host/db`);
/// with Sentinel they are the primary's, and the sentinels are asked without credentials.
/// `rediss://` connects with TLS, trusting the system's roots or the CA given with
/// [`with_ca_pem`](Self::with_ca_pem). Debug output and [`describe`](Self::describe) never show
/// a password.
#[derive(Clone)]
pub struct RedisTarget {
    pub(crate) nodes: Vec<ConnectionInfo>,
    pub(crate) mode: RedisMode,
    pub(crate) ca_pem: Option<Vec<u8>>,
    description: String,
}

impl RedisTarget {
    /// Checks `urls` against the mode `cluster` and `sentinel` select (at most one of them).
    pub fn new(
        urls: &RedisUrls,
        cluster: bool,
        sentinel: Option<&str>,
    ) -> Result<Self, RedisOpenError> {
        let raw = urls.as_slice();
        let shown = redacted(urls);
        let refuse = |reason: String| RedisOpenError {
            url: shown.clone(),
            reason,
        };
        let mode = match (cluster, sentinel) {
            (true, Some(_)) => {
                return Err(refuse(
                    "cluster = true and sentinel cannot both be set".into(),
                ))
            }
            (true, None) => RedisMode::Cluster,
            (false, Some("")) => return Err(refuse("sentinel names no service".into())),
            (false, Some(service)) => RedisMode::Sentinel {
                service: service.to_owned(),
            },
            (false, None) => RedisMode::Single,
        };
        if raw.is_empty() {
            return Err(refuse("no URL given".into()));
        }
        if mode == RedisMode::Single && raw.len() > 1 {
            return Err(refuse(format!(
                "{} URLs for one server; set cluster = true (the URLs are seeds) or sentinel = \"<service>\" (the URLs are sentinels)",
                raw.len()
            )));
        }
        let mut nodes = Vec::with_capacity(raw.len());
        for url in raw {
            let info = url
                .as_str()
                .into_connection_info()
                .map_err(|e| RedisOpenError {
                    url: redact(url),
                    reason: e.to_string(),
                })?;
            if matches!(info.addr(), ConnectionAddr::Unix(_)) && mode != RedisMode::Single {
                return Err(refuse(
                    "a unix socket cannot be a cluster seed or a sentinel".into(),
                ));
            }
            nodes.push(info);
        }
        if nodes.iter().any(|n| is_tls(n) != is_tls(&nodes[0])) {
            return Err(refuse(
                "mixes redis:// and rediss://; use one scheme for every node".into(),
            ));
        }
        let description = match &mode {
            RedisMode::Single => shown,
            RedisMode::Cluster => format!("cluster {shown}"),
            RedisMode::Sentinel { service } => format!("sentinel {service:?} at {shown}"),
        };
        Ok(Self {
            nodes,
            mode,
            ca_pem: None,
            description,
        })
    }

    /// The target a `gateway.toml` section names with `url`, `cluster`, `sentinel` and
    /// `ca_file`.
    pub fn from_section(
        urls: &RedisUrls,
        cluster: bool,
        sentinel: Option<&str>,
        ca_file: Option<&Path>,
    ) -> Result<Self, RedisOpenError> {
        let target = Self::new(urls, cluster, sentinel)?;
        match ca_file {
            Some(path) => target.with_ca_file(path),
            None => Ok(target),
        }
    }

    /// One server at `url`.
    pub fn single(url: &str) -> Result<Self, RedisOpenError> {
        Self::new(&RedisUrls::from(url), false, None)
    }

    /// Trusts `pem` (one or more PEM certificates) instead of the system's roots for
    /// `rediss://`.
    pub fn with_ca_pem(mut self, pem: Vec<u8>) -> Self {
        self.ca_pem = Some(pem);
        self
    }

    /// Trusts the PEM certificates in the file at `path` for `rediss://` (see
    /// [`with_ca_pem`](Self::with_ca_pem)).
    pub fn with_ca_file(self, path: &Path) -> Result<Self, RedisOpenError> {
        let pem = std::fs::read(path).map_err(|e| RedisOpenError {
            url: self.description.clone(),
            reason: format!("cannot read the CA file {}: {e}", path.display()),
        })?;
        if !self.is_tls() {
            return Err(RedisOpenError {
                url: self.description.clone(),
                reason: "a CA file is only used with rediss:// URLs".into(),
            });
        }
        Ok(self.with_ca_pem(pem))
    }

    /// The deployment for logs: mode and addresses, never a password.
    pub fn describe(&self) -> &str {
        &self.description
    }

    /// The mode.
    pub fn mode(&self) -> &RedisMode {
        &self.mode
    }

    pub(crate) fn is_tls(&self) -> bool {
        is_tls(&self.nodes[0])
    }
}

impl fmt::Debug for RedisTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisTarget")
            .field("target", &self.description)
            .field("ca_pem", &self.ca_pem.is_some())
            .finish()
    }
}

fn is_tls(info: &ConnectionInfo) -> bool {
    matches!(info.addr(), ConnectionAddr::TcpTls { .. })
}

/// The deployment a `gateway.toml` section names with its `cluster`, `sentinel` and `ca_file`,
/// checked but not connected.
pub(crate) fn section_target(
    urls: &RedisUrls,
    cluster: bool,
    sentinel: Option<&str>,
    ca_file: Option<&Path>,
) -> Result<RedisTarget, RedisOpenError> {
    RedisTarget::from_section(urls, cluster, sentinel, ca_file)
}

/// The URLs for messages, without passwords.
fn redacted(urls: &RedisUrls) -> String {
    let shown = urls.as_slice().iter().map(|u| redact(u));
    shown.collect::<Vec<_>>().join(", ")
}

/// `url` as `redis` reads it, with any password shown as `***`: scheme, user (it is not a
/// secret, and tells which ACL user was meant), host and port, and the database unless it is
/// 0. A URL `redis` cannot read is not shown at all.
pub(crate) fn redact(url: &str) -> String {
    let Ok(info) = url.into_connection_info() else {
        return "(not a Redis URL)".to_owned();
    };
    let settings = info.redis_settings();
    let user = settings.username().unwrap_or_default();
    let userinfo = match settings.password() {
        Some(_) => format!("{user}:***@"),
        None if user.is_empty() => String::new(),
        None => format!("{user}@"),
    };
    let db = match settings.db() {
        0 => String::new(),
        db => format!("/{db}"),
    };
    let scheme = match info.addr() {
        ConnectionAddr::TcpTls { .. } => "rediss",
        ConnectionAddr::Unix(_) => "redis+unix",
        _ => "redis",
    };
    // `host:port`, or the socket's path.
    format!("{scheme}://{userinfo}{}{db}", info.addr())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_shown_without_passwords() {
        assert_eq!(redact("redis://:pw@host:6379/0"), "redis://:***@host:6379");
        assert_eq!(
            redact("rediss://gw:p%40ss@host:6379/2"),
            "rediss://gw:***@host:6379/2"
        );
        assert_eq!(
            redact("rediss://gw:p@ss@host:6379"),
            "rediss://gw:***@host:6379"
        );
        assert_eq!(redact("redis://gw@host"), "redis://gw@host:6379");
        assert_eq!(redact("redis://127.0.0.1:1"), "redis://127.0.0.1:1");
        assert_eq!(redact("redis://host/0?x=a@b"), "redis://host:6379");
        assert_eq!(redact("http://:secret@x"), "(not a Redis URL)");
    }

    #[test]
    fn a_redacted_url_keeps_host_and_user_but_not_the_password() {
        let shown = redact("rediss://acl-user:s3cr3t@cache.internal:6380/1");
        assert!(shown.contains("acl-user"), "{shown}");
        assert!(shown.contains("cache.internal:6380"), "{shown}");
        assert!(!shown.contains("s3cr3t"), "{shown}");
    }

    #[test]
    fn modes_are_checked() {
        let two = RedisUrls::Many(vec!["redis://a:1".into(), "redis://b:2".into()]);
        let err = RedisTarget::new(&two, false, None).expect_err("two urls, one server");
        assert!(err.reason.contains("cluster = true"), "{err}");
        assert!(RedisTarget::new(&two, true, Some("m")).is_err());
        assert!(RedisTarget::new(&RedisUrls::Many(vec![]), true, None).is_err());
        assert!(RedisTarget::new(&two, false, Some("")).is_err());
        let cluster = RedisTarget::new(&two, true, None).expect("cluster");
        assert_eq!(cluster.describe(), "cluster redis://a:1, redis://b:2");
        let sentinel = RedisTarget::new(&two, false, Some("mymaster")).expect("sentinel");
        assert_eq!(
            sentinel.mode(),
            &RedisMode::Sentinel {
                service: "mymaster".into()
            }
        );
    }

    #[test]
    fn bad_urls_and_mixed_schemes_are_refused_without_showing_secrets() {
        let err = RedisTarget::single("http://:secret@x").expect_err("not redis");
        assert!(!err.to_string().contains("secret"), "{err}");
        let mixed = RedisUrls::Many(vec!["redis://a:1".into(), "rediss://b:2".into()]);
        let err = RedisTarget::new(&mixed, true, None).expect_err("mixed");
        assert!(err.reason.contains("one scheme"), "{err}");
        let debug = format!(
            "{:?}",
            RedisTarget::single("redis://:hunter2@h:1").expect("ok")
        );
        assert!(!debug.contains("hunter2"), "{debug}");
    }

    #[test]
    fn url_lists_deserialize_from_one_string_or_many() {
        let one: RedisUrls = serde_json::from_str(r#""redis://a:1""#).expect("one");
        assert_eq!(one.as_slice(), ["redis://a:1"]);
        let many: RedisUrls =
            serde_json::from_str(r#"["redis://a:1","redis://b:1"]"#).expect("many");
        assert_eq!(many.as_slice().len(), 2);
    }
}
