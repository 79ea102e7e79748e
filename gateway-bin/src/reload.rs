//! Reload: on SIGHUP and when a watched file changes, load, validate and compile the
//! configuration again off the request path, and swap it in only when it is valid. Requests
//! already routed finish on the configuration they started with. An invalid configuration is
//! reported in full and changes nothing.
//!
//! Functions whose settings and files are unchanged keep running as they are (see
//! [`crate::identity`]); new ones are started, and the ones a reload replaces or removes are
//! retired once the calls they may still be serving have had their timeout to finish.
//!
//! Every trigger goes through one task, so reloads never overlap: a trigger that arrives
//! while a reload runs is served by one more reload after it.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use tokio::sync::{mpsc, watch, Mutex};
use tracing::{error, info, warn};

use gateway_core::function::RegisteredFunction;
use gateway_core::GatewayService;

use crate::changes::{Deployments, Summary};
use crate::cli::Source;
use crate::config::GatewaySection;
use crate::console::Board;
use crate::functions::{self, Readiness};
use crate::load::{load, Lasting, Loaded};
use crate::running::CurrentFunctions;
use crate::running::FunctionSet;
use crate::watch::{self as watcher, Roots, Trigger};

/// Everything a reload needs, and what the running configuration is.
#[derive(Debug)]
pub(crate) struct Reloader {
    source: Source,
    lasting: Lasting,
    service: GatewayService,
    shared: CurrentFunctions,
    functions: FunctionSet,
    deployments: Deployments,
    settings: GatewaySection,
    /// False with `--no-watch`: the settings cannot turn watching on then.
    may_watch: bool,
    /// What the running configuration is made of.
    running_roots: Roots,
    /// What the watcher looks at: the running configuration's files and, after a failed
    /// reload, the files of the attempt too, so that a fix anywhere is seen.
    watched: watch::Sender<Roots>,
    /// Where the console reads the last reload's outcome.
    board: Arc<Board>,
}

impl Reloader {
    /// The reloader of a gateway serving `loaded` (its compiled gateway already in `service`),
    /// and the receiver that tells the watcher what to watch.
    pub(crate) fn new(
        source: Source,
        lasting: Lasting,
        service: GatewayService,
        loaded: &Loaded,
        may_watch: bool,
        board: Arc<Board>,
    ) -> (Reloader, watch::Receiver<Roots>) {
        let running_roots = watcher::roots(&source);
        let settings = loaded.settings.clone();
        let initial = if may_watch && settings.watch {
            running_roots.clone()
        } else {
            Roots::new()
        };
        let (watched, receiver) = watch::channel(initial);
        let reloader = Reloader {
            source,
            lasting,
            service,
            shared: Arc::new(Mutex::new(loaded.functions.clone())),
            functions: loaded.functions.clone(),
            deployments: loaded.deployments.clone(),
            settings,
            may_watch,
            running_roots,
            watched,
            board,
        };
        (reloader, receiver)
    }

    /// The functions being served, kept up to date by reloads.
    pub(crate) fn current_functions(&self) -> CurrentFunctions {
        self.shared.clone()
    }

    /// Runs reloads one at a time, for as long as a sender of the returned channel lives.
    pub(crate) fn spawn(mut self) -> mpsc::Sender<Trigger> {
        let (sender, mut triggers) = mpsc::channel::<Trigger>(16);
        tokio::spawn(async move {
            while let Some(first) = triggers.recv().await {
                // Triggers that queued up during the last reload are all served by this one.
                let mut causes = vec![first];
                while let Ok(more) = triggers.try_recv() {
                    if !causes.contains(&more) {
                        causes.push(more);
                    }
                }
                // A bug that panics while loading must not end reloading for the process's
                // life: the attempt is refused like an invalid configuration, and the state it
                // would have replaced is only ever swapped at the end of a successful one.
                if AssertUnwindSafe(self.reload(&causes))
                    .catch_unwind()
                    .await
                    .is_err()
                {
                    error!("reload refused; the running configuration is unchanged: the reload failed unexpectedly (see the panic above)");
                    self.board
                        .refused("the reload failed unexpectedly (a panic)".to_owned());
                }
            }
        });
        sender
    }

