//! The per-playbook run lock: an exclusive, non-blocking `flock` on `NAME.lock` in the state
//! folder.
//!
//! The operating system releases the lock when the process ends, however it ends (SIGKILL and
//! OOM kills included), so there is never a stale lock to clean by hand. The lock file itself
//! is never deleted: removing it while another process waits to open it would let two runs
//! lock two different files of the same name. It holds the holder's process id and start time,
//! only to make "already running" messages useful.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use chrono::Utc;

use super::error::StateError;
use crate::fsutil::FsError;
use crate::template::value::format_datetime;

/// A held run lock; dropping it releases the lock.
#[derive(Debug)]
pub(crate) struct RunLock {
    path: PathBuf,
    // Holding the open file is what holds the lock.
    _file: File,
}

impl RunLock {
    /// Take the lock for `playbook` at `path`, or fail at once if another process holds it.
    pub(crate) fn acquire(path: &Path, playbook: &str) -> Result<RunLock, StateError> {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false) // a waiting holder's details must survive our open
            .open(path)
            .map_err(|e| FsError {
                action: "open the lock file",
                path: path.to_path_buf(),
                io: e,
            })?;
        match fs4::FileExt::try_lock(&file) {
            Ok(()) => {}
            Err(fs4::TryLockError::WouldBlock) => {
                return Err(StateError::AlreadyRunning {
                    playbook: playbook.to_string(),
                    lock_path: path.to_path_buf(),
                    holder: holder_of(&mut file),
                });
            }
            Err(fs4::TryLockError::Error(e)) => {
                return Err(FsError {
                    action: "lock",
                    path: path.to_path_buf(),
                    io: e,
                }
                .into());
            }
        }
        // Best effort: the details only decorate another run's error message.
        let note = format!(
            "{{\"pid\": {}, \"since\": \"{}\"}}\n",
            std::process::id(),
            format_datetime(Utc::now())
        );
        let _ = file
            .set_len(0)
            .and_then(|()| file.seek(SeekFrom::Start(0)))
            .and_then(|_| file.write_all(note.as_bytes()));
        Ok(RunLock {
            path: path.to_path_buf(),
            _file: file,
        })
    }

    /// The lock file.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

/// ` by process 1234 since …`, from the holder's note, or empty when it has not written one.
fn holder_of(file: &mut File) -> String {
    let mut text = String::new();
    if Read::by_ref(file)
        .take(4096)
        .read_to_string(&mut text)
        .is_err()
    {
        return String::new();
    }
    let Ok(note) = serde_json::from_str::<serde_json::Value>(text.trim()) else {
        return String::new();
    };
    match (
        note.get("pid").and_then(serde_json::Value::as_u64),
        note.get("since").and_then(serde_json::Value::as_str),
    ) {
        (Some(pid), Some(since)) => format!(" by process {pid} since {since}"),
        (Some(pid), None) => format!(" by process {pid}"),
        _ => String::new(),
    }
}
