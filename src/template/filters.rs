//! huntbook's filters and functions, registered on every [`Engine`](super::Engine):
//! `jsonpath`, `kql`, `raw`, `date`, `duration`, `tojson`, `ago()` and `now()`.

use minijinja::{Environment, Error, ErrorKind, Value};

/// Names of the filters huntbook adds to minijinja's built-ins.
pub const FILTERS: &[&str] = &["jsonpath", "kql", "raw", "date", "duration", "datetime"];
/// Names of the functions huntbook adds.
pub const FUNCTIONS: &[&str] = &["ago", "now"];

fn pending(name: &str) -> Error {
    Error::new(
        ErrorKind::InvalidOperation,
        format!("`{name}` is not implemented in this build yet"),
    )
}

/// Register every huntbook filter and function.
pub(crate) fn register(env: &mut Environment<'static>) {
    env.add_filter("raw", |v: Value| -> Value { v });
    for name in ["jsonpath", "kql", "date", "duration", "datetime"] {
        env.add_filter(name, move |_: Value| -> Result<Value, Error> {
            Err(pending(name))
        });
    }
    for name in FUNCTIONS {
        env.add_function(*name, move || -> Result<Value, Error> {
            Err(pending(name))
        });
    }
}
