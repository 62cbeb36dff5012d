//! The template scope: what `{{ … }}` can read while a step runs. Run-wide values (`inputs`,
//! `env`, `run`, `state`) are fixed at the start; `steps`, `vars`, `item` and `loop` live in a
//! chain of [`Frame`]s — the run's root frame, one per iteration of a `for_each`, one per
//! iteration of a `steps` block. Inside a block, `steps.<id>` names the block's own steps for
//! the current iteration and falls back to outer, earlier steps, so iterations never see each
//! other's results.
//!
//! Step outputs are `minijinja::Value`s, which are reference-counted: building the scope map
//! for a render copies handles, never rows.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::template::Value;

/// The values fixed for the whole run.
#[derive(Debug, Clone)]
pub struct RunValues {
    /// `inputs.<name>`, typed.
    pub inputs: Value,
    /// `env.<NAME>`: the run's environment (the process's, plus `--emulator` settings).
    pub env: Value,
    /// `run.id`, `run.started_at` (a datetime), `run.playbook`.
    pub run: Value,
    /// `state.<key>`: what the last successful run remembered.
    pub state: Value,
}

/// `(name, value)` pairs in insertion order; a later insert of a name replaces the earlier.
#[derive(Debug, Default)]
struct Slots(Vec<(String, Value)>);

impl Slots {
    fn insert(&mut self, name: &str, value: Value) {
        match self.0.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => slot.1 = value,
            None => self.0.push((name.to_string(), value)),
        }
    }
}

/// One level of the scope chain.
#[derive(Debug)]
pub struct Frame {
    parent: Option<Arc<Frame>>,
    item: Option<Value>,
    loop_info: Option<Value>,
    steps: Mutex<Slots>,
    vars: Mutex<Slots>,
}

fn lock(m: &Mutex<Slots>) -> MutexGuard<'_, Slots> {
    // A panic while holding the lock cannot leave the slots half-written (inserts are
    // single assignments), so a poisoned lock is still usable.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Frame {
    /// The run's top-level frame.
    #[must_use]
    pub fn root() -> Arc<Frame> {
        Arc::new(Frame {
            parent: None,
            item: None,
            loop_info: None,
            steps: Mutex::new(Slots::default()),
            vars: Mutex::new(Slots::default()),
        })
    }

    /// A frame for iteration `index` of `length` with `item` bound.
    #[must_use]
    pub fn iteration(parent: &Arc<Frame>, item: Value, index: usize, length: usize) -> Arc<Frame> {
        Arc::new(Frame {
            parent: Some(parent.clone()),
            item: Some(item),
            loop_info: Some(loop_value(index, length)),
            steps: Mutex::new(Slots::default()),
            vars: Mutex::new(Slots::default()),
        })
    }

    /// A frame for a `steps` block that does not loop: its own `steps.<id>` namespace, the
    /// enclosing `item`.
    #[must_use]
    pub fn block(parent: &Arc<Frame>) -> Arc<Frame> {
        Arc::new(Frame {
            parent: Some(parent.clone()),
            item: None,
            loop_info: None,
            steps: Mutex::new(Slots::default()),
            vars: Mutex::new(Slots::default()),
        })
    }

    /// Record a step's outputs under its id.
    pub fn set_step(&self, id: &str, outputs: Value) {
        lock(&self.steps).insert(id, outputs);
    }

    /// Define `vars.<name>`.
    pub fn set_var(&self, name: &str, value: Value) {
        lock(&self.vars).insert(name, value);
    }

    /// The outputs of the steps recorded in this frame (not its parents'), as a map.
    #[must_use]
    pub fn own_steps(&self) -> Value {
        Value::from_pairs(lock(&self.steps).0.iter().cloned())
    }

    /// Copy this frame's `vars` into `target` (a `set` inside a block stays visible after the
    /// block, as it would in a sequential script).
    pub fn export_vars(&self, target: &Frame) {
        let vars: Vec<(String, Value)> = lock(&self.vars).0.clone();
        let mut t = lock(&target.vars);
        for (name, value) in vars {
            t.insert(&name, value);
        }
    }

    fn chain(&self) -> Vec<&Frame> {
        let mut out = vec![self];
        let mut cur = self.parent.as_deref();
        while let Some(f) = cur {
            out.push(f);
            cur = f.parent.as_deref();
        }
        out.reverse();
        out
    }

    /// The scope map for rendering a template in this frame.
    #[must_use]
    pub fn scope(&self, run: &RunValues) -> Value {
        let chain = self.chain();
        let mut steps: BTreeMap<String, Value> = BTreeMap::new();
        let mut vars: BTreeMap<String, Value> = BTreeMap::new();
        let mut item = None;
        let mut loop_info = None;
        for f in &chain {
            for (k, v) in &lock(&f.steps).0 {
                steps.insert(k.clone(), v.clone());
            }
            for (k, v) in &lock(&f.vars).0 {
                vars.insert(k.clone(), v.clone());
            }
            if f.item.is_some() {
                item.clone_from(&f.item);
                loop_info.clone_from(&f.loop_info);
            }
        }
        let mut pairs: Vec<(&str, Value)> = vec![
            ("inputs", run.inputs.clone()),
            ("vars", Value::from(vars)),
            ("steps", Value::from(steps)),
            ("env", run.env.clone()),
            ("run", run.run.clone()),
            ("state", run.state.clone()),
        ];
        if let Some(item) = item {
            pairs.push(("item", item));
        }
        if let Some(l) = loop_info {
            pairs.push(("loop", l));
        }
        Value::from_pairs(pairs)
    }
}

