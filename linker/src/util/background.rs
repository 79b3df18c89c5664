//! Work beside the link on a thread of its own at a low priority (nice 10): the early copy
//! of a prepared base's region, the hashing of new inputs ahead of the cache lookup. Such
//! work takes the core the link's mostly single-threaded phases leave idle and yields when
//! both are wanted.
//!
//! Must not: outlive its owner (dropping a job asks it to stop and waits for it), or hold
//! the process's memory-map lock for long (a low-priority thread preempted holding it
//! stalls the link's own threads: no `MADV_POPULATE` from here).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

/// A job running on its own low-priority thread; its result is `T`.
pub struct Background<T> {
    worker: Option<JoinHandle<T>>,
    stop: Arc<AtomicBool>,
}

/// What a job checks between its blocks of work: whether it is still wanted.
pub struct StopFlag(Arc<AtomicBool>);

impl StopFlag {
    pub fn is_set(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

impl<T: Send + 'static> Background<T> {
    /// Starts `work` on a thread named `name`; `None` if no thread can be started.
    pub fn spawn(name: &str, work: impl FnOnce(StopFlag) -> T + Send + 'static) -> Option<Background<T>> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = StopFlag(stop.clone());
        let worker = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                // SAFETY: changes only this thread's nice value (per thread on Linux).
                unsafe { libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, 10) };
                work(flag)
            })
            .ok()?;
        Some(Background { worker: Some(worker), stop })
    }

    /// Whether the job has finished (so that [`Background::finish`] will not wait).
    pub fn is_done(&self) -> bool {
        self.worker.as_ref().is_none_or(|worker| worker.is_finished())
    }

    /// Waits for the job; its result, `None` if it panicked.
    pub fn finish(mut self) -> Option<T> {
        self.worker.take()?.join().ok()
    }
}

impl<T> Drop for Background<T> {
    fn drop(&mut self) {
        if let Some(worker) = self.worker.take() {
            self.stop.store(true, Ordering::Relaxed);
            let _ = worker.join();
        }
    }
}
