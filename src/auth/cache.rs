//! The user-context token cache: one JSON file (mode 0600, written atomically) holding, per
//! authority + tenant + client, the refresh token and who it belongs to — never access tokens,
//! which are short-lived and cheap to re-mint from the refresh token.

use std::fmt;
use std::fs::{self, File};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::error::AuthError;
use crate::fsutil::{self, AtomicOptions};

const FILE_VERSION: u32 = 1;

/// Who a cached sign-in belongs to (from the ID token / access token claims).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// The user's sign-in name (UPN).
    #[serde(default)]
    pub username: Option<String>,
    /// Display name.
    #[serde(default)]
    pub name: Option<String>,
    /// Object id of the user.
    #[serde(default)]
    pub object_id: Option<String>,
    /// The home tenant id (`tid`).
    #[serde(default)]
    pub tenant_id: Option<String>,
}

/// One cached sign-in.
#[derive(Clone, Serialize, Deserialize)]
pub struct CacheEntry {
    /// The login host it was obtained from (a refresh token is only good there).
    pub authority: String,
    /// Tenant id or domain as configured.
    pub tenant_id: String,
    /// Application (client) id.
    pub client_id: String,
    /// The signed-in account.
    #[serde(default)]
    pub account: Account,
    /// The refresh token.
    #[serde(serialize_with = "expose")]
    pub refresh_token: SecretString,
    /// When the entry was last written.
    pub written_at: DateTime<Utc>,
}

fn expose<S: serde::Serializer>(s: &SecretString, ser: S) -> Result<S::Ok, S::Error> {
    ser.serialize_str(s.expose_secret())
}

impl fmt::Debug for CacheEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheEntry")
            .field("authority", &self.authority)
            .field("tenant_id", &self.tenant_id)
            .field("client_id", &self.client_id)
            .field("account", &self.account)
            .field("refresh_token", &"[REDACTED]")
            .field("written_at", &self.written_at)
            .finish()
    }
}

/// What `auth status` may show of an entry: everything but the token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CacheSummary {
    pub authority: String,
    pub tenant_id: String,
    pub client_id: String,
    pub account: Account,
    pub written_at: DateTime<Utc>,
}

#[derive(Serialize, Deserialize, Default)]
struct CacheFile {
    version: u32,
    #[serde(default)]
    entries: Vec<CacheEntry>,
}

/// The cache file. Cheap to clone; every operation re-reads the file under a lock, so
/// concurrent huntbook processes (two cron jobs) never lose each other's entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenCache {
    path: PathBuf,
}

fn same_key(e: &CacheEntry, authority: &str, tenant: &str, client: &str) -> bool {
    e.authority.trim_end_matches('/') == authority.trim_end_matches('/')
        && e.tenant_id.eq_ignore_ascii_case(tenant)
        && e.client_id.eq_ignore_ascii_case(client)
}

impl TokenCache {
    /// A cache at this path.
    #[must_use]
    pub fn new(path: impl Into<PathBuf>) -> TokenCache {
        TokenCache { path: path.into() }
    }

    /// `<user cache dir>/huntbook/token-cache.json` (e.g. `~/.cache/huntbook/…` on Linux).
    #[must_use]
    pub fn default_path() -> Option<PathBuf> {
        dirs::cache_dir().map(|d| d.join("huntbook").join("token-cache.json"))
    }

