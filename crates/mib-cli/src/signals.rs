//! Stop requests: SIGINT (Ctrl-C) and SIGTERM (cluster schedulers, `docker stop`, systemd) both ask
//! a training run to checkpoint and stop cleanly, and the first signal to arrive is remembered.
//!
//! - First SIGINT or SIGTERM: the stop flag is set; the loop checkpoints and returns.
//! - SIGINT while a stop is under way: exit at once with 130 (as before, "Ctrl-C again to quit").
//! - SIGTERM while a stop is under way: ignored (the checkpoint is on its way; the sender's
//!   SIGKILL deadline, if any, still applies).
//! - After a stop that SIGTERM asked for, the process exits with 143 (128 + 15) once the checkpoint
//!   is written ([`exit_code`]), so schedulers can tell "stopped on request, resumable" from success
//!   (0) and failure (1). A stop asked for by Ctrl-C keeps its exit status.
//!
//! The handler, installed with `sigaction`, only touches atomics and calls the async-signal-safe
//! `write(2)` and `_exit(2)`.

use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Arc, Once, OnceLock};

/// The stop flag handed to the training loop.
static STOP: OnceLock<Arc<AtomicBool>> = OnceLock::new();
/// The first stop signal received (0: none).
static RECEIVED: AtomicI32 = AtomicI32::new(0);
/// Whether the first signal prints a line (for commands without a progress bar's own message).
static NOTICE: AtomicBool = AtomicBool::new(false);
static INSTALL: Once = Once::new();

/// The stop flag set by the first SIGINT or SIGTERM, installing the handlers on the first call.
/// With `notice`, the first signal also prints "stopping after a checkpoint" on stderr.
pub(crate) fn stop_flag(notice: bool) -> Arc<AtomicBool> {
    NOTICE.fetch_or(notice, Ordering::SeqCst);
    let flag = STOP
        .get_or_init(|| Arc::new(AtomicBool::new(false)))
        .clone();
    INSTALL.call_once(install);
    flag
}

/// The exit status the process must end with after a stop asked for by a signal: `Some(143)` after
/// SIGTERM, `None` otherwise (no signal, or Ctrl-C, whose stop keeps the usual status).
pub(crate) fn exit_code() -> Option<i32> {
    #[cfg(unix)]
    if RECEIVED.load(Ordering::SeqCst) == libc::SIGTERM {
        return Some(128 + libc::SIGTERM);
    }
    None
}

#[cfg(unix)]
fn install() {
    let handler: extern "C" fn(libc::c_int) = on_signal;
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: a zeroed sigaction with an empty mask and our handler, which is
        // async-signal-safe (atomics, write, _exit only).
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = handler as libc::sighandler_t;
            sa.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }
}

#[cfg(not(unix))]
fn install() {}

#[cfg(unix)]
extern "C" fn on_signal(sig: libc::c_int) {
    if RECEIVED
        .compare_exchange(0, sig, Ordering::SeqCst, Ordering::SeqCst)
        .is_err()
    {
        if sig == libc::SIGINT {
            // SAFETY: _exit is async-signal-safe.
            unsafe { libc::_exit(130) }
        }
        return;
    }
    if let Some(f) = STOP.get() {
        f.store(true, Ordering::SeqCst);
    }
    if NOTICE.load(Ordering::SeqCst) {
        let msg: &[u8] = if sig == libc::SIGTERM {
            b"\nSIGTERM: stopping after a checkpoint\n"
        } else {
            b"\nstopping after a checkpoint (Ctrl-C again to quit at once)\n"
        };
        // SAFETY: write(2) is async-signal-safe; the buffer is static.
        unsafe {
            libc::write(2, msg.as_ptr().cast(), msg.len());
        }
    }
}
