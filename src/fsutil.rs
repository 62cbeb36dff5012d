//! Crash-safe file writing for everything huntbook writes (outputs, the state file, the run
//! report, the token cache): a file is replaced all at once or not at all, never left
//! half-written by a crash, a full disk or a signal.
//!
//! The technique is the classic one: write a hidden temporary file in the *same folder*
//! (`.NAME.huntbook-tmp-XXXXXX`), flush and `fsync` it, `rename` it over the target (atomic on
//! POSIX file systems), then `fsync` the folder so the rename itself survives a power loss.
//! Readers see the old content or the new content, nothing in between.
//!
//! - [`AtomicFile`] is a [`Write`]r; [`AtomicFile::commit`] publishes it. Dropping it without
//!   committing removes the temporary file and leaves the target untouched — which is exactly
//!   what a failed or interrupted step needs.
//! - Append mode ([`AtomicOptions::append`]) copies the current content into the temporary file
//!   first and appends after it, so an interrupted append leaves the old file whole. It costs a
//!   copy of the file per append, which is fine for the reports and JSON-lines files playbooks
//!   append to (megabytes); a file that grows to gigabytes wants one file per run instead.
//!   Appends to one file are serialised between huntbook processes by a lock on the folder, so
//!   two playbooks appending to the same file from cron never lose each other's lines.
//! - A process killed with SIGKILL cannot clean up, so its temporary file stays behind (hidden,
//!   and never mistaken for the target). The next write of the same target removes its
//!   leftovers older than [`STALE_TEMP_AGE`]; the state store removes those of the state file
//!   at once, under its run lock ([`remove_temps_of`]); [`cleanup_stale_temps`] does the same
//!   for a whole folder.
//!
//! These are blocking calls (plain `std::fs`); async callers run them on a blocking thread.

use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use tempfile::NamedTempFile;

/// The marker in every temporary file name, used to recognise leftovers.
pub const TEMP_MARKER: &str = ".huntbook-tmp-";

/// Leftover temporary files younger than this are left alone by [`cleanup_stale_temps`]: they
/// may belong to a run that is still writing (every write refreshes the file's mtime).
pub const STALE_TEMP_AGE: Duration = Duration::from_secs(10 * 60);

/// The longest part of the target's name kept in a temporary file's name, so that
/// `.NAME.huntbook-tmp-XXXXXX` stays under the usual 255-byte file name limit.
const MAX_NAME_IN_TEMP: usize = 160;

/// Symbolic links followed when resolving a target, before giving up (as the kernel does).
const MAX_SYMLINKS: usize = 40;

/// A file operation that failed, with the path it failed on.
#[derive(Debug, thiserror::Error)]
#[error("cannot {action} `{}`: {}", path.display(), describe_io(io))]
pub struct FsError {
    /// What was being done, as a verb phrase: `create folder`, `write`, `replace`, ….
    pub action: &'static str,
    /// The file or folder it was done to.
    pub path: PathBuf,
    /// The operating system's error.
    pub io: io::Error,
}

impl FsError {
    fn new(action: &'static str, path: impl Into<PathBuf>, io: io::Error) -> FsError {
        FsError {
            action,
            path: path.into(),
            io,
        }
    }

    /// The kind of the underlying I/O error.
    #[must_use]
    pub fn kind(&self) -> io::ErrorKind {
        self.io.kind()
    }
}

/// An I/O error in words a user acts on ("permission denied", "no space left on the device"),
/// falling back to the operating system's text.
#[must_use]
pub fn describe_io(e: &io::Error) -> String {
    use io::ErrorKind as K;
    // Our own explanations are already in words.
    if let Some(detail) = e.get_ref().and_then(|r| r.downcast_ref::<Detail>()) {
        return detail.0.clone();
    }
    let text = match e.kind() {
        K::NotFound => "no such file or folder",
        K::PermissionDenied => "permission denied",
        K::AlreadyExists => "it already exists",
        K::NotADirectory => "a part of the path is a file, not a folder",
        K::IsADirectory => "it is a folder",
        K::StorageFull => "no space left on the device",
        K::QuotaExceeded => "disk quota exceeded",
        K::ReadOnlyFilesystem => "the file system is read-only",
        K::CrossesDevices => "the temporary file and the target are on different file systems",
        K::InvalidFilename => "the file name is too long or not allowed",
        _ => return e.to_string(),
    };
    text.to_string()
}