    /// The file path.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self, detail: impl fmt::Display) -> AuthError {
        AuthError::Cache {
            path: self.path.clone(),
            detail: detail.to_string(),
        }
    }

    fn read(&self) -> Result<CacheFile, AuthError> {
        let bytes = match fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(CacheFile::default()),
            Err(e) => return Err(self.err(e)),
        };
        warn_if_open(&self.path);
        // serde_json errors quote at most a location, never the content.
        let file: CacheFile = serde_json::from_slice(&bytes).map_err(|e| {
            self.err(format!(
                "not a huntbook token cache ({e}); delete it or run `huntbook auth logout`"
            ))
        })?;
        if file.version != FILE_VERSION {
            return Err(self.err(format!(
                "written by another huntbook version (format {}, expected {FILE_VERSION}); run `huntbook auth login` again",
                file.version
            )));
        }
        Ok(file)
    }

    fn lock(&self) -> Result<File, AuthError> {
        let dir = self.dir();
        create_private_dir(&dir)
            .map_err(|e| self.err(format!("cannot create {}: {e}", dir.display())))?;
        let mut lock_path = self.path.clone().into_os_string();
        lock_path.push(".lock");
        let f = open_private(Path::new(&lock_path))
            .map_err(|e| self.err(format!("cannot open lock file: {e}")))?;
        f.lock()
            .map_err(|e| self.err(format!("cannot lock: {e}")))?;
        Ok(f)
    }

    fn dir(&self) -> PathBuf {
        match self.path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        }
    }

    fn write(&self, file: &CacheFile) -> Result<(), AuthError> {
        let json = serde_json::to_vec_pretty(file).map_err(|e| self.err(e))?;
        // Readers see the old or the new file, never half of one; the file is 0600 from its
        // creation. The folder already exists (0700): `lock` made it.
        let options = AtomicOptions::new().private().create_parents(false);
        fsutil::write_atomic_with(&self.path, &json, &options).map_err(|e| {
            self.err(format!(
                "cannot {} it: {}",
                e.action,
                fsutil::describe_io(&e.io)
            ))
        })?;
        Ok(())
    }

    /// The entry for this authority, tenant and client, if any.
    ///
    /// # Errors
    /// An unreadable or foreign file.
    pub fn load(
        &self,
        authority: &str,
        tenant: &str,
        client: &str,
    ) -> Result<Option<CacheEntry>, AuthError> {
        let entry = self
            .read()?
            .entries
            .into_iter()
            .find(|e| same_key(e, authority, tenant, client));
        if let Some(e) = &entry {
            crate::redact::register(e.refresh_token.expose_secret());
        }
        Ok(entry)
    }

    /// Insert or replace the entry with the same key.
    ///
    /// # Errors
    /// The file or its folder cannot be written.
    pub fn store(&self, entry: &CacheEntry) -> Result<(), AuthError> {
        let _lock = self.lock()?;
        let mut file = self.read()?;
        file.version = FILE_VERSION;
        file.entries
            .retain(|e| !same_key(e, &entry.authority, &entry.tenant_id, &entry.client_id));
        file.entries.push(entry.clone());
        self.write(&file)
    }

    /// Remove entries matching the tenant and client (either `None` matches any). Deletes the
    /// file when nothing is left. Returns how many entries were removed.
    ///
    /// # Errors
    /// The file cannot be read or written.
    pub fn remove(&self, tenant: Option<&str>, client: Option<&str>) -> Result<usize, AuthError> {
        if !self.path.exists() {
            return Ok(0);
        }
        let _lock = self.lock()?;
        let mut file = match self.read() {
            Ok(f) => f,
            // Logging out of a corrupt cache must still work: remove the file.
            Err(_) if tenant.is_none() && client.is_none() => CacheFile::default(),
            Err(e) => return Err(e),
        };
        let before = file.entries.len();
        file.entries.retain(|e| {
            !(tenant.is_none_or(|t| e.tenant_id.eq_ignore_ascii_case(t))
                && client.is_none_or(|c| e.client_id.eq_ignore_ascii_case(c)))
        });
        let removed = before - file.entries.len();
        if file.entries.is_empty() {
            match fs::remove_file(&self.path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(self.err(e)),
            }
        } else if removed > 0 {
            file.version = FILE_VERSION;
            self.write(&file)?;
        }
        Ok(removed)
    }

    /// Every entry, without tokens.
    ///
    /// # Errors
    /// An unreadable or foreign file.
    pub fn summaries(&self) -> Result<Vec<CacheSummary>, AuthError> {
        Ok(self
            .read()?
            .entries
            .into_iter()
            .map(|e| CacheSummary {
                authority: e.authority,
                tenant_id: e.tenant_id,
                client_id: e.client_id,
                account: e.account,
                written_at: e.written_at,
            })
            .collect())
    }
}

