//! Process signals: SIGINT and SIGTERM stop the server (SIGHUP reloads: see `reload`).

use std::future::Future;
use std::io;

use tracing::info;

/// Registers for SIGINT and SIGTERM now, and returns a future that resolves on either.
///
/// Registering before the listener is announced matters: a signal that arrives before its
/// handler exists would kill the process outright instead of draining it.
#[cfg(unix)]
pub(crate) fn shutdown_signal() -> io::Result<impl Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => info!("SIGINT received"),
            _ = terminate.recv() => info!("SIGTERM received"),
        }
    })
}

/// Resolves on Ctrl-C.
#[cfg(not(unix))]
pub(crate) fn shutdown_signal() -> io::Result<impl Future<Output = ()>> {
    Ok(async {
        if tokio::signal::ctrl_c().await.is_ok() {
            info!("Ctrl-C received");
        }
    })
}
