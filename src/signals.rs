//! What the linking process does on SIGINT, SIGTERM and SIGHUP: removes every temporary
//! file the link has open (its outputs in progress, cache entries being written), then
//! dies of the signal, so that an interrupted link leaves the previous outputs and nothing
//! else. (SIGKILL cannot be caught: the next link beside the output, or `cache gc`, sweeps
//! what it leaves; see `chainlink_linker::files::sweep_stale`.)
//!
//! The signals are blocked before any thread starts, so every thread inherits the mask and
//! one thread of ours receives them with `sigwait`: the cleanup runs as ordinary code, not
//! in a signal handler. Must not: take a signal the caller ignores (`nohup` ignores SIGHUP;
//! a background job, SIGINT) — except SIGTERM, which is how a dying parent stops its child.

/// The signals handled: those not ignored when the command started, and SIGTERM.
fn handled() -> Vec<libc::c_int> {
    [libc::SIGINT, libc::SIGTERM, libc::SIGHUP]
        .into_iter()
        .filter(|&signal| signal == libc::SIGTERM || !is_ignored(signal))
        .collect()
}

/// Whether `signal`'s disposition is "ignore" (inherited from the caller).
pub fn is_ignored(signal: libc::c_int) -> bool {
    // SAFETY: queries the current action only (a null new action changes nothing).
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        libc::sigaction(signal, std::ptr::null(), &mut action) == 0 && action.sa_sigaction == libc::SIG_IGN
    }
}

fn set_of(signals: &[libc::c_int]) -> libc::sigset_t {
    // SAFETY: initialises and fills a signal set we own.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for &signal in signals {
            libc::sigaddset(&mut set, signal);
        }
        set
    }
}

/// Blocks the handled signals in this thread (and so in every thread started after it).
/// Call before any other thread exists; then [`clean_up_on_signals`].
pub fn block() {
    let set = set_of(&handled());
    // SAFETY: changes this thread's signal mask with a set we own.
    unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
}

/// Starts the thread that waits for the signals [`block`] blocked: it removes the link's
/// temporaries (after which none can be created or renamed into place) and ends the
/// process with the signal it received.
pub fn clean_up_on_signals() {
    let signals = handled();
    let set = set_of(&signals);
    let started = std::thread::Builder::new().name("chainlink-signals".into()).spawn(move || {
        let mut signal: libc::c_int = 0;
        // SAFETY: waits for one of the signals in our own set.
        while unsafe { libc::sigwait(&set, &mut signal) } != 0 {}
        chainlink_linker::files::remove_temporaries();
        die_of(signal);
    });
    if started.is_err() {
        // No thread: let the signals act as they would have.
        // SAFETY: unblocks the set we blocked.
        unsafe { libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut()) };
    }
}

/// Ends the process as `signal` would by default.
pub fn die_of(signal: libc::c_int) -> ! {
    let set = set_of(&[signal]);
    // SAFETY: restores the default action, lets the signal through in this thread and
    // raises it; should the process still live, it exits as a shell reports the signal.
    unsafe {
        libc::signal(signal, libc::SIG_DFL);
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
        libc::raise(signal);
        libc::_exit(128 + signal)
    }
}

/// The signals a waiting parent passes on to its child (those it would otherwise die of).
pub fn forwarded() -> Vec<libc::c_int> {
    [libc::SIGINT, libc::SIGTERM, libc::SIGHUP].into_iter().filter(|&signal| !is_ignored(signal)).collect()
}
