//! The process's limit on open files, raised for serving.

use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
use tracing::{debug, warn};

/// Raises the soft limit on open files to the hard limit. Every client connection, upstream
/// connection and function socket is a descriptor, and the soft limit is often 1,024 where the
/// hard one is 524,288 or more: left as it is, it would cap the gateway at a few hundred
/// clients. The hard limit is the system's answer to how many a process may have; servers
/// take it, as nginx's `worker_rlimit_nofile` and Go's runtime do. Function processes
/// inherit the raised limit.
pub(crate) fn raise_to_hard_limit() {
    let limit = getrlimit(Resource::Nofile);
    if limit.current == limit.maximum {
        return;
    }
    let raised = Rlimit {
        current: limit.maximum,
        maximum: limit.maximum,
    };
    match setrlimit(Resource::Nofile, raised) {
        Ok(()) => debug!(
            from = ?limit.current,
            to = ?limit.maximum,
            "raised the open files limit to its hard limit"
        ),
        Err(e) => warn!(
            limit = ?limit.current,
            error = %e,
            "cannot raise the open files limit; it caps the connections served"
        ),
    }
}
