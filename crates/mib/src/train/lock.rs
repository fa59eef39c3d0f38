//! One training process per run folder: an advisory `flock` on `RUN/.lock`.
//!
//! [`RunLock::acquire`] takes an exclusive, non-blocking `flock(2)` on the lock file and writes the
//! holder's pid into it (for the message another process gets). The lock is released when the
//! [`RunLock`] is dropped, and the kernel releases it when the process dies however it dies
//! (SIGKILL included), so a lock never outlives its holder and a stale file blocks nothing. The
//! file itself is left in place: removing it would let a process that opened the old file and one
//! that created a new one both hold "the" lock.
//!
//! Advisory means only `mib` processes that take the lock are excluded; on platforms without
//! `flock` (non-Unix) acquiring always succeeds.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// The lock file's name inside a run folder.
pub const LOCK_FILE: &str = ".lock";

/// How often, and how long apart, [`RunLock::acquire`] tries before reporting the folder busy:
/// [`RunLock::check_free`] holds a shared lock for a moment, and must not make a real acquirer
/// fail.
const TRIES: u32 = 10;
const RETRY_MS: u64 = 10;

/// An exclusive lock on a run folder, held until dropped.
#[derive(Debug)]
pub struct RunLock {
    _file: File,
    path: PathBuf,
}

/// What `flock` on `file` gave.
enum Flock {
    Taken,
    Busy,
}

#[cfg(unix)]
fn try_flock(file: &File, exclusive: bool) -> std::io::Result<Flock> {
    use std::os::unix::io::AsRawFd;
    let op = if exclusive {
        libc::LOCK_EX
    } else {
        libc::LOCK_SH
    } | libc::LOCK_NB;
    loop {
        // SAFETY: flock on a file descriptor owned by `file`, open for the whole call.
        if unsafe { libc::flock(file.as_raw_fd(), op) } == 0 {
            return Ok(Flock::Taken);
        }
        let e = std::io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::EWOULDBLOCK) => return Ok(Flock::Busy),
            _ => return Err(e),
        }
    }
}

#[cfg(not(unix))]
fn try_flock(_file: &File, _exclusive: bool) -> std::io::Result<Flock> {
    Ok(Flock::Taken)
}

/// The error for a folder another process trains in; `pid` as read from the lock file.
fn busy(run_dir: &Path, pid: Option<u32>) -> Error {
    let who = match pid {
        Some(p) => format!("another mib process (pid {p})"),
        None => "another mib process".to_string(),
    };
    Error::Data(format!(
        "{}: {who} is training this run folder; wait for it or stop it",
        run_dir.display()
    ))
}

fn holder_pid(path: &Path) -> Option<u32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

impl RunLock {
    /// Takes the lock of `run_dir` (which must exist), or fails with an error naming the folder and
    /// the pid of the process that holds it.
    pub fn acquire(run_dir: &Path) -> Result<RunLock> {
        use std::io::Write;
        let path = run_dir.join(LOCK_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| Error::io("opening lock file", &path, e))?;
        for attempt in 0..TRIES {
            match try_flock(&file, true).map_err(|e| Error::io("locking", &path, e))? {
                Flock::Taken => {
                    // Only the holder writes: truncate the previous holder's pid, write ours.
                    file.set_len(0)
                        .map_err(|e| Error::io("writing lock file", &path, e))?;
                    writeln!(file, "{}", std::process::id())
                        .map_err(|e| Error::io("writing lock file", &path, e))?;
                    return Ok(RunLock { _file: file, path });
                }
                Flock::Busy if attempt + 1 < TRIES => {
                    std::thread::sleep(std::time::Duration::from_millis(RETRY_MS))
                }
                Flock::Busy => {}
            }
        }
        Err(busy(run_dir, holder_pid(&path)))
    }

    /// Fails, as [`RunLock::acquire`] would, when another process holds the lock of `run_dir`;
    /// takes nothing (a folder without a lock file is free).
    pub fn check_free(run_dir: &Path) -> Result<()> {
        let path = run_dir.join(LOCK_FILE);
        let file = match File::open(&path) {
            Ok(f) => f,
            // No folder yet (or a path that cannot be one): nothing holds it; creating the
            // folder reports the problem.
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
                ) =>
            {
                return Ok(())
            }
            Err(e) => return Err(Error::io("opening lock file", &path, e)),
        };
        match try_flock(&file, false).map_err(|e| Error::io("locking", &path, e))? {
            // Dropping `file` releases the shared lock at once.
            Flock::Taken => Ok(()),
            Flock::Busy => Err(busy(run_dir, holder_pid(&path))),
        }
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}
