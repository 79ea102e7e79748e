//! What the configuration needs from Redis support when the gateway is built without the
//! `redis` feature: a target that cannot exist, and the refusal of every section naming one.

use std::convert::Infallible;
use std::path::Path;

use crate::store::{RedisOpenError, RedisUrls};

/// A Redis deployment, of which there is none without the `redis` feature.
pub(crate) type RedisTarget = Infallible;

/// Every section that names Redis is refused, never served from memory instead. Without `redis`
/// there is nothing to read the URLs with: none is shown, so that no password can be.
pub(crate) fn section_target(
    _urls: &RedisUrls,
    _cluster: bool,
    _sentinel: Option<&str>,
    _ca_file: Option<&Path>,
) -> Result<RedisTarget, RedisOpenError> {
    Err(RedisOpenError {
        url: "the configured URL".to_owned(),
        reason: "this gateway was built without the `redis` feature".to_owned(),
    })
}