    async fn reload(&mut self, causes: &[Trigger]) {
        let causes: Vec<String> = causes.iter().map(Trigger::to_string).collect();
        info!("reloading the configuration ({})", causes.join("; "));
        let attempted = watcher::roots(&self.source);
        let mut watched = if self.apply().await {
            self.running_roots = attempted;
            self.running_roots.clone()
        } else {
            self.running_roots.union(&attempted).cloned().collect()
        };
        if !(self.may_watch && self.settings.watch) {
            watched.clear();
        }
        self.watched.send_if_modified(|roots| {
            let modified = *roots != watched;
            *roots = std::mem::take(&mut watched);
            modified
        });
    }

    /// Loads the configuration and, when it is valid, swaps it in; says whether it did.
    async fn apply(&mut self) -> bool {
        let loaded = match load(
            &self.source,
            Readiness::Running(&self.functions),
            &self.lasting,
        )
        .await
        {
            Ok(loaded) => loaded,
            Err(e) => {
                error!("reload refused; the running configuration is unchanged: {e}");
                self.board.refused(e.to_string());
                return false;
            }
        };
        let Some(gateway) = loaded.gateway else {
            error!(
                errors = loaded.report.error_count(),
                "reload refused; the running configuration is unchanged:\n{}", loaded.report
            );
            self.board.refused(loaded.report.to_string());
            self.abandon(&loaded.functions).await;
            return false;
        };
        let broken = loaded.functions.broken_since(&self.functions);
        if !broken.is_empty() {
            error!(
                "reload refused; the running configuration is unchanged: functions that run now \
                 could not be made runnable in their new version:\n  {}",
                broken.join("\n  ")
            );
            self.board.refused(format!(
                "functions could not be made runnable in their new version: {}",
                broken.join("; ")
            ));
            self.abandon(&loaded.functions).await;
            return false;
        }
        if loaded.report.warning_count() > 0 {
            warn!("reloaded configuration has warnings:\n{}", loaded.report);
        }
        if (loaded.settings.listen, loaded.settings.admin_listen)
            != (self.settings.listen, self.settings.admin_listen)
        {
            warn!("listen and admin_listen changes are not applied by a reload; restart the gateway for them");
        }
        let summary = Summary {
            routes: gateway.routes().count(),
            deployments: loaded.deployments.changes_from(&self.deployments),
            functions: loaded.functions.changes_from(&self.functions),
        };
        self.service.replace(gateway);
        let retired = self.functions.not_shared_with(&loaded.functions);
        *self.shared.lock().await = loaded.functions.clone();
        self.functions = loaded.functions;
        self.deployments = loaded.deployments;
        self.settings = loaded.settings;
        info!(routes = summary.routes, "configuration reloaded: {summary}");
        self.board
            .reloaded(summary.to_string(), loaded.report.to_string());
        retire(retired);
        true
    }

    /// Stops what an abandoned attempt started; the running functions it took over stay.
    async fn abandon(&self, attempt: &FunctionSet) {
        functions::shutdown(&attempt.not_shared_with(&self.functions)).await;
    }
}

/// Stops `functions` once requests routed before the swap can no longer be calling them: none
/// outlives the longest call timeout among them.
fn retire(functions: Vec<RegisteredFunction>) {
    if functions.is_empty() {
        return;
    }
    let grace = functions
        .iter()
        .map(|f| f.timeout)
        .max()
        .unwrap_or(Duration::ZERO);
    tokio::spawn(async move {
        tokio::time::sleep(grace).await;
        functions::shutdown(&functions).await;
    });
}

/// Asks for a reload on every SIGHUP until the process ends.
#[cfg(unix)]
pub(crate) fn on_sighup(reloads: mpsc::Sender<Trigger>) -> std::io::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hangups = signal(SignalKind::hangup())?;
    tokio::spawn(async move {
        while hangups.recv().await.is_some() {
            if reloads.send(Trigger::Signal).await.is_err() {
                return;
            }
        }
    });
    Ok(())
}

/// Reload on a signal needs SIGHUP, which this platform does not have.
#[cfg(not(unix))]
pub(crate) fn on_sighup(_: mpsc::Sender<Trigger>) -> std::io::Result<()> {
    Ok(())
}
