//! The process pool of one function: at most `max_concurrency` processes, each serving one call
//! at a time; calls that find none idle start one (below the limit) or wait in a bounded queue;
//! idle processes are reaped after `idle_timeout`, `min_idle` are kept warm.
//!
//! Ownership rules that keep the accounting right whatever happens to a call's future:
//! - a process is either idle in the pool, starting (owned by its start task), or lent out in a
//!   [`Lease`]; `live` counts all three;
//! - a lease dropped in the middle of a call (deadline, client gone) kills its process, one
//!   dropped before its call started goes back to the pool;
//! - the pool lock is never held while a lease can be dropped or a waiter woken, because both
//!   may re-enter the pool.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::time::{Duration, Instant};

use gateway_core::function::{InvokeError, RuntimeStats};
use tokio::runtime::Handle;
use tokio::sync::oneshot;

use super::process::{self, Process, ProcessHandle, Spec, StartError, LOG_TARGET};

/// After a failed start, `min_idle` replenishment waits this long before trying again (calls
/// still start processes on demand).
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(5);

/// Pool limits and timings.
#[derive(Debug, Clone)]
pub(crate) struct PoolSettings {
    pub max_concurrency: usize,
    pub queue_size: usize,
    pub idle_timeout: Duration,
    pub min_idle: usize,
    pub start_timeout: Duration,
    pub shutdown_grace: Duration,
}

/// A snapshot of a pool, for diagnostics and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PoolStats {
    /// Processes started and not yet retired (idle + busy + starting).
    pub live: usize,
    /// Processes waiting for a call.
    pub idle: usize,
    /// Processes being started.
    pub starting: usize,
    /// Calls waiting for a process.
    pub waiting: usize,
}

type Waiter = oneshot::Sender<Result<Lease, InvokeError>>;

struct Idle {
    process: Process,
    since: Instant,
}

#[derive(Default)]
struct State {
    /// A stack: the most recently used process is reused first, so the others age and are
    /// reaped when traffic drops.
    idle: Vec<Idle>,
    waiters: VecDeque<Waiter>,
    live: usize,
    starting: usize,
    /// Every process spawned and not yet seen to exit, busy ones included, for shutdown.
    handles: Vec<ProcessHandle>,
    shutting_down: bool,
    last_start_failure: Option<Instant>,
}

pub(crate) struct PoolInner {
    function: Arc<str>,
    spec: Spec,
    settings: PoolSettings,
    state: Mutex<State>,
    /// Where processes are started and watched: the runtime the pool was created on (else
    /// that of its first call). A call may come from a runtime that ends before the pool does
    /// (a serving worker's, at shutdown); a process's monitor must outlive it to stop the
    /// process in order.
    runtime: OnceLock<Handle>,
    /// Whether the reaper of idle processes runs.
    reaping: std::sync::Once,
    cold_starts: AtomicU64,
    cold_start_micros: AtomicU64,
}

/// A pool handle (cheap to clone).
#[derive(Clone)]
pub(crate) struct Pool {
    inner: Arc<PoolInner>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("function", &self.inner.function)
            .field("settings", &self.inner.settings)
            .field("stats", &self.stats())
            .finish()
    }
}

impl Pool {
    pub(crate) fn new(spec: Spec, settings: PoolSettings) -> Pool {
        Pool {
            inner: Arc::new(PoolInner {
                function: spec.function.clone(),
                spec,
                settings,
                state: Mutex::new(State::default()),
                runtime: Handle::try_current().map_or_else(|_| OnceLock::new(), OnceLock::from),
                reaping: std::sync::Once::new(),
                cold_starts: AtomicU64::new(0),
                cold_start_micros: AtomicU64::new(0),
            }),
        }
    }

    /// A process for one call, waiting at most until `deadline`.
    pub(crate) async fn acquire(
        &self,
        deadline: Instant,
        budget: Duration,
    ) -> Result<Lease, InvokeError> {
        self.inner.acquire(deadline, budget).await
    }

