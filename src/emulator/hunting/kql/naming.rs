//! Output column naming (§0.3 of the KQL reference): names derived from expressions
//! (`tostring(d.a)` → `d_a`, `strlen(Name)` → `strlen_Name`), aggregate prefixes (`count_`,
//! `dcount_X`, `set_X`), the query-wide `Column1, Column2, …` counter and the numeric suffixes
//! that keep generated names unique.

use super::ast::{Expr, ExprKind};
use super::value::Value;

/// Functions whose result takes the name of their first argument.
const FIRST_ARG_NAMED: &[&str] = &[
    "tostring",
    "toint",
    "tolong",
    "toreal",
    "todouble",
    "tobool",
    "toboolean",
    "todatetime",
    "totimespan",
    "todynamic",
    "parse_json",
    "todecimal",
    "tohex",
    "format_datetime",
    "startofday",
    "startofweek",
    "startofmonth",
    "startofyear",
    "endofday",
    "bin",
    "floor",
    "bin_at",
    "round",
    "abs",
    "split",
];

/// Functions named `<function>_<first argument name>`.
const PREFIX_NAMED: &[&str] = &["strlen"];

/// The name an expression gets when projected without `Name =`, if it has one.
#[must_use]
pub fn derived_name(expr: &Expr) -> Option<String> {
    match &expr.kind {
        ExprKind::Name(n) => Some(n.clone()),
        ExprKind::Member { target, key } => {
            derived_name(target).map(|t| format!("{t}_{}", name_fragment(key)))
        }
        ExprKind::Index { target, index } => match &index.kind {
            ExprKind::Literal(Value::Long(i), _) => {
                derived_name(target).map(|t| format!("{t}_{i}"))
            }
            _ => None,
        },
        ExprKind::Call { name, args } => {
            let first = args.first().and_then(derived_name);
            if FIRST_ARG_NAMED.contains(&name.name.as_str()) {
                first
            } else if PREFIX_NAMED.contains(&name.name.as_str()) {
                first.map(|f| format!("{}_{f}", name.name))
            } else {
                None
            }
        }
        _ => None,
    }
}

/// A key made fit for a column name: characters that are not letters, digits or `_` become `_`.
#[must_use]
pub fn name_fragment(key: &str) -> String {
    key.chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The column-name prefix of an aggregate (`count()` → `count`, `make_set(x)` → `set`).
#[must_use]
pub fn aggregate_prefix(function: &str) -> &str {
    match function {
        "make_set" | "make_set_if" | "makeset" => "set",
        "make_list" | "make_list_if" | "makelist" => "list",
        "make_bag" | "make_bag_if" => "bag",
        other => other,
    }
}

/// The default name of an aggregate call: `<prefix>_<first-arg-name>` (`count_`, `dcount_X`).
#[must_use]
pub fn aggregate_name(function: &str, args: &[Expr]) -> String {
    let arg = match function {
        // A predicate has no name: `countif(x > 1)` is `countif_`.
        "countif" => String::new(),
        _ => args.first().and_then(derived_name).unwrap_or_default(),
    };
    format!("{}_{arg}", aggregate_prefix(function))
}

/// The query-wide counter behind `Column1`, `Column2`, ….
#[derive(Debug, Default)]
pub struct DefaultNames {
    next: usize,
}

impl DefaultNames {
    /// The next `ColumnN` not already in `taken`.
    pub fn next(&mut self, taken: &[String]) -> String {
        loop {
            self.next += 1;
            let name = format!("Column{}", self.next);
            if !taken.contains(&name) {
                return name;
            }
        }
    }
}

/// `name`, or `name1`, `name2`, … — the first not in `taken`.
#[must_use]
pub fn unique_name(name: &str, taken: &[String]) -> String {
    if !taken.iter().any(|t| t == name) {
        return name.to_string();
    }
    (1..)
        .map(|i| format!("{name}{i}"))
        .find(|n| !taken.iter().any(|t| t == n))
        .unwrap_or_else(|| name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emulator::hunting::kql::ast::Op;
    use crate::emulator::hunting::kql::parser::parse;

    fn first_project_expr(q: &str) -> Expr {
        let query = parse(q).unwrap();
        match &query.body.ops[0].op {
            Op::Project(items) => items[0].expr.clone(),
            other => panic!("{other:?}"),
        }
    }

    fn name_of(expr: &str) -> Option<String> {
        derived_name(&first_project_expr(&format!("T | project {expr}")))
    }

    #[test]
    fn derived_names_follow_the_reference() {
        assert_eq!(name_of("X").as_deref(), Some("X"));
        assert_eq!(name_of("(X)").as_deref(), Some("X"));
        assert_eq!(
            name_of("AdditionalFields.Foo").as_deref(),
            Some("AdditionalFields_Foo")
        );
        assert_eq!(name_of("d.a.b").as_deref(), Some("d_a_b"));
        assert_eq!(name_of("d['a']").as_deref(), Some("d_a"));
        assert_eq!(name_of("arr[0]").as_deref(), Some("arr_0"));
        assert_eq!(name_of("tostring(d.a)").as_deref(), Some("d_a"));
        assert_eq!(name_of("bin(Timestamp, 1h)").as_deref(), Some("Timestamp"));
        assert_eq!(name_of("strlen(Name)").as_deref(), Some("strlen_Name"));
        assert_eq!(name_of("strcat(a, b)"), None);
        assert_eq!(name_of("tolower(a)"), None);
        assert_eq!(name_of("a + 1"), None);
    }

    #[test]
    fn aggregate_names() {
        let q =
            parse("T | project count(), dcount(DeviceId), make_set(y), countif(x > 1), sum(a + b)")
                .unwrap();
        let Op::Project(items) = &q.body.ops[0].op else {
            panic!()
        };
        let names: Vec<String> = items
            .iter()
            .map(|i| match &i.expr.kind {
                ExprKind::Call { name, args } => aggregate_name(&name.name, args),
                _ => String::new(),
            })
            .collect();
        assert_eq!(
            names,
            vec!["count_", "dcount_DeviceId", "set_y", "countif_", "sum_"]
        );
    }

    #[test]
    fn uniqueness_and_default_counter() {
        let taken = vec!["set_y".to_string(), "set_y1".to_string()];
        assert_eq!(unique_name("set_y", &taken), "set_y2");
        assert_eq!(unique_name("x", &taken), "x");
        let mut d = DefaultNames::default();
        let taken = vec!["Column1".to_string()];
        assert_eq!(d.next(&taken), "Column2");
        assert_eq!(d.next(&taken), "Column3");
    }
}
