//! Reload on SIGHUP: load and compile the configuration again, off the request path, and swap
//! it in only when it is valid. An invalid configuration is reported and changes nothing.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;
use tracing::{error, info, warn};

use gateway_core::backend::HttpClient;
use gateway_core::function::FunctionRegistry;
use gateway_core::GatewayService;

use crate::cli::Source;
use crate::functions::{self, Readiness};
use crate::load::load;

/// The functions currently served, so that a reload can retire them and shutdown can stop them.
pub(crate) type CurrentFunctions = Arc<Mutex<FunctionRegistry>>;

/// Reloads on every SIGHUP until the process ends.
#[cfg(unix)]
pub(crate) fn on_sighup(
    source: Source,
    http: HttpClient,
    service: GatewayService,
    current: CurrentFunctions,
) -> std::io::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hangups = signal(SignalKind::hangup())?;
    tokio::spawn(async move {
        while hangups.recv().await.is_some() {
            info!("SIGHUP received: reloading the configuration");
            reload(&source, &http, &service, &current).await;
        }
    });
    Ok(())
}

/// Reload is driven by SIGHUP, which this platform does not have.
#[cfg(not(unix))]
pub(crate) fn on_sighup(
    _: Source,
    _: HttpClient,
    _: GatewayService,
    _: CurrentFunctions,
) -> std::io::Result<()> {
    Ok(())
}

async fn reload(
    source: &Source,
    http: &HttpClient,
    service: &GatewayService,
    current: &CurrentFunctions,
) {
    let loaded = match load(source, Readiness::Running, http).await {
        Ok(loaded) => loaded,
        Err(e) => {
            error!(error = %e, "reload failed; the running configuration is unchanged");
            return;
        }
    };
    let Some(gateway) = loaded.gateway else {
        error!(
            errors = loaded.report.error_count(),
            "reload refused; the running configuration is unchanged:\n{}", loaded.report
        );
        functions::shutdown(&loaded.functions).await;
        return;
    };
    if loaded.report.warning_count() > 0 {
        warn!("reloaded configuration has warnings:\n{}", loaded.report);
    }
    let routes = gateway.routes().count();
    service.replace(gateway);
    let old = std::mem::replace(&mut *current.lock().await, loaded.functions);
    info!(routes, "configuration reloaded");
    // Requests routed before the swap may still be calling the old functions; none can outlive
    // the longest call timeout, so stop them after it.
    let grace = old
        .iter()
        .map(|f| f.timeout)
        .max()
        .unwrap_or(Duration::ZERO);
    tokio::spawn(async move {
        tokio::time::sleep(grace).await;
        functions::shutdown(&old).await;
    });
}