    /// Starts the reaper and `min_idle` processes, and waits for those to be ready.
    pub(crate) async fn start(&self) -> Result<(), InvokeError> {
        self.inner.ensure_runtime();
        let needed = {
            let st = self.inner.lock();
            self.inner
                .settings
                .min_idle
                .saturating_sub(st.idle.len() + st.starting)
        };
        let mut tasks = Vec::with_capacity(needed);
        for _ in 0..needed {
            let inner = self.inner.clone();
            {
                let mut st = inner.lock();
                if st.shutting_down || st.live >= inner.settings.max_concurrency {
                    break;
                }
                st.live += 1;
                st.starting += 1;
            }
            // `ensure_runtime` above has given the pool a runtime: this one, at the latest.
            tasks.extend(self.inner.spawn(async move { inner.start_process().await }));
        }
        let mut first_error = None;
        for task in tasks {
            let result = task.await.unwrap_or_else(|e| {
                Err(InvokeError::Unavailable {
                    function: self.inner.function.clone(),
                    reason: format!("start task failed: {e}"),
                })
            });
            if let Err(e) = result {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Stops every process (SIGTERM, SIGKILL after the grace period), fails waiting calls, and
    /// returns once every process has exited and its socket directory is gone.
    pub(crate) async fn shutdown(&self) {
        let (idle, waiters, handles) = {
            let mut st = self.inner.lock();
            st.shutting_down = true;
            (
                std::mem::take(&mut st.idle),
                std::mem::take(&mut st.waiters),
                std::mem::take(&mut st.handles),
            )
        };
        for waiter in waiters {
            let _ = waiter.send(Err(self.inner.unavailable("the function is shutting down")));
        }
        let grace = self.inner.settings.shutdown_grace;
        for handle in &handles {
            handle.terminate(grace);
        }
        for handle in &handles {
            handle.wait_exit().await;
        }
        {
            let mut st = self.inner.lock();
            st.live = st.live.saturating_sub(idle.len());
        }
        drop(idle);
        process::remove_socket_base_if_empty();
    }

    pub(crate) fn stats(&self) -> PoolStats {
        let mut st = self.inner.lock();
        st.waiters.retain(|w| !w.is_closed());
        PoolStats {
            live: st.live,
            idle: st.idle.len(),
            starting: st.starting,
            waiting: st.waiters.len(),
        }
    }

    /// Processes by state, the queue and the cold starts so far.
    pub(crate) fn runtime_stats(&self) -> RuntimeStats {
        let stats = self.stats();
        RuntimeStats {
            idle: stats.idle,
            busy: stats.live.saturating_sub(stats.idle + stats.starting),
            starting: stats.starting,
            queued: stats.waiting,
            cold_starts: self.inner.cold_starts.load(Ordering::Relaxed),
            cold_start_seconds: self.inner.cold_start_micros.load(Ordering::Relaxed) as f64 / 1e6,
        }
    }

    /// The pids of processes that have not exited yet.
    pub(crate) fn pids(&self) -> Vec<u32> {
        let st = self.inner.lock();
        st.handles
            .iter()
            .filter(|h| !h.has_exited())
            .map(ProcessHandle::pid)
            .collect()
    }
}

impl PoolInner {
    fn lock(&self) -> MutexGuard<'_, State> {
        // The state stays consistent between statements; a panic elsewhere must not take
        // every later call down with it.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn unavailable(&self, reason: &str) -> InvokeError {
        InvokeError::Unavailable {
            function: self.function.clone(),
            reason: reason.to_string(),
        }
    }

    /// Remembers the runtime (unless the pool was created on one) and starts the reaper, once.
    fn ensure_runtime(self: &Arc<Self>) {
        if let Ok(current) = Handle::try_current() {
            let _ = self.runtime.set(current);
        }
        if self.runtime.get().is_none() {
            return;
        }
        self.reaping.call_once(|| {
            let weak = Arc::downgrade(self);
            let tick = (self.settings.idle_timeout / 4)
                .clamp(Duration::from_millis(20), Duration::from_secs(1));
            self.spawn(reaper(weak, tick));
        });
    }

    /// Runs `future` on the pool's runtime (the current one if none is known yet).
    fn spawn<F>(&self, future: F) -> Option<tokio::task::JoinHandle<F::Output>>
    where
        F: std::future::Future + Send + 'static,
        F::Output: Send + 'static,
    {
        match self.runtime.get() {
            Some(handle) => Some(handle.spawn(future)),
            None => Handle::try_current()
                .ok()
                .map(|handle| handle.spawn(future)),
        }
    }

    async fn acquire(
        self: &Arc<Self>,
        deadline: Instant,
        budget: Duration,
    ) -> Result<Lease, InvokeError> {
        self.ensure_runtime();
        let receiver = {
            let mut st = self.lock();
            if st.shutting_down {
                return Err(self.unavailable("the function is shutting down"));
            }
            while let Some(idle) = st.idle.pop() {
                if idle.process.has_exited() {
                    st.live = st.live.saturating_sub(1);
                    continue; // dropping a dead process only messages its monitor
                }
                return Ok(Lease::new(idle.process, self.clone()));
            }
            st.waiters.retain(|w| !w.is_closed());
            if st.live < self.settings.max_concurrency {
                self.start_locked(&mut st);
            } else if st.waiters.len().saturating_sub(st.starting) >= self.settings.queue_size {
                return Err(InvokeError::Busy {
                    function: self.function.clone(),
                });
            }
            let (sender, receiver) = oneshot::channel();
            st.waiters.push_back(sender);
            receiver
        };
        match tokio::time::timeout_at(deadline.into(), receiver).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(self.unavailable("the function is shutting down")),
            Err(_) => Err(InvokeError::Timeout {
                function: self.function.clone(),
                timeout: budget,
            }),
        }
    }

    /// Counts a new process and starts it in the background (lock held by the caller).
    fn start_locked(self: &Arc<Self>, st: &mut State) {
        st.live += 1;
        st.starting += 1;
        let inner = self.clone();
        self.spawn(async move {
            let _ = inner.start_process().await;
        });
    }

    /// Starts one process already counted in `live` and `starting`; hands it to the oldest
    /// waiter or parks it idle. A failure goes to the oldest waiter.
    async fn start_process(self: Arc<Self>) -> Result<(), InvokeError> {
        let started = Instant::now();
        let result = self.spawn_and_wait().await;
        {
            let mut st = self.lock();
            st.starting = st.starting.saturating_sub(1);
            if result.is_err() {
                st.live = st.live.saturating_sub(1);
                st.last_start_failure = Some(Instant::now());
            }
        }
        match result {
            Ok(process) => {
                self.cold_starts.fetch_add(1, Ordering::Relaxed);
                self.cold_start_micros.fetch_add(
                    started.elapsed().as_micros().min(u128::from(u64::MAX)) as u64,
                    Ordering::Relaxed,
                );
                tracing::debug!(
                    target: LOG_TARGET,
                    function = %self.function,
                    pid = process.pid(),
                    "process ready in {:.0?}",
                    started.elapsed()
                );
                self.dispatch(process);
                Ok(())
            }
            Err(error) => {
                tracing::warn!(target: LOG_TARGET, function = %self.function, "{error}");
                loop {
                    let waiter = self.lock().waiters.pop_front();
                    match waiter {
                        None => break,
                        Some(waiter) => {
                            if waiter.send(Err(error.clone())).is_ok() {
                                break;
                            }
                        }
                    }
                }
                self.start_for_waiters();
                Err(error)
            }
        }
    }

    async fn spawn_and_wait(&self) -> Result<Process, InvokeError> {
        let mut process = {
            let mut st = self.lock();
            if st.shutting_down {
                return Err(self.unavailable("the function is shutting down"));
            }
            // Spawned under the lock: shutdown, which takes it too, sees every process.
            let process = Process::spawn(&self.spec).map_err(|e| self.start_error(e))?;
            st.handles.retain(|h| !h.has_exited());
            st.handles.push(process.handle().clone());
            process
        };
        match process.wait_ready(self.settings.start_timeout).await {
            Ok(()) => Ok(process),
            Err(e) => Err(self.start_error(e)),
        }
    }

    fn start_error(&self, error: StartError) -> InvokeError {
        match error {
            StartError::Timeout => InvokeError::Timeout {
                function: self.function.clone(),
                timeout: self.settings.start_timeout,
            },
            other => InvokeError::Unavailable {
                function: self.function.clone(),
                reason: other.to_string(),
            },
        }
    }

    /// Gives a ready process to the oldest waiting call, or parks it idle.
    fn dispatch(self: &Arc<Self>, mut process: Process) {
        loop {
            if process.has_exited() {
                self.discard(process);
                return;
            }
            let waiter = {
                let mut st = self.lock();
                if st.shutting_down {
                    st.live = st.live.saturating_sub(1);
                    drop(st);
                    process.terminate(self.settings.shutdown_grace);
                    return;
                }
                match st.waiters.pop_front() {
                    Some(waiter) => waiter,
                    None => {
                        st.idle.push(Idle {
                            process,
                            since: Instant::now(),
                        });
                        return;
                    }
                }
            };
            // Outside the lock: a lease refused here is dropped on this thread.
            match waiter.send(Ok(Lease::new(process, self.clone()))) {
                Ok(()) => return,
                Err(Ok(lease)) => match lease.into_process() {
                    Some(p) => process = p,
                    None => return,
                },
                Err(Err(_)) => return,
            }
        }
    }

    /// Retires a process that must not serve again, and starts replacements for waiting calls.
    fn discard(self: &Arc<Self>, process: Process) {
        {
            let mut st = self.lock();
            st.live = st.live.saturating_sub(1);
        }
        drop(process); // kills it
        self.start_for_waiters();
    }

    /// Starts processes for waiting calls that no start in progress will serve.
    fn start_for_waiters(self: &Arc<Self>) {
        let mut st = self.lock();
        if st.shutting_down {
            return;
        }
        st.waiters.retain(|w| !w.is_closed());
        let mut uncovered = st.waiters.len().saturating_sub(st.starting);
        while uncovered > 0 && st.live < self.settings.max_concurrency {
            self.start_locked(&mut st);
            uncovered -= 1;
        }
    }

    /// One reaper tick: drops dead idle processes, stops those idle too long (keeping
    /// `min_idle`), and tops up `min_idle`. Returns false once the pool shuts down.
    fn reap(self: &Arc<Self>) -> bool {
        let mut expired = Vec::new();
        {
            let mut st = self.lock();
            if st.shutting_down {
                return false;
            }
            let before = st.idle.len();
            st.idle.retain(|i| !i.process.has_exited());
            let dead = before - st.idle.len();
            st.live = st.live.saturating_sub(dead);

            let now = Instant::now();
            // Oldest first: the stack's bottom has waited longest.
            while st.idle.len() > self.settings.min_idle
                && st
                    .idle
                    .first()
                    .is_some_and(|i| now.duration_since(i.since) >= self.settings.idle_timeout)
            {
                expired.push(st.idle.remove(0));
                st.live = st.live.saturating_sub(1);
            }

            let failed_recently = st
                .last_start_failure
                .is_some_and(|t| t.elapsed() < RETRY_AFTER_FAILURE);
            while !failed_recently
                && st.idle.len() + st.starting < self.settings.min_idle
                && st.live < self.settings.max_concurrency
            {
                self.start_locked(&mut st);
            }
        }
        for idle in expired {
            tracing::debug!(
                target: LOG_TARGET,
                function = %self.function,
                pid = idle.process.pid(),
                "stopping process idle for {:.0?}",
                idle.since.elapsed()
            );
            idle.process.terminate(self.settings.shutdown_grace);
        }
        true
    }
}

async fn reaper(pool: Weak<PoolInner>, tick: Duration) {
    loop {
        tokio::time::sleep(tick).await;
        let Some(inner) = pool.upgrade() else {
            return;
        };
        if !inner.reap() {
            return;
        }
    }
}

/// A process lent to one call. [`Lease::release`] returns it for reuse, [`Lease::discard`]
/// retires it; dropped without either, it is retired if a call was started on it (its state is
/// unknown) and returned otherwise.
pub(crate) struct Lease {
    process: Option<Process>,
    pool: Arc<PoolInner>,
    in_call: bool,
}

impl Lease {
    fn new(process: Process, pool: Arc<PoolInner>) -> Lease {
        Lease {
            process: Some(process),
            pool,
            in_call: false,
        }
    }

    /// The process, for a call: from now on, dropping the lease retires the process.
    pub(crate) fn begin_call(&mut self) -> Option<&mut Process> {
        self.in_call = true;
        self.process.as_mut()
    }

    pub(crate) fn process(&self) -> Option<&Process> {
        self.process.as_ref()
    }

    /// The call went well: the process serves the next one.
    pub(crate) fn release(mut self) {
        if let Some(process) = self.process.take() {
            self.pool.dispatch(process);
        }
    }

    /// The process must not serve again.
    pub(crate) fn discard(mut self) {
        if let Some(process) = self.process.take() {
            self.pool.discard(process);
        }
    }

    fn into_process(mut self) -> Option<Process> {
        self.process.take()
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(process) = self.process.take() {
            if self.in_call {
                self.pool.discard(process);
            } else {
                self.pool.dispatch(process);
            }
        }
    }
}
