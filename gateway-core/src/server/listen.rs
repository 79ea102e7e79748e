//! The accept loop: connection limits, HTTP/1.1 and HTTP/2 (over TLS when configured), the
//! connection's deadlines, graceful shutdown.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, watch};
use tracing::{debug, info, warn};

use super::capacity::{Capacity, Limit};
use super::connection::{Connection, Listening};
use super::{Served, ServerBuilder};
use crate::error::GatewayError;

/// What a client over the connection limits is told before the connection closes.
static SERVICE_UNAVAILABLE: LazyLock<Vec<u8>> =
    LazyLock::new(|| GatewayError::TooManyConnections.to_http1_close());

/// The next connection of `listener`. An accept that fails (out of file descriptors, say)
/// is retried after a pause that grows while the failures last (10 ms, doubling to 1 s):
/// retrying at once would spin, and a fixed long pause would keep clients waiting once the cause
/// has passed. One warning per run of failures, not one per retry.
pub async fn accept(listener: &TcpListener) -> (TcpStream, SocketAddr) {
    let mut backoff = AcceptBackoff::default();
    loop {
        match listener.accept().await {
            Ok(accepted) => {
                if backoff.failures > 0 {
                    debug!(failures = backoff.failures, "accepting connections again");
                }
                return accepted;
            }
            Err(e) => {
                if backoff.failures == 0 {
                    warn!(error = %e, local = ?listener.local_addr().ok(),
                        "accept failed; retrying after pauses growing to 1 s until it succeeds");
                }
                tokio::time::sleep(backoff.next_pause()).await;
            }
        }
    }
}

/// The pauses between accepts that keep failing: 10 ms, doubling up to 1 s. A successful
/// accept starts afresh (each [`accept`] call has its own).
#[derive(Debug, Default)]
struct AcceptBackoff {
    /// Failures in a row so far.
    failures: u32,
}

impl AcceptBackoff {
    const FIRST: Duration = Duration::from_millis(10);
    const MAX: Duration = Duration::from_secs(1);

    /// The pause after one more failure.
    fn next_pause(&mut self) -> Duration {
        // 2^7 × 10 ms is past the cap already; the shift stays small however long it fails.
        let pause = Self::FIRST
            .saturating_mul(1 << self.failures.min(7))
            .min(Self::MAX);
        self.failures = self.failures.saturating_add(1);
        pause
    }
}

/// Starts serving `service` on `listener`: returns once every worker accepts, or with why one
/// could not start (the workers that did are stopped).
pub(super) async fn start<S: Served>(
    listener: TcpListener,
    service: S,
    setup: ServerBuilder,
) -> io::Result<Running> {
    let workers = setup.workers;
    let accepting = Accepting {
        capacity: Arc::new(Capacity::new(&setup.limits, setup.stats.clone())),
        listening: Arc::new(Listening::new(setup)),
        // Every connection holds a receiver: sending tells them all to finish, and the
        // channel closes once the last has.
        closing: Arc::new(watch::channel(()).0),
    };
    let (stop, phase) = watch::channel(Phase::Accepting);
    let (accept_loop, accept_loops) = mpsc::channel(1);
    let (worker, workers_left) = mpsc::channel(1);
    let running = Running {
        accepting: accepting.clone(),
        stop,
        accept_loops,
        workers: workers_left,
    };
    if workers == 0 {
        tokio::spawn(async move {
            accepting
                .run(&listener, service, until_finishing(phase))
                .await;
            drop((listener, accept_loop, worker));
        });
        return Ok(running);
    }
    let listener = listener.into_std()?;
    let mut starts = Vec::with_capacity(workers);
    for i in 0..workers {
        let thread = Worker {
            listener: listener.try_clone()?,
            service: service.clone(),
            accepting: accepting.clone(),
            phase: phase.clone(),
            accept_loop: accept_loop.clone(),
        };
        let (started, start) = oneshot::channel();
        let alive = worker.clone();
        std::thread::Builder::new()
            .name(format!("gateway-worker-{i}"))
            .spawn(move || {
                thread.run(started);
                drop(alive);
            })?;
        starts.push(start);
    }
    drop((listener, accept_loop, worker));
    // Every worker serves, or none does: a server missing workers it was asked for fails.
    for start in starts {
        start
            .await
            .unwrap_or_else(|_| Err(io::Error::other("a worker ended before serving")))?;
    }
    Ok(running)
}

/// A server whose accept loops are all running (see [`ServerBuilder::start`]). Dropping it
/// stops them at once and ends the workers, without a grace period.
pub struct Running {
    accepting: Accepting,
    stop: watch::Sender<Phase>,
    /// Closes once every accept loop has ended (each holds a sender).
    accept_loops: mpsc::Receiver<()>,
    /// Closes once every worker (or the one accept task) is done (each holds a sender).
    workers: mpsc::Receiver<()>,
}

impl Running {
    /// Serves until `shutdown` resolves; then stops accepting and gives requests in flight up
    /// to `grace` to finish.
    pub async fn serve_until(mut self, shutdown: impl Future<Output = ()>, grace: Duration) {
        shutdown.await;
        let _ = self.stop.send(Phase::Finishing);
        // A connection accepted after connections are told to finish would miss the word.
        all_dropped(&mut self.accept_loops).await;
        self.accepting.finish(grace).await;
        let _ = self.stop.send(Phase::Exit);
        all_dropped(&mut self.workers).await;
    }
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running").finish_non_exhaustive()
    }
}