/// An explanation carried inside an [`io::Error`], shown as is by [`describe_io`].
#[derive(Debug)]
struct Detail(String);

impl std::fmt::Display for Detail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Detail {}

/// Create a folder and its parents, explaining the usual failure: a part of the path that is a
/// file (`cannot create folder `out/x`: `out` is a file, not a folder`).
///
/// # Errors
/// When the folder cannot be created or `dir` exists and is not a folder.
pub fn create_dir_all(dir: &Path) -> Result<(), FsError> {
    if dir.as_os_str().is_empty() {
        return Ok(());
    }
    match fs::create_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) => {
            // Find the deepest existing part of the path that is not a folder: that is what the
            // user has to move, and the OS error does not say which one it is.
            let blocker = dir
                .ancestors()
                .filter(|p| !p.as_os_str().is_empty())
                .find(|p| p.symlink_metadata().is_ok_and(|m| !m.is_dir()) && !p.is_dir());
            match blocker {
                Some(file) => Err(FsError::new(
                    "create folder",
                    dir,
                    io::Error::new(
                        io::ErrorKind::NotADirectory,
                        Detail(format!("`{}` is a file, not a folder", file.display())),
                    ),
                )),
                None => Err(FsError::new("create folder", dir, e)),
            }
        }
    }
}

/// Create the folder a file will be written in, if it is missing.
///
/// # Errors
/// As [`create_dir_all`].
pub fn create_parent_dir(file: &Path) -> Result<(), FsError> {
    match file.parent() {
        Some(dir) => create_dir_all(dir),
        None => Ok(()),
    }
}

/// How an [`AtomicFile`] is opened.
#[derive(Debug, Clone)]
pub struct AtomicOptions {
    mode: Option<u32>,
    append: bool,
    create_parents: bool,
}

impl Default for AtomicOptions {
    fn default() -> AtomicOptions {
        AtomicOptions::new()
    }
}

impl AtomicOptions {
    /// Replace the whole file, create missing parent folders, and give the file the mode an
    /// existing target had (else the usual `0666` minus the umask).
    #[must_use]
    pub fn new() -> AtomicOptions {
        AtomicOptions {
            mode: None,
            append: false,
            create_parents: true,
        }
    }

    /// Set the file's permission bits exactly (Unix; ignored elsewhere), e.g. `0o600` for files
    /// holding secrets. The file is created with them, so it is never readable by others, even
    /// for a moment.
    #[must_use]
    pub fn mode(mut self, mode: u32) -> AtomicOptions {
        self.mode = Some(mode & 0o7777);
        self
    }

    /// Owner-only access (`0600`): for token caches and state.
    #[must_use]
    pub fn private(self) -> AtomicOptions {
        self.mode(0o600)
    }

    /// Keep the target's current content and add after it (see the module documentation).
    #[must_use]
    pub fn append(mut self, append: bool) -> AtomicOptions {
        self.append = append;
        self
    }

    /// Whether missing parent folders are created (default: yes).
    #[must_use]
    pub fn create_parents(mut self, create: bool) -> AtomicOptions {
        self.create_parents = create;
        self
    }

    /// Start writing `path`.
    ///
    /// # Errors
    /// When the folder cannot be created, the temporary file cannot be made there, or (append)
    /// the current content cannot be read.
    pub fn open(&self, path: impl AsRef<Path>) -> Result<AtomicFile, FsError> {
        AtomicFile::open_with(path.as_ref(), self)
    }
}

