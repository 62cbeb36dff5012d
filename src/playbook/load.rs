//! Loading: read a playbook file (refusing directories, huge files and non-UTF-8 text with a
//! clear diagnostic), parse its YAML, validate it into the checked model.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::diag::{Code, Diagnostic, has_errors};
use crate::source::{FileId, SourceFile, SourceMap, Span};
use crate::template::Engine;

use super::check::{Checker, top};
use super::model::Playbook;
use super::yaml;

/// The largest playbook (or included query/template file) huntbook reads.
pub const MAX_FILE_SIZE: u64 = 10 * 1024 * 1024;

/// The outcome of loading one playbook.
#[derive(Debug)]
pub struct Loaded {
    /// The playbook and every file it includes, for rendering diagnostics.
    pub sources: Arc<SourceMap>,
    /// Every problem found, errors and warnings, in file order.
    pub diagnostics: Vec<Diagnostic>,
    /// The checked playbook; `Some` exactly when no diagnostic is an error.
    pub playbook: Option<Playbook>,
}

impl Loaded {
    /// Whether the playbook is valid (warnings allowed).
    #[must_use]
    pub fn is_valid(&self) -> bool {
        self.playbook.is_some()
    }
}

/// Why a file could not be read as text.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("it is a directory")]
    Directory,
    #[error("it is not a regular file")]
    NotAFile,
    #[error("it is {0} bytes; the limit is 10 MB")]
    TooLarge(u64),
    /// The text up to the bad byte (lossily decoded) and the bad byte's offset.
    #[error("it is not UTF-8 text (invalid byte at offset {1})")]
    NotUtf8(String, usize),
}

/// Read a text file huntbook is asked to load, with the size and encoding checks.
///
/// # Errors
/// See [`ReadError`].
pub fn read_source(path: &Path) -> Result<String, ReadError> {
    let meta = std::fs::metadata(path)?;
    if meta.is_dir() {
        return Err(ReadError::Directory);
    }
    if !meta.is_file() {
        return Err(ReadError::NotAFile);
    }
    if meta.len() > MAX_FILE_SIZE {
        return Err(ReadError::TooLarge(meta.len()));
    }
    let bytes = std::fs::read(path)?;
    if bytes.len() as u64 > MAX_FILE_SIZE {
        return Err(ReadError::TooLarge(bytes.len() as u64));
    }
    match String::from_utf8(bytes) {
        Ok(s) => Ok(s),
        Err(e) => {
            let at = e.utf8_error().valid_up_to();
            Err(ReadError::NotUtf8(
                String::from_utf8_lossy(e.as_bytes()).into_owned(),
                at,
            ))
        }
    }
}

/// Load and validate the playbook at `path`.
#[must_use]
pub fn load_file(path: &Path) -> Loaded {
    let name = path.display().to_string();
    let fail = |sources: SourceMap, d: Diagnostic| Loaded {
        sources: Arc::new(sources),
        diagnostics: vec![d],
        playbook: None,
    };
    match read_source(path) {
        Ok(text) => load_str(path, text),
        Err(ReadError::NotUtf8(lossy, at)) => {
            let mut sources = SourceMap::new();
            let file = sources.add(SourceFile::new(path, lossy));
            fail(
                sources,
                Diagnostic::new(
                    Code::NotUtf8,
                    Span::new(file, at, at + 1),
                    format!("`{name}` is not UTF-8 text"),
                )
                .label("this byte is not valid UTF-8")
                .help("save the playbook as UTF-8"),
            )
        }
        Err(e) => {
            let code = match e {
                ReadError::Directory | ReadError::NotAFile => Code::NotAFile,
                ReadError::TooLarge(_) => Code::FileTooLarge,
                _ => Code::IoError,
            };
            fail(
                SourceMap::new(),
                Diagnostic::file(code, name.clone(), format!("cannot read `{name}`: {e}")),
            )
        }
    }
}

/// Validate `text` as the contents of the playbook at `path` (used for files and tests).
#[must_use]
pub fn load_str(path: &Path, text: impl Into<String>) -> Loaded {
    let engine = Engine::new();
    let mut sources = SourceMap::new();
    let file = sources.add(SourceFile::new(path, text));
    let base_dir = path.parent().map_or_else(PathBuf::new, Path::to_path_buf);
    let (mut diagnostics, checked) = validate(&mut sources, file, &engine, base_dir.clone());
    if let Some(c) = &checked
        && !has_errors(&diagnostics)
    {
        diagnostics.extend(crate::playbook::check::order::sign_in_order(&c.steps));
    }
    sort(&mut diagnostics);
    let playbook = match checked {
        Some(c) if !has_errors(&diagnostics) => Some(c),
        _ => None,
    };
    let sources = Arc::new(sources);
    Loaded {
        playbook: playbook.map(|c| Playbook {
            name: c.name,
            description: c.description,
            inputs: c.inputs,
            defaults: c.defaults,
            max_targets: c.max_targets,
            steps: c.steps,
            sources: Arc::clone(&sources),
            path: path.to_path_buf(),
            base_dir,
        }),
        sources,
        diagnostics,
    }
}

fn validate(
    sources: &mut SourceMap,
    file: FileId,
    engine: &Engine,
    base_dir: PathBuf,
) -> (Vec<Diagnostic>, Option<top::Checked>) {
    let text = sources
        .get(file)
        .map(|f| f.text().to_string())
        .unwrap_or_default();
    let parsed = yaml::parse(&text, file);
    let mut diagnostics = parsed.diagnostics;
    let Some(root) = parsed.root else {
        if diagnostics.is_empty() {
            let name = sources.get(file).map(SourceFile::name).unwrap_or_default();
            diagnostics.push(
                Diagnostic::new(
                    Code::EmptyFile,
                    Span::point(file, 0),
                    format!("`{name}` holds no playbook"),
                )
                .label("the file is empty (or only comments)")
                .help("a playbook starts with `huntbook: 1`, a `name:` and a list of `steps:`"),
            );
        }
        return (diagnostics, None);
    };
    drop(text);
    let mut checker = Checker::new(sources, file, engine, base_dir);
    let checked = top::check(&mut checker, &root);
    diagnostics.append(&mut checker.diags);
    (diagnostics, checked)
}

/// File order, then position; identical diagnostics (from a YAML alias used twice) once.
fn sort(diags: &mut Vec<Diagnostic>) {
    diags.sort_by_key(|d| d.span.map(|s| (s.file.0, s.start, s.end)));
    diags.dedup();
}
