//! Lets `chainlink link` exit as soon as its output is in place.
//!
//! Releasing what a big link mapped and allocated takes a sizeable part of a warm relink
//! (unmapping the output and the inputs, freeing the symbol tables). The command therefore
//! forks before it starts any thread: the child links and, once the output, the cache
//! entries and every report are complete, tells the waiting parent its exit code and
//! exits without running destructors; the parent exits with that code at once, and the
//! kernel's teardown of the child no longer delays the caller (mold does the same).
//! `--no-fork` links in the one process.
//!
//! Must not: let the parent exit before the child has finished everything the caller can
//! observe, or leave a child running when the parent is gone (it gets SIGTERM when its
//! parent dies, and the signals the parent receives are passed on to it: either way it
//! removes its temporaries and dies; see signals.rs).
//! Known window: the child's writable mapping of the output lives until the kernel has torn
//! it down, a few milliseconds after the parent exits; executing the output in that window
//! fails with ETXTBSY (loading it, as `dlopen` and `ld.so` do, is unaffected).

use std::io::Write as _;

/// The child's end of the pipe to its waiting parent; `None` when linking unforked.
pub struct Parent {
    pipe: Option<libc::c_int>,
}

impl Parent {
    /// Linking unforked: nobody to tell; this process handles the signals (signals.rs).
    /// Call before any thread starts.
    pub fn none() -> Parent {
        crate::signals::block();
        crate::signals::clean_up_on_signals();
        Parent { pipe: None }
    }

    /// Tells the parent the exit code and, in a forked child, exits with it: whatever the
    /// link still holds is the kernel's to release. Every descriptor is closed first
    /// (standard output and error pointed at /dev/null), so that a caller waiting for the
    /// end of a pipe it passed sees it when the parent exits, not after the teardown.
    pub fn release(&mut self, code: u8) {
        let Some(pipe) = self.pipe.take() else { return };
        let _ = std::io::stdout().flush();
        let _ = std::io::stderr().flush();
        // SAFETY: plain descriptor calls; nothing of this process runs after `_exit`, so
        // no owner of a closed descriptor is left to use or close it again.
        unsafe {
            let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC);
            if null >= 0 {
                libc::dup2(null, libc::STDOUT_FILENO);
                libc::dup2(null, libc::STDERR_FILENO);
                libc::close(null);
            } else {
                libc::close(libc::STDOUT_FILENO);
                libc::close(libc::STDERR_FILENO);
            }
            libc::write(pipe, [code].as_ptr().cast(), 1);
            libc::close_range(3, libc::c_uint::MAX, 0);
            libc::_exit(code as libc::c_int);
        }
    }
}

/// Forks; returns in the child. The parent never returns: it waits for the child's exit
/// code (or, should the child die first, its status) and exits with it. When no child can
/// be made, links unforked.
pub fn fork() -> Parent {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: pipe2 writes two descriptors into the array we pass.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Parent::none();
    }
    let [read_end, write_end] = fds;
    // SAFETY: getpid has no preconditions.
    let parent_pid = unsafe { libc::getpid() };
    // SAFETY: no other thread exists yet (the worker threads start later), so the child
    // is a faithful copy of this single-threaded process.
    let child = unsafe { libc::fork() };
    match child {
        -1 => {
            // SAFETY: closing the pipe we just made.
            unsafe {
                libc::close(read_end);
                libc::close(write_end);
            }
            Parent::none()
        }
        0 => {
            // Signals go to a thread of the child's own, which removes its temporaries.
            crate::signals::block();
            // SAFETY: descriptor and process calls with no memory arguments.
            unsafe {
                libc::close(read_end);
                // A child whose parent is gone (killed by a timeout, say) stops too, and
                // removes its temporaries as it goes (SIGTERM: see signals.rs).
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM as libc::c_ulong);
                if libc::getppid() != parent_pid {
                    libc::_exit(1);
                }
            }
            crate::signals::clean_up_on_signals();
            Parent { pipe: Some(write_end) }
        }
        child => {
            // SAFETY: closing our copy of the child's end, so that its death reads as EOF.
            unsafe { libc::close(write_end) };
            forward_signals_to(child);
            wait_for(child, read_end)
        }
    }
}

/// The child a waiting parent passes its signals on to.
static CHILD: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

extern "C" fn forward(signal: libc::c_int) {
    let child = CHILD.load(std::sync::atomic::Ordering::Relaxed);
    if child > 0 {
        // SAFETY: kill is async-signal-safe.
        unsafe { libc::kill(child, signal) };
    }
}

/// SIGINT, SIGTERM and SIGHUP (those not ignored) sent to the waiting parent go to the
/// child, which removes its temporaries and dies of them; the parent then dies of the same
/// signal (see `wait_for`). (A parent killed outright takes the child with it: SIGTERM,
/// by `PR_SET_PDEATHSIG`.)
fn forward_signals_to(child: libc::pid_t) {
    CHILD.store(child, std::sync::atomic::Ordering::Relaxed);
    for signal in crate::signals::forwarded() {
        // SAFETY: installs a handler that only calls kill; SA_RESTART keeps the wait going.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = forward as *const () as libc::sighandler_t;
            action.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(signal, &action, std::ptr::null_mut());
        }
    }
}

fn wait_for(child: libc::pid_t, read_end: libc::c_int) -> ! {
    let mut code = 0u8;
    loop {
        // SAFETY: reads at most one byte into `code`.
        let read = unsafe { libc::read(read_end, (&mut code as *mut u8).cast(), 1) };
        if read == 1 {
            // SAFETY: nothing of the parent's needs flushing or dropping.
            unsafe { libc::_exit(code as libc::c_int) };
        }
        if read == 0 || std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            break;
        }
    }
    // The child ended without a word (a crash): exit as it did.
    let mut status = 0;
    // SAFETY: waits for our own child; writes only `status`.
    while unsafe { libc::waitpid(child, &mut status, 0) } < 0 {
        if std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            // SAFETY: as above.
            unsafe { libc::_exit(1) };
        }
    }
    // A signal that dumps core is reported as an exit code instead of raised again: the
    // parent's own (empty) core would overwrite the child's.
    if libc::WIFSIGNALED(status) && !libc::WCOREDUMP(status) && !dumps_core(libc::WTERMSIG(status)) {
        let signal = libc::WTERMSIG(status);
        // SAFETY: restore the default action and die of the same signal.
        unsafe {
            libc::signal(signal, libc::SIG_DFL);
            libc::kill(libc::getpid(), signal);
        }
        // SAFETY: as above.
        unsafe { libc::_exit(128 + signal) };
    }
    if libc::WIFSIGNALED(status) {
        // SAFETY: as above.
        unsafe { libc::_exit(128 + libc::WTERMSIG(status)) };
    }
    // SAFETY: as above.
    unsafe { libc::_exit(libc::WEXITSTATUS(status)) }
}

fn dumps_core(signal: libc::c_int) -> bool {
    [
        libc::SIGQUIT,
        libc::SIGILL,
        libc::SIGTRAP,
        libc::SIGABRT,
        libc::SIGBUS,
        libc::SIGFPE,
        libc::SIGSEGV,
        libc::SIGXCPU,
        libc::SIGXFSZ,
        libc::SIGSYS,
    ]
    .contains(&signal)
}