/// A file being written: published by [`commit`](AtomicFile::commit), discarded on drop.
#[derive(Debug)]
pub struct AtomicFile {
    target: PathBuf,
    writer: Option<BufWriter<NamedTempFile>>,
    written: u64,
    /// Held while appending (a lock on the target's folder); released on drop.
    _append_lock: Option<File>,
}

impl AtomicFile {
    /// Start replacing `path` with default [`AtomicOptions`].
    ///
    /// # Errors
    /// As [`AtomicOptions::open`].
    pub fn create(path: impl AsRef<Path>) -> Result<AtomicFile, FsError> {
        AtomicOptions::new().open(path)
    }

    fn open_with(path: &Path, options: &AtomicOptions) -> Result<AtomicFile, FsError> {
        let target = resolve_symlinks(path)?;
        let dir = parent_dir(&target);
        if options.create_parents {
            create_dir_all(&dir)?;
        }
        let append_lock = if options.append {
            lock_folder(&dir)?
        } else {
            None
        };
        let existing = match fs::metadata(&target) {
            Ok(m) if m.is_dir() => {
                return Err(FsError::new(
                    "write",
                    &target,
                    io::Error::from(io::ErrorKind::IsADirectory),
                ));
            }
            Ok(m) => Some(m),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(FsError::new("read", &target, e)),
        };

        // A run killed with SIGKILL leaves its temporary file behind; the next write of the
        // same target removes it once it is old enough not to belong to a writer still at
        // work. Best effort: a leftover that cannot be removed does not stop this write.
        let _ = remove_temps_of_older(&target, STALE_TEMP_AGE);

        let mut builder = tempfile::Builder::new();
        let prefix = temp_prefix(&target);
        builder.prefix(&prefix).suffix("").rand_bytes(6);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            // Created with the final mode (an explicit one, else 0666 minus the umask as any
            // new file), so a secret is never briefly readable by others.
            builder.permissions(fs::Permissions::from_mode(options.mode.unwrap_or(0o666)));
        }
        let temp = builder
            .tempfile_in(&dir)
            .map_err(|e| FsError::new("create a temporary file in", &dir, e))?;

        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            // An explicit mode is applied exactly (the umask may have removed bits); otherwise
            // a replaced file keeps the mode its owner gave it, as an editor would.
            let mode = options
                .mode
                .or_else(|| existing.as_ref().map(|m| m.permissions().mode() & 0o7777));
            if let Some(mode) = mode {
                temp.as_file()
                    .set_permissions(fs::Permissions::from_mode(mode))
                    .map_err(|e| FsError::new("set the permissions of", temp.path(), e))?;
            }
        }

        let mut writer = BufWriter::with_capacity(64 * 1024, temp);
        if options.append && existing.is_some() {
            let mut current = File::open(&target).map_err(|e| FsError::new("read", &target, e))?;
            io::copy(&mut current, &mut writer)
                .map_err(|e| FsError::new("copy the current content of", &target, e))?;
        }
        Ok(AtomicFile {
            target,
            writer: Some(writer),
            written: 0,
            _append_lock: append_lock,
        })
    }

    /// The file that [`commit`](AtomicFile::commit) replaces (symbolic links resolved).
    #[must_use]
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// The temporary file being written, until commit.
    #[must_use]
    pub fn temp_path(&self) -> Option<&Path> {
        self.writer.as_ref().map(|w| w.get_ref().path())
    }

    /// Bytes written through this handle so far (in append mode: only the new ones).
    #[must_use]
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Flush, `fsync`, rename over the target, and `fsync` the folder. Returns the bytes
    /// written through this handle.
    ///
    /// # Errors
    /// When any of these fail; the target is then unchanged and the temporary file removed.
    pub fn commit(mut self) -> Result<u64, FsError> {
        let Some(writer) = self.writer.take() else {
            return Ok(self.written);
        };
        let temp = writer
            .into_inner()
            .map_err(|e| FsError::new("write", &self.target, e.into_error()))?;
        temp.as_file()
            .sync_all()
            .map_err(|e| FsError::new("flush to disk", &self.target, e))?;
        // On failure the returned NamedTempFile is dropped here, which removes it.
        temp.persist(&self.target)
            .map_err(|e| FsError::new("replace", &self.target, e.error))?;
        sync_dir(&parent_dir(&self.target));
        Ok(self.written)
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let writer = self
            .writer
            .as_mut()
            .ok_or_else(|| io::Error::other(Detail("the file was already committed".into())))?;
        let n = writer.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        match self.writer.as_mut() {
            Some(w) => w.flush(),
            None => Ok(()),
        }
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if let Some(writer) = self.writer.take() {
            // Discard buffered bytes without writing them: the file is about to be deleted.
            let (temp, _unflushed) = writer.into_parts();
            drop(temp); // NamedTempFile removes itself
        }
    }
}

