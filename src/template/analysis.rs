//! Static analysis of a parsed field (minijinja's AST, via `unstable_machinery`): the scope
//! names it reads, with byte ranges, its `raw` filter uses, and the filters, tests and
//! functions it calls, so validation can reject mistakes before anything runs.
//!
//! Names bound by the template itself (`{% for %}` targets and `loop`, `{% set %}`,
//! `{% with %}`, macro names and arguments, `caller`) are not references. Scoping follows
//! minijinja's runtime frames: `for`, `with`, macros and call blocks open a scope; `if`,
//! `autoescape`, `filter` and `set` blocks do not, so a `{% set %}` inside an `{% if %}` is
//! still visible after it.

use std::collections::HashSet;
use std::ops::Range;

use minijinja::machinery::Span;
use minijinja::machinery::ast::{self, CallArg, Expr, Stmt};

use super::Reference;

/// A name used as a filter, test or function (or an unsupported statement), with the byte
/// range of the name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NameUse {
    pub name: String,
    pub range: Range<usize>,
    /// The first positional argument when it is a string constant, with its range (quotes
    /// included), so constant JSONPaths, date formats and durations are checked early.
    pub arg: Option<(String, Range<usize>)>,
}

/// What one field reads and calls.
#[derive(Debug, Default)]
pub(crate) struct Analysis {
    pub references: Vec<Reference>,
    pub raw_uses: Vec<Range<usize>>,
    pub filters: Vec<NameUse>,
    pub tests: Vec<NameUse>,
    /// Calls of global functions (`ago`, `range`, …).
    pub calls: Vec<NameUse>,
    /// Calls of a name that is neither bound in the template nor a global function.
    pub unknown_functions: Vec<NameUse>,
    /// `include`, `import`, `extends`: playbook fields have no template loader.
    pub unsupported: Vec<NameUse>,
    /// For each filter and test: the range of its name (where minijinja reports its
    /// errors) and of the whole application (`value | name(args)`), so a failure can be
    /// traced to the names it was given.
    pub applications: Vec<(Range<usize>, Range<usize>)>,
}

/// Analyse a whole template.
pub(crate) fn analyze_template(stmt: &Stmt<'_>, globals: &HashSet<String>) -> Analysis {
    let mut w = Walker::new(globals);
    w.stmt(stmt);
    w.out
}

/// Analyse a standalone expression.
pub(crate) fn analyze_expr(expr: &Expr<'_>, globals: &HashSet<String>) -> Analysis {
    let mut w = Walker::new(globals);
    w.expr(expr);
    w.out
}

struct Walker<'a, 'g> {
    scopes: Vec<HashSet<&'a str>>,
    globals: &'g HashSet<String>,
    out: Analysis,
}

fn to_range(span: Span) -> Range<usize> {
    span.start_offset as usize..span.end_offset as usize
}

/// The range of a filter's or test's name: their nodes' spans start at the name.
fn name_range(span: Span, name: &str) -> Range<usize> {
    let start = span.start_offset as usize;
    start..start + name.len()
}

/// Where an expression's text starts. minijinja's spans for postfix nodes (`a.b`, `a | f`)
/// start at the operator or the name, so the start is found through the leftmost operand.
/// Parentheses are not in the AST: `(a + b) | raw` starts at `a`.
fn start_of(e: &Expr<'_>) -> usize {
    let own = e.span().start_offset as usize;
    let inner = match e {
        Expr::GetAttr(g) => start_of(&g.expr),
        Expr::GetItem(g) => start_of(&g.expr),
        Expr::Slice(s) => start_of(&s.expr),
        Expr::BinOp(b) => start_of(&b.left),
        Expr::Compare(c) => start_of(&c.expr),
        Expr::Test(t) => start_of(&t.expr),
        Expr::Call(c) => start_of(&c.expr),
        Expr::IfExpr(i) => start_of(&i.true_expr),
        Expr::Filter(f) => f.expr.as_ref().map_or(own, start_of),
        _ => own,
    };
    inner.min(own)
}

fn end_of(e: &Expr<'_>) -> usize {
    e.span().end_offset as usize
}

