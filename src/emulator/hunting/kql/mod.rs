//! The KQL engine of the emulator: lexer → parser → binder (names, types, output columns) →
//! executor over columnar relations. The subset and its deliberate differences from Kusto are
//! documented in `docs/kql.md`.

pub mod aggregates;
pub mod ast;
pub mod bind;
pub mod error;
pub mod eval;
pub mod functions;
pub mod lexer;
pub mod naming;
pub mod parser;
pub mod relation;
pub mod value;

pub use bind::Catalog;
pub use error::{ErrorKind, KqlError, Span};
pub use eval::{Env, TableSource};
pub use relation::{Column, ColumnDef, Relation};
pub use value::{Type, Value};

/// Parse, check and run `query` over `tables`.
///
/// # Errors
/// Syntax errors, unsupported constructs, semantic errors (all with positions) and timeouts.
pub fn run<T: Catalog + TableSource>(
    query: &str,
    tables: &T,
    env: &Env,
) -> Result<Relation, KqlError> {
    let ast = parser::parse(query)?;
    let plan = bind::Binder::new(tables, env.now).bind_query(&ast)?;
    eval::execute(&plan, tables, env)
}

#[cfg(test)]
mod tests;