/// Replace `path` with `bytes` atomically, with default options.
///
/// # Errors
/// As [`AtomicOptions::open`] and [`AtomicFile::commit`].
pub fn write_atomic(path: impl AsRef<Path>, bytes: &[u8]) -> Result<u64, FsError> {
    write_atomic_with(path, bytes, &AtomicOptions::new())
}

/// Replace (or append to) `path` with `bytes` atomically.
///
/// # Errors
/// As [`AtomicOptions::open`] and [`AtomicFile::commit`].
pub fn write_atomic_with(
    path: impl AsRef<Path>,
    bytes: &[u8],
    options: &AtomicOptions,
) -> Result<u64, FsError> {
    let mut file = options.open(path)?;
    let target = file.target.clone();
    file.write_all(bytes)
        .map_err(|e| FsError::new("write", &target, e))?;
    file.commit()
}

/// Whether `name` is the name of one of our temporary files.
#[must_use]
pub fn is_temp_name(name: &str) -> bool {
    name.starts_with('.') && name.contains(TEMP_MARKER)
}

/// Remove temporary files left in `dir` by killed runs: hidden regular files whose name carries
/// [`TEMP_MARKER`] and that were last modified at least `older_than` ago ([`STALE_TEMP_AGE`] is
/// the usual value). Younger ones may belong to a run still writing and are kept; if one were
/// removed anyway, that run's commit would fail cleanly rather than publish a partial file.
/// A missing folder has nothing to clean. Returns the files removed.
///
/// # Errors
/// When the folder cannot be listed or a leftover cannot be removed.
pub fn cleanup_stale_temps(dir: &Path, older_than: Duration) -> Result<Vec<PathBuf>, FsError> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(FsError::new("list", dir, e)),
    };
    let now = SystemTime::now();
    let mut removed = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| FsError::new("list", dir, e))?;
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            continue;
        };
        if !is_temp_name(&name) {
            continue;
        }
        // symlink_metadata: never follow a link planted under our name.
        let Ok(meta) = entry.path().symlink_metadata() else {
            continue;
        };
        if !meta.is_file() {
            continue;
        }
        if age_of(&meta, now) < older_than {
            continue;
        }
        let path = entry.path();
        match fs::remove_file(&path) {
            Ok(()) => removed.push(path),
            // Another run cleaned it first.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(FsError::new("remove the leftover temporary file", path, e)),
        }
    }
    removed.sort();
    Ok(removed)
}

/// Remove every leftover temporary file of one target, whatever its age. Only for a caller
/// that holds a lock guaranteeing nobody else is writing that target (the state store does,
/// under its run lock). Returns the files removed.
///
/// # Errors
/// When the folder cannot be listed or a leftover cannot be removed.
pub fn remove_temps_of(target: &Path) -> Result<Vec<PathBuf>, FsError> {
    remove_temps_of_older(target, Duration::ZERO)
}