/// `loop`: `index` (0-based, as the language says), `index1`, `first`, `last`, `length`.
fn loop_value(index: usize, length: usize) -> Value {
    Value::from_pairs([
        ("index", Value::from(index)),
        ("index1", Value::from(index + 1)),
        ("first", Value::from(index == 0)),
        ("last", Value::from(index + 1 == length)),
        ("length", Value::from(length)),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_values() -> RunValues {
        RunValues {
            inputs: Value::from_pairs([("n", Value::from(3))]),
            env: Value::from_pairs([("HOME", Value::from("/h"))]),
            run: Value::from_pairs([("id", Value::from("r1"))]),
            state: Value::from_pairs(Vec::<(String, Value)>::new()),
        }
    }

    fn get(scope: &Value, path: &[&str]) -> Value {
        let mut v = scope.clone();
        for p in path {
            v = v.get_attr(p).unwrap_or_default();
        }
        v
    }

    #[test]
    fn inner_steps_shadow_outer_ones_and_fall_back_to_them() {
        let root = Frame::root();
        root.set_step("hunt", Value::from_pairs([("count", Value::from(7))]));
        root.set_step("x", Value::from_pairs([("count", Value::from(1))]));
        let it = Frame::iteration(&root, Value::from("a"), 0, 2);
        it.set_step("x", Value::from_pairs([("count", Value::from(2))]));
        let s = it.scope(&run_values());
        assert_eq!(get(&s, &["steps", "x", "count"]), Value::from(2));
        assert_eq!(get(&s, &["steps", "hunt", "count"]), Value::from(7));
        assert_eq!(get(&s, &["item"]), Value::from("a"));
        assert_eq!(get(&s, &["loop", "index"]), Value::from(0));
        assert_eq!(get(&s, &["loop", "last"]), Value::from(false));
        assert_eq!(get(&s, &["inputs", "n"]), Value::from(3));
        // The outer frame never sees the iteration's step.
        let outer = root.scope(&run_values());
        assert_eq!(get(&outer, &["steps", "x", "count"]), Value::from(1));
        assert!(get(&outer, &["item"]).is_undefined());
    }

    #[test]
    fn sibling_iterations_do_not_see_each_other() {
        let root = Frame::root();
        let a = Frame::iteration(&root, Value::from(1), 0, 2);
        let b = Frame::iteration(&root, Value::from(2), 1, 2);
        a.set_step("s", Value::from("from a"));
        assert!(get(&b.scope(&run_values()), &["steps", "s"]).is_undefined());
    }

    #[test]
    fn a_block_inside_a_loop_keeps_the_loop_item() {
        let root = Frame::root();
        let it = Frame::iteration(&root, Value::from("dev-1"), 1, 3);
        let blk = Frame::block(&it);
        let s = blk.scope(&run_values());
        assert_eq!(get(&s, &["item"]), Value::from("dev-1"));
        assert_eq!(get(&s, &["loop", "index1"]), Value::from(2));
    }

    #[test]
    fn vars_exported_from_a_block_replace_outer_ones() {
        let root = Frame::root();
        root.set_var("v", Value::from("old"));
        let blk = Frame::block(&root);
        blk.set_var("v", Value::from("new"));
        blk.set_var("w", Value::from(1));
        assert_eq!(
            get(&root.scope(&run_values()), &["vars", "v"]),
            Value::from("old")
        );
        blk.export_vars(&root);
        let s = root.scope(&run_values());
        assert_eq!(get(&s, &["vars", "v"]), Value::from("new"));
        assert_eq!(get(&s, &["vars", "w"]), Value::from(1));
    }
}