/// Resolves once every sender of `receiver`'s channel has been dropped: each party holds one
/// for as long as it runs, and nothing is ever sent.
async fn all_dropped(receiver: &mut mpsc::Receiver<()>) {
    while receiver.recv().await.is_some() {}
}

/// Resolves when the server stops accepting (or is dropped).
async fn until_finishing(mut phase: watch::Receiver<Phase>) {
    let _ = phase.wait_for(|p| *p != Phase::Accepting).await;
}

/// What every accept loop of a server shares.
#[derive(Clone)]
struct Accepting {
    capacity: Arc<Capacity>,
    listening: Arc<Listening>,
    closing: Arc<watch::Sender<()>>,
}

impl Accepting {
    /// Accepts connections and spawns a task for each until `stop` resolves.
    async fn run<S: Served>(
        &self,
        listener: &TcpListener,
        service: S,
        stop: impl Future<Output = ()>,
    ) {
        let setup = &self.listening.setup;
        let mut stop = std::pin::pin!(stop);
        loop {
            let (stream, peer) = tokio::select! {
                accepted = accept(listener) => accepted,
                () = &mut stop => return,
            };
            if let Err(e) = stream.set_nodelay(true) {
                debug!(error = %e, "cannot set TCP_NODELAY");
            }
            let slot = match self.capacity.claim(peer.ip()) {
                Ok(slot) => slot,
                Err(limit) => {
                    tokio::spawn(refuse(stream, peer, limit, setup.clone()));
                    continue;
                }
            };
            let connection = Connection {
                listening: self.listening.clone(),
                service: service.clone(),
                peer,
                shutdown: self.closing.subscribe(),
                _slot: slot,
            };
            // TLS: the handshake runs in the connection's own task, so a slow client never
            // holds up the accept loop.
            match setup.tls.clone() {
                None => tokio::spawn(connection.serve_plain(stream)),
                Some(tls) => tokio::spawn(async move {
                    match tls.accept(stream).await {
                        Ok((stream, cert)) => connection.serve_tls(stream, cert).await,
                        Err(e) => debug!(%peer, error = %e, "TLS handshake failed"),
                    }
                }),
            };
        }
    }

    /// Tells every connection to finish and waits for them, up to `grace`.
    async fn finish(&self, grace: Duration) {
        info!("shutting down: waiting for in-flight requests");
        let _ = self.closing.send(());
        tokio::select! {
            () = self.closing.closed() => info!("all connections closed"),
            () = tokio::time::sleep(grace) => warn!(?grace, "grace period over; closing remaining connections"),
        }
    }
}

/// Where the workers of a server are: accepting, letting connections finish (the server
/// waits for them), or done (each worker's runtime ends, dropping what is left).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Accepting,
    Finishing,
    Exit,
}

/// One thread of a server with workers: a single-threaded runtime that accepts from its
/// clone of the listener and drives its connections, so a request, the upstream connections
/// it opens and its timers stay on one thread.
struct Worker<S> {
    listener: std::net::TcpListener,
    service: S,
    accepting: Accepting,
    phase: watch::Receiver<Phase>,
    /// Dropped when its accept loop ends.
    accept_loop: mpsc::Sender<()>,
}

impl<S: Served> Worker<S> {
    /// Serves until told to exit; `started` says whether it could start at all.
    fn run(self, started: oneshot::Sender<io::Result<()>>) {
        let runtime = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(runtime) => runtime,
            Err(e) => {
                let _ = started.send(Err(e));
                return;
            }
        };
        let Worker {
            listener,
            service,
            accepting,
            mut phase,
            accept_loop,
        } = self;
        runtime.block_on(async move {
            let listener = match TcpListener::from_std(listener) {
                Ok(listener) => listener,
                Err(e) => {
                    let _ = started.send(Err(e));
                    return;
                }
            };
            let _ = started.send(Ok(()));
            accepting
                .run(&listener, service, until_finishing(phase.clone()))
                .await;
            drop((listener, accept_loop));
            let _ = phase.wait_for(|p| *p == Phase::Exit).await;
        });
    }
}

/// Answers a connection over a limit with 503 and closes it, without waiting on the client
/// for more than a moment. A TLS listener closes it without a handshake: completing one for
/// a client the gateway has no room for would spend what the limit protects.
async fn refuse(mut stream: TcpStream, peer: SocketAddr, limit: Limit, setup: ServerBuilder) {
    let code = GatewayError::TooManyConnections.log_code();
    info!(code, %peer, ?limit, "connection refused: too many connections");
    if let Some(log) = &setup.access_log {
        log.log_refused(peer, 503, code);
    }
    if setup.tls.is_some() {
        return;
    }
    let answer = async {
        stream.write_all(&SERVICE_UNAVAILABLE).await?;
        stream.shutdown().await
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), answer).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_accepts_pause_10_ms_doubling_to_1_s() {
        let mut backoff = AcceptBackoff::default();
        let pauses: Vec<u128> = (0..10).map(|_| backoff.next_pause().as_millis()).collect();
        assert_eq!(pauses, [10, 20, 40, 80, 160, 320, 640, 1000, 1000, 1000]);
        backoff.failures = u32::MAX;
        assert_eq!(backoff.next_pause(), AcceptBackoff::MAX);
        assert_eq!(AcceptBackoff::default().next_pause(), AcceptBackoff::FIRST);
    }
}