/// Remove the leftover temporary files of one target last modified at least `older_than` ago
/// (younger ones may belong to a run still writing it).
fn remove_temps_of_older(target: &Path, older_than: Duration) -> Result<Vec<PathBuf>, FsError> {
    let dir = parent_dir(target);
    let prefix = temp_prefix(target);
    let Some(prefix) = prefix.to_str() else {
        return Ok(Vec::new());
    };
    let now = SystemTime::now();
    let entries = match fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(FsError::new("list", &dir, e)),
    };
    let mut removed = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| FsError::new("list", &dir, e))?;
        let is_ours = entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.starts_with(prefix) && n.len() > prefix.len());
        if !is_ours {
            continue;
        }
        // symlink_metadata: never follow a link planted under our name.
        let Ok(meta) = entry.path().symlink_metadata() else {
            continue;
        };
        if !meta.is_file() || age_of(&meta, now) < older_than {
            continue;
        }
        let path = entry.path();
        match fs::remove_file(&path) {
            Ok(()) => removed.push(path),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(FsError::new("remove the leftover temporary file", path, e)),
        }
    }
    removed.sort();
    Ok(removed)
}

/// How long ago a file was last modified (zero when unknown or in the future).
fn age_of(meta: &fs::Metadata, now: SystemTime) -> Duration {
    meta.modified()
        .ok()
        .and_then(|m| now.duration_since(m).ok())
        .unwrap_or(Duration::ZERO)
}

/// The folder of a file path (`.` for a bare file name).
fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// `.NAME.huntbook-tmp-`, with NAME shortened to stay within file name limits.
fn temp_prefix(target: &Path) -> OsString {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut end = name.len().min(MAX_NAME_IN_TEMP);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    OsString::from(format!(".{}{TEMP_MARKER}", &name[..end]))
}

/// Follow symbolic links to the file they name, so that the link stays a link and its target
/// is replaced (as shell redirection does), and the temporary file is made beside the real
/// file, on its file system.
fn resolve_symlinks(path: &Path) -> Result<PathBuf, FsError> {
    let mut current = path.to_path_buf();
    for _ in 0..MAX_SYMLINKS {
        match current.symlink_metadata() {
            Ok(m) if m.file_type().is_symlink() => {
                let link = fs::read_link(&current)
                    .map_err(|e| FsError::new("read the link", &current, e))?;
                current = if link.is_absolute() {
                    link
                } else {
                    parent_dir(&current).join(link)
                };
            }
            _ => return Ok(current),
        }
    }
    Err(FsError::new(
        "resolve",
        path,
        io::Error::other(Detail("too many levels of symbolic links".into())),
    ))
}

/// Take an exclusive lock on a folder, waiting for other huntbook processes appending there.
#[cfg(unix)]
fn lock_folder(dir: &Path) -> Result<Option<File>, FsError> {
    let handle = File::open(dir).map_err(|e| FsError::new("open the folder", dir, e))?;
    fs4::FileExt::lock(&handle).map_err(|e| FsError::new("lock the folder", dir, e))?;
    Ok(Some(handle))
}

/// Folders cannot be opened as files here, so appends are not serialised between processes.
#[cfg(not(unix))]
fn lock_folder(_dir: &Path) -> Result<Option<File>, FsError> {
    Ok(None)
}