fn open_private(path: &Path) -> std::io::Result<File> {
    let mut opts = fs::OpenOptions::new();
    opts.create(true).truncate(false).write(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600);
    }
    opts.open(path)
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut b = fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        b.mode(0o700);
    }
    b.create(dir)
}

#[cfg(unix)]
fn warn_if_open(path: &Path) {
    use std::os::unix::fs::PermissionsExt as _;
    if let Ok(m) = fs::metadata(path)
        && m.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(
            cache = %path.display(),
            "the token cache is readable by other users; it will be rewritten with mode 0600"
        );
    }
}

#[cfg(not(unix))]
fn warn_if_open(_path: &Path) {}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(tenant: &str, client: &str, rt: &str) -> CacheEntry {
        CacheEntry {
            authority: "https://login.microsoftonline.com".into(),
            tenant_id: tenant.into(),
            client_id: client.into(),
            account: Account {
                username: Some("ana@contoso.example".into()),
                ..Account::default()
            },
            refresh_token: rt.into(),
            written_at: Utc::now(),
        }
    }

    #[test]
    fn store_load_replace_remove() {
        let dir = tempfile::tempdir().unwrap();
        let cache = TokenCache::new(dir.path().join("sub/dir/cache.json"));
        assert!(
            cache
                .load("https://login.microsoftonline.com", "t", "c")
                .unwrap()
                .is_none()
        );
        cache.store(&entry("t", "c", "rt-one")).unwrap();
        cache.store(&entry("t", "other", "rt-two")).unwrap();
        cache.store(&entry("T", "C", "rt-three")).unwrap();
        let got = cache
            .load("https://login.microsoftonline.com/", "t", "c")
            .unwrap()
            .unwrap();
        assert_eq!(got.refresh_token.expose_secret(), "rt-three");
        assert!(
            cache
                .load("https://login.microsoftonline.us", "t", "c")
                .unwrap()
                .is_none()
        );
        assert_eq!(cache.summaries().unwrap().len(), 2);
        assert_eq!(cache.remove(Some("t"), Some("c")).unwrap(), 1);
        assert!(cache.path().exists());
        assert_eq!(cache.remove(None, None).unwrap(), 1);
        assert!(!cache.path().exists());
        assert_eq!(cache.remove(None, None).unwrap(), 0);
    }

    #[cfg(unix)]
    #[test]
    fn file_and_folder_are_private() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let cache = TokenCache::new(dir.path().join("hb/cache.json"));
        cache.store(&entry("t", "c", "rt")).unwrap();
        let mode = fs::metadata(cache.path()).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let dmode = fs::metadata(dir.path().join("hb"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(dmode, 0o700);
        // A loose file is tightened on the next write.
        fs::set_permissions(cache.path(), fs::Permissions::from_mode(0o644)).unwrap();
        cache.store(&entry("t", "c", "rt2")).unwrap();
        let mode = fs::metadata(cache.path()).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn summaries_and_debug_never_show_the_token() {
        let dir = tempfile::tempdir().unwrap();
        let cache = TokenCache::new(dir.path().join("c.json"));
        let e = entry("t", "c", "very-secret-refresh-token");
        assert!(!format!("{e:?}").contains("very-secret"));
        cache.store(&e).unwrap();
        let s = serde_json::to_string(&cache.summaries().unwrap()).unwrap();
        assert!(!s.contains("very-secret"));
        assert!(s.contains("ana@contoso.example"));
    }

    #[test]
    fn corrupt_or_foreign_files_are_explained() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.json");
        fs::write(&path, b"{\"version\": 9, \"entries\": []}").unwrap();
        let cache = TokenCache::new(&path);
        let msg = cache
            .load("a", "t", "c")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(msg.contains("auth login"), "{msg}");
        fs::write(&path, b"refresh_token=abcdef garbage").unwrap();
        let msg = cache
            .load("a", "t", "c")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(msg.contains("not a huntbook token cache"), "{msg}");
        assert!(!msg.contains("abcdef"), "{msg}");
        assert_eq!(cache.remove(None, None).unwrap(), 0);
        assert!(!path.exists());
    }
}
