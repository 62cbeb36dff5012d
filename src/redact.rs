//! The run-wide secret redactor: every secret value huntbook learns (secret references read
//! by `authenticate`, passwords, access and refresh tokens, and the values of environment
//! variables whose names say SECRET, PASSWORD or TOKEN) is registered here, and every place a
//! run writes text for people or files — outputs (stdout and files), the `--report`, logs on
//! stderr at any verbosity, error messages — replaces it with `***`.
//!
//! Values shorter than [`MIN_LEN`] characters are not registered: replacing every `abc` in a
//! report would destroy it and protect little. The registry is process-wide and only grows.

use std::borrow::Cow;
use std::io::Write;
use std::sync::RwLock;

/// The shortest value that is redacted.
pub const MIN_LEN: usize = 6;
/// What a secret becomes.
pub const MASK: &str = "***";

static SECRETS: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// Whether an environment variable's name says it holds a secret.
#[must_use]
pub fn secret_name(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    // `HUNTBOOK_TOKEN_CACHE`, `…_CERTIFICATE_PATH`: where secrets are, not secrets.
    let a_place = ["PATH", "FILE", "CACHE", "URL", "DIR"]
        .iter()
        .any(|w| upper.contains(w));
    !a_place
        && ["SECRET", "PASSWORD", "TOKEN", "PASSPHRASE", "PRIVATE_KEY"]
            .iter()
            .any(|w| upper.contains(w))
}

/// Remember a secret value (ignored when shorter than [`MIN_LEN`]).
pub fn register(secret: &str) {
    let secret = secret.trim();
    if secret.chars().count() < MIN_LEN {
        return;
    }
    let mut all = SECRETS
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if !all.iter().any(|s| s == secret) {
        all.push(secret.to_string());
        // Longest first, so a secret containing another is masked whole.
        all.sort_by_key(|s| std::cmp::Reverse(s.len()));
    }
}

/// Remember the values of the environment variables whose names say they hold secrets.
pub fn register_env<'a>(env: impl IntoIterator<Item = (&'a String, &'a String)>) {
    for (k, v) in env {
        if secret_name(k) {
            register(v);
        }
    }
}

fn secrets() -> std::sync::RwLockReadGuard<'static, Vec<String>> {
    SECRETS
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// `text` with every registered secret replaced by `***`.
#[must_use]
pub fn redact(text: &str) -> Cow<'_, str> {
    let all = secrets();
    let mut out = Cow::Borrowed(text);
    for s in all.iter() {
        if out.contains(s.as_str()) {
            out = Cow::Owned(out.replace(s.as_str(), MASK));
        }
    }
    out
}

/// Where `needle` (non-empty) first occurs in `hay`.
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    let first = *needle.first()?;
    let mut i = 0;
    while let Some(p) = hay.get(i..)?.iter().position(|&b| b == first) {
        let at = i + p;
        if hay[at..].starts_with(needle) {
            return Some(at);
        }
        i = at + 1;
    }
    None
}

/// Like [`redact`], on bytes (text that is not UTF-8 is matched byte for byte).
fn redact_bytes(buf: &[u8], all: &[String]) -> Vec<u8> {
    let mut out = buf.to_vec();
    for s in all {
        let needle = s.as_bytes();
        let Some(mut at) = find(&out, needle) else {
            continue;
        };
        let mut next = Vec::with_capacity(out.len());
        let mut from = 0;
        loop {
            next.extend_from_slice(&out[from..at]);
            next.extend_from_slice(MASK.as_bytes());
            from = at + needle.len();
            match find(&out[from..], needle) {
                Some(p) => at = from + p,
                None => break,
            }
        }
        next.extend_from_slice(&out[from..]);
        out = next;
    }
    out
}

/// A writer that masks registered secrets in what passes through, even when a secret is split
/// across writes: it holds back the last few bytes until the next write or `flush`.
pub struct Redacting<W: Write> {
    inner: W,
    pending: Vec<u8>,
}

impl<W: Write> Redacting<W> {
    pub fn new(inner: W) -> Redacting<W> {
        Redacting {
            inner,
            pending: Vec::new(),
        }
    }

    fn emit(&mut self, all: bool) -> std::io::Result<()> {
        let secrets = secrets();
        let longest = secrets.first().map_or(0, String::len);
        if longest == 0 {
            self.inner.write_all(&self.pending)?;
            self.pending.clear();
            return Ok(());
        }
        let masked = redact_bytes(&self.pending, &secrets);
        drop(secrets);
        let keep = if all {
            0
        } else {
            (longest - 1).min(masked.len())
        };
        let cut = masked.len() - keep;
        self.inner.write_all(&masked[..cut])?;
        self.pending = masked[cut..].to_vec();
        Ok(())
    }
}

impl<W: Write> Write for Redacting<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.pending.extend_from_slice(buf);
        if self.pending.len() >= 8192 {
            self.emit(false)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.emit(true)?;
        self.inner.flush()
    }
}

/// Text from API data or a playbook made safe for a terminal: control characters (ESC and
/// the rest of C0 except newline and tab, DEL, C1 — which includes the one-byte CSI) and the
/// bidirectional overrides become visible escapes (`\x1b`, `\u{202e}`), so a device name
/// cannot move the cursor, recolour, clear the screen or reorder what is shown.
#[must_use]
pub fn terminal_safe(text: &str) -> std::borrow::Cow<'_, str> {
    let unsafe_char = |c: char| {
        (c.is_control() && c != '\n' && c != '\t')
            || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
    if !text.chars().any(unsafe_char) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if unsafe_char(c) {
            let n = u32::from(c);
            if n < 0x100 {
                let _ = std::fmt::Write::write_fmt(&mut out, format_args!("\\x{n:02x}"));
            } else {
                let _ = std::fmt::Write::write_fmt(&mut out, format_args!("\\u{{{n:04x}}}"));
            }
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// stderr with secrets masked and terminal escapes made visible, one write at a time (a log
/// line is one write), for the log subscriber (which therefore writes no colour codes).
pub struct Stderr;

impl Write for Stderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        // Log lines hold API data: terminal escapes in them are made visible too.
        let text = String::from_utf8_lossy(buf);
        let safe = terminal_safe(&text);
        std::io::stderr().write_all(redact(&safe).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// The log writer: stderr with secrets masked.
#[must_use]
pub fn stderr() -> Stderr {
    Stderr
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_secrets_are_masked_everywhere() {
        register("redact-test-Zq8v7-secret");
        register("abc");
        assert_eq!(redact("a redact-test-Zq8v7-secret b abc"), "a *** b abc");
        let mut out = Vec::new();
        {
            let mut w = Redacting::new(&mut out);
            // Split across writes.
            w.write_all(b"x redact-test-").unwrap();
            w.write_all(b"Zq8v7-secret y").unwrap();
            w.flush().unwrap();
        }
        assert_eq!(String::from_utf8(out).unwrap(), "x *** y");
        let all = vec!["needle".to_string()];
        assert_eq!(
            redact_bytes(b"needleneedle a needl needle", &all),
            b"****** a needl ***".to_vec()
        );
    }

    #[test]
    fn secret_names() {
        assert!(secret_name("AZURE_CLIENT_SECRET"));
        assert!(secret_name("AZURE_PASSWORD"));
        assert!(secret_name("GITHUB_TOKEN"));
        assert!(!secret_name("AZURE_TENANT_ID"));
        assert!(!secret_name("HUNTBOOK_TOKEN_CACHE"));
    }
}