/// Make a rename in `dir` durable. A file system that cannot `fsync` a folder (some network
/// file systems) still has the new file in place, so a failure is only logged.
fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    {
        let result = File::open(dir).and_then(|d| d.sync_all());
        if let Err(e) = result {
            tracing::debug!(folder = %dir.display(), error = %e, "cannot fsync the folder after a rename");
        }
    }
    #[cfg(not(unix))]
    let _ = dir;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temps_in(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| is_temp_name(n))
            .collect();
        names.sort();
        names
    }

    #[test]
    fn write_atomic_replaces_content_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.json");
        fs::write(&path, "old").unwrap();
        assert_eq!(write_atomic(&path, b"new content").unwrap(), 11);
        assert_eq!(fs::read_to_string(&path).unwrap(), "new content");
        assert!(temps_in(dir.path()).is_empty());
    }

    #[test]
    fn dropping_without_commit_keeps_old_content_and_removes_temp() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.md");
        fs::write(&path, "old report").unwrap();
        let mut f = AtomicFile::create(&path).unwrap();
        f.write_all(b"half of a new rep").unwrap();
        f.flush().unwrap();
        let temp = f.temp_path().unwrap().to_path_buf();
        assert!(temp.exists(), "the temporary file exists while writing");
        let name = temp.file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.starts_with(".report.md.huntbook-tmp-"), "{name}");
        drop(f);
        assert_eq!(fs::read_to_string(&path).unwrap(), "old report");
        assert!(!temp.exists());
        assert!(temps_in(dir.path()).is_empty());
    }

    #[test]
    fn dropping_a_new_file_without_commit_creates_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new.csv");
        let mut f = AtomicFile::create(&path).unwrap();
        f.write_all(b"a,b\n").unwrap();
        drop(f);
        assert!(!path.exists());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn append_keeps_old_lines_and_counts_only_new_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hits.jsonl");
        let append = AtomicOptions::new().append(true);
        assert_eq!(
            write_atomic_with(&path, b"{\"n\":1}\n", &append).unwrap(),
            8
        );
        assert_eq!(
            write_atomic_with(&path, b"{\"n\":2}\n", &append).unwrap(),
            8
        );
        assert_eq!(fs::read_to_string(&path).unwrap(), "{\"n\":1}\n{\"n\":2}\n");
        // An interrupted append leaves the file as it was.
        let mut f = append.open(&path).unwrap();
        f.write_all(b"{\"n\":3").unwrap();
        drop(f);
        assert_eq!(fs::read_to_string(&path).unwrap(), "{\"n\":1}\n{\"n\":2}\n");
    }

    #[test]
    fn parents_are_created_and_a_file_in_the_way_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let nested = dir.path().join("reports/2026/11/out.md");
        write_atomic(&nested, b"x").unwrap();
        assert_eq!(fs::read_to_string(&nested).unwrap(), "x");

        fs::write(dir.path().join("blocker"), "i am a file").unwrap();
        let err = write_atomic(dir.path().join("blocker/sub/out.md"), b"x").unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("cannot create folder `"), "{msg}");
        assert!(msg.contains("blocker` is a file, not a folder"), "{msg}");
    }

    #[test]
    fn without_create_parents_a_missing_folder_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = AtomicOptions::new()
            .create_parents(false)
            .open(dir.path().join("missing/out.md"))
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert!(err.to_string().contains("no such file or folder"), "{err}");
    }

    #[test]
    fn writing_over_a_folder_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let err = write_atomic(dir.path(), b"x").unwrap_err();
        assert!(err.to_string().contains("it is a folder"), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn modes_private_preserved_and_default() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;

        let secret = dir.path().join("cache.json");
        write_atomic_with(&secret, b"{}", &AtomicOptions::new().private()).unwrap();
        assert_eq!(mode(&secret), 0o600);

        let shared = dir.path().join("shared.md");
        fs::write(&shared, "x").unwrap();
        fs::set_permissions(&shared, fs::Permissions::from_mode(0o640)).unwrap();
        write_atomic(&shared, b"y").unwrap();
        assert_eq!(mode(&shared), 0o640, "a replaced file keeps its mode");

        // A new file gets 0666 minus the umask, never tempfile's 0600.
        let fresh = dir.path().join("fresh.md");
        write_atomic(&fresh, b"z").unwrap();
        assert_ne!(mode(&fresh), 0o600);
        assert_eq!(mode(&fresh) & 0o600, 0o600);
    }

    #[cfg(unix)]
    #[test]
    fn a_symlink_target_is_replaced_and_the_link_kept() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("real")).unwrap();
        let real = dir.path().join("real/latest.md");
        fs::write(&real, "old").unwrap();
        let link = dir.path().join("latest.md");
        std::os::unix::fs::symlink("real/latest.md", &link).unwrap();
        write_atomic(&link, b"new").unwrap();
        assert!(link.symlink_metadata().unwrap().file_type().is_symlink());
        assert_eq!(fs::read_to_string(&real).unwrap(), "new");
    }

    #[test]
    fn cleanup_removes_only_old_temps() {
        let dir = tempfile::tempdir().unwrap();
        let stale = dir.path().join(".out.md.huntbook-tmp-abc123");
        let visible = dir.path().join("out.md.huntbook-tmp-abc123");
        let other = dir.path().join(".hidden");
        for p in [&stale, &visible, &other] {
            fs::write(p, "x").unwrap();
        }
        // Young leftovers are kept (they may be a live run's).
        assert!(
            cleanup_stale_temps(dir.path(), STALE_TEMP_AGE)
                .unwrap()
                .is_empty()
        );
        assert!(stale.exists());
        let removed = cleanup_stale_temps(dir.path(), Duration::ZERO).unwrap();
        assert_eq!(removed, vec![stale.clone()]);
        assert!(!stale.exists() && visible.exists() && other.exists());
        assert!(
            cleanup_stale_temps(&dir.path().join("missing"), Duration::ZERO)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn writing_a_target_removes_its_old_leftovers_and_keeps_young_ones() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.md");
        let old = dir.path().join(".out.md.huntbook-tmp-aaaaaa");
        let young = dir.path().join(".out.md.huntbook-tmp-bbbbbb");
        let others = dir.path().join(".other.md.huntbook-tmp-cccccc");
        for p in [&old, &young, &others] {
            fs::write(p, "half").unwrap();
        }
        let long_ago = SystemTime::now() - STALE_TEMP_AGE - Duration::from_secs(60);
        for p in [&old, &others] {
            File::options()
                .write(true)
                .open(p)
                .unwrap()
                .set_modified(long_ago)
                .unwrap();
        }
        let mut f = AtomicFile::create(&target).unwrap();
        f.write_all(b"whole").unwrap();
        f.commit().unwrap();
        assert_eq!(fs::read_to_string(&target).unwrap(), "whole");
        assert!(!old.exists(), "a killed run's leftover is removed");
        assert!(young.exists(), "a writer still at work keeps its file");
        assert!(
            others.exists(),
            "another target's leftovers are its own business"
        );
    }

    #[test]
    fn remove_temps_of_touches_only_that_targets_leftovers() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("pb.json");
        let mine = dir.path().join(".pb.json.huntbook-tmp-aaaaaa");
        let other = dir.path().join(".pb.json.bak.huntbook-tmp-bbbbbb");
        let another = dir.path().join(".other.json.huntbook-tmp-cccccc");
        for p in [&mine, &other, &another] {
            fs::write(p, "x").unwrap();
        }
        assert_eq!(remove_temps_of(&target).unwrap(), vec![mine.clone()]);
        assert!(!mine.exists() && other.exists() && another.exists());
    }

    #[test]
    fn long_names_are_shortened_in_the_temp_name() {
        let dir = tempfile::tempdir().unwrap();
        let name = format!("{}.md", "é".repeat(100)); // 203 bytes, multi-byte characters
        let path = dir.path().join(&name);
        let f = AtomicFile::create(&path).unwrap();
        let temp = f.temp_path().unwrap().file_name().unwrap().len();
        assert!(
            temp <= 1 + MAX_NAME_IN_TEMP + TEMP_MARKER.len() + 6,
            "{temp}"
        );
        f.commit().unwrap();
        assert!(path.exists());
    }

    #[cfg(unix)]
    #[test]
    fn concurrent_appends_from_threads_lose_no_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("shared.jsonl");
        let handles: Vec<_> = (0..4)
            .map(|t| {
                let path = path.clone();
                std::thread::spawn(move || {
                    for i in 0..10 {
                        let line = format!("{t}-{i}\n");
                        write_atomic_with(
                            &path,
                            line.as_bytes(),
                            &AtomicOptions::new().append(true),
                        )
                        .unwrap();
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 40, "{text}");
    }
}