fn const_arg(args: &[CallArg<'_>]) -> Option<(String, Range<usize>)> {
    match args.first()? {
        CallArg::Pos(Expr::Const(c)) => Some((c.value.as_str()?.to_string(), to_range(c.span()))),
        _ => None,
    }
}

fn name_use(name: &str, range: Range<usize>, args: &[CallArg<'_>]) -> NameUse {
    NameUse {
        name: name.to_string(),
        range,
        arg: const_arg(args),
    }
}

/// A subscript that is as good as an attribute: a string constant (`x["name"]`).
fn static_key(e: &Expr<'_>) -> Option<String> {
    match e {
        Expr::Const(c) => c.value.as_str().map(str::to_string),
        _ => None,
    }
}

/// Split `a.b["c"][0].d` into the innermost node that is not a static lookup and the names
/// looked up on it, innermost first: `(a[...][0] node, ["d"])` — the chain stops at the
/// first integer index or computed subscript.
fn static_chain<'x, 'a>(outer: &'x Expr<'a>) -> (&'x Expr<'a>, Vec<String>) {
    let mut segments = Vec::new();
    let mut cur = outer;
    loop {
        match cur {
            Expr::GetAttr(g) => {
                segments.push(g.name.to_string());
                cur = &g.expr;
            }
            Expr::GetItem(g) => match static_key(&g.subscript_expr) {
                Some(key) => {
                    segments.push(key);
                    cur = &g.expr;
                }
                None => break,
            },
            _ => break,
        }
    }
    segments.reverse();
    (cur, segments)
}

impl<'a, 'g> Walker<'a, 'g> {
    fn new(globals: &'g HashSet<String>) -> Walker<'a, 'g> {
        Walker {
            scopes: vec![HashSet::new()],
            globals,
            out: Analysis::default(),
        }
    }

    fn is_bound(&self, name: &str) -> bool {
        self.scopes.iter().any(|s| s.contains(name))
    }

    fn bind(&mut self, name: &'a str) {
        if let Some(scope) = self.scopes.last_mut() {
            scope.insert(name);
        }
    }

    fn push(&mut self) {
        self.scopes.push(HashSet::new());
    }

    fn pop(&mut self) {
        self.scopes.pop();
    }

    fn bind_target(&mut self, target: &Expr<'a>) {
        match target {
            Expr::Var(v) => self.bind(v.id),
            Expr::List(l) => l.items.iter().for_each(|x| self.bind_target(x)),
            Expr::Tuple(t) => t.items.iter().for_each(|x| self.bind_target(x)),
            // `{% set ns.count = … %}` assigns into a namespace: it reads `ns`.
            Expr::GetAttr(g) => self.expr(&g.expr),
            other => self.expr(other),
        }
    }

    fn var(&mut self, name: &str, range: Range<usize>, path: Vec<String>) {
        if self.is_bound(name) || self.globals.contains(name) {
            return;
        }
        self.out.references.push(Reference {
            root: name.to_string(),
            path,
            range: Some(range),
        });
    }

    fn lookup(&mut self, outer: &Expr<'a>) {
        let (base, segments) = static_chain(outer);
        if segments.is_empty() {
            // A computed or integer subscript: `x[i]`, `rows[0]`.
            if let Expr::GetItem(g) = outer {
                self.expr(&g.expr);
                self.expr(&g.subscript_expr);
            }
            return;
        }
        match base {
            Expr::Var(v) => self.var(v.id, start_of(base)..end_of(outer), segments),
            other => self.expr(other),
        }
    }

    fn args(&mut self, args: &[CallArg<'a>]) {
        for arg in args {
            match arg {
                CallArg::Pos(e)
                | CallArg::Kwarg(_, e)
                | CallArg::PosSplat(e)
                | CallArg::KwargSplat(e) => self.expr(e),
            }
        }
    }

    fn call(&mut self, c: &ast::Call<'a>) {
        match &c.expr {
            Expr::Var(v) => {
                if !self.is_bound(v.id) {
                    let used = name_use(v.id, to_range(v.span()), &c.args);
                    if self.globals.contains(v.id) {
                        self.out.calls.push(used);
                    } else {
                        self.out.unknown_functions.push(used);
                    }
                }
            }
            // A method call (`x.items()`): the method name is not data the field reads.
            Expr::GetAttr(g) => self.expr(&g.expr),
            other => self.expr(other),
        }
        self.args(&c.args);
    }

    fn expr(&mut self, e: &Expr<'a>) {
        match e {
            Expr::Var(v) => self.var(v.id, to_range(v.span()), Vec::new()),
            Expr::Const(_) => {}
            Expr::GetAttr(_) | Expr::GetItem(_) => self.lookup(e),
            Expr::Slice(s) => {
                self.expr(&s.expr);
                for part in [&s.start, &s.stop, &s.step].into_iter().flatten() {
                    self.expr(part);
                }
            }
            Expr::UnaryOp(u) => self.expr(&u.expr),
            Expr::BinOp(b) => {
                self.expr(&b.left);
                self.expr(&b.right);
            }
            Expr::Compare(c) => {
                self.expr(&c.expr);
                c.ops.iter().for_each(|op| self.expr(&op.expr));
            }
            Expr::IfExpr(i) => {
                self.expr(&i.test_expr);
                self.expr(&i.true_expr);
                if let Some(f) = &i.false_expr {
                    self.expr(f);
                }
            }
            Expr::Filter(f) => {
                let range = name_range(f.span(), f.name);
                if f.name == "raw" {
                    let start = f.expr.as_ref().map_or(range.start, start_of);
                    self.out
                        .raw_uses
                        .push(start..(f.span().end_offset as usize).max(range.end));
                }
                let start = f.expr.as_ref().map_or(range.start, start_of);
                let end = (f.span().end_offset as usize).max(range.end);
                self.out.applications.push((range.clone(), start..end));
                self.out.filters.push(name_use(f.name, range, &f.args));
                if let Some(x) = &f.expr {
                    self.expr(x);
                }
                self.args(&f.args);
            }
            Expr::Test(t) => {
                let range = name_range(t.span(), t.name);
                let end = (t.span().end_offset as usize).max(range.end);
                self.out
                    .applications
                    .push((range.clone(), start_of(&t.expr)..end));
                self.out.tests.push(name_use(t.name, range, &t.args));
                self.expr(&t.expr);
                self.args(&t.args);
            }
            Expr::Call(c) => self.call(c),
            Expr::List(l) => l.items.iter().for_each(|x| self.expr(x)),
            Expr::Tuple(t) => t.items.iter().for_each(|x| self.expr(x)),
            Expr::Map(m) => {
                for (k, v) in m.keys.iter().zip(m.values.iter()) {
                    self.expr(k);
                    self.expr(v);
                }
            }
        }
    }

    fn body(&mut self, body: &[Stmt<'a>]) {
        body.iter().for_each(|s| self.stmt(s));
    }

    fn macro_decl(&mut self, m: &ast::Macro<'a>) {
        // Defaults are evaluated where the macro is declared.
        m.defaults.iter().for_each(|d| self.expr(d));
        self.push();
        self.bind("caller");
        m.args.iter().for_each(|a| self.bind_target(a));
        self.body(&m.body);
        self.pop();
    }

    fn unsupported(&mut self, what: &str, span: Span) {
        self.out
            .unsupported
            .push(name_use(what, to_range(span), &[]));
    }

    fn stmt(&mut self, s: &Stmt<'a>) {
        match s {
            Stmt::Template(t) => {
                self.bind("self");
                self.body(&t.children);
            }
            Stmt::EmitExpr(e) => self.expr(&e.expr),
            Stmt::EmitRaw(_) => {}
            Stmt::ForLoop(f) => {
                // The iterable is evaluated outside the loop's own scope.
                self.expr(&f.iter);
                self.push();
                self.bind("loop");
                self.bind_target(&f.target);
                if let Some(filter) = &f.filter_expr {
                    self.expr(filter);
                }
                self.body(&f.body);
                self.pop();
                self.body(&f.else_body);
            }
            Stmt::IfCond(i) => {
                self.expr(&i.expr);
                self.body(&i.true_body);
                self.body(&i.false_body);
            }
            Stmt::WithBlock(w) => {
                self.push();
                for (target, value) in &w.assignments {
                    self.expr(value);
                    self.bind_target(target);
                }
                self.body(&w.body);
                self.pop();
            }
            Stmt::Set(set) => {
                self.expr(&set.expr);
                self.bind_target(&set.target);
            }
            Stmt::SetBlock(set) => {
                self.body(&set.body);
                if let Some(filter) = &set.filter {
                    self.expr(filter);
                }
                self.bind_target(&set.target);
            }
            Stmt::AutoEscape(a) => {
                self.expr(&a.enabled);
                self.body(&a.body);
            }
            Stmt::FilterBlock(f) => {
                self.body(&f.body);
                self.expr(&f.filter);
            }
            Stmt::Block(b) => {
                self.push();
                self.bind("super");
                self.body(&b.body);
                self.pop();
            }
            Stmt::Import(i) => self.unsupported("import", i.span()),
            Stmt::FromImport(i) => self.unsupported("from … import", i.span()),
            Stmt::Extends(e) => self.unsupported("extends", e.span()),
            Stmt::Include(i) => self.unsupported("include", i.span()),
            Stmt::Macro(m) => {
                self.bind(m.name);
                self.macro_decl(m);
            }
            Stmt::CallBlock(c) => {
                self.call(&c.call);
                self.macro_decl(&c.macro_decl);
            }
            Stmt::Continue(_) | Stmt::Break(_) => {}
            Stmt::Do(d) => self.call(&d.call),
        }
    }
}
