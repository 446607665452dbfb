//! The gate graph: selection with dependencies, cycle rejection, and a stable topological order.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use anyhow::Result;

use crate::engine::gate::Gate;
use crate::exit::Failure;

/// Every gate the workspace knows, by name.
#[derive(Default)]
pub struct Registry {
    gates: BTreeMap<String, Arc<dyn Gate>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.gates.keys()).finish()
    }
}

impl Registry {
    pub fn add(&mut self, gate: Arc<dyn Gate>) -> Result<()> {
        let name = gate.spec().name.clone();
        if self.gates.insert(name.clone(), gate).is_some() {
            return Err(Failure::Config(format!("gate `{name}` is defined twice")).into());
        }
        Ok(())
    }

    pub fn get(&self, name: &str) -> Result<&Arc<dyn Gate>> {
        self.gates.get(name).ok_or_else(|| {
            Failure::Usage(format!(
                "unknown gate `{name}`; known gates: {}",
                self.names().join(", ")
            ))
            .into()
        })
    }

    pub fn names(&self) -> Vec<&str> {
        self.gates.keys().map(String::as_str).collect()
    }

    pub fn all(&self) -> impl Iterator<Item = &Arc<dyn Gate>> {
        self.gates.values()
    }

    /// Checks that every dependency exists and that the graph has no cycle.
    pub fn validate(&self) -> Result<()> {
        for gate in self.gates.values() {
            for dep in &gate.spec().deps {
                if !self.gates.contains_key(dep) {
                    return Err(Failure::Config(format!(
                        "gates.{}.deps: unknown gate `{dep}`; known gates: {}",
                        gate.spec().name,
                        self.names().join(", ")
                    ))
                    .into());
                }
            }
        }
        let all: Vec<String> = self.gates.keys().cloned().collect();
        self.order(&all).map(|_| ())
    }

    /// The requested gates plus everything they depend on, dependencies first.
    /// Ties are broken by name so that plans and reports are stable.
    pub fn order(&self, requested: &[String]) -> Result<Vec<Arc<dyn Gate>>> {
        let mut done = BTreeSet::new();
        let mut order = Vec::new();
        for name in requested {
            self.visit(name, &mut Vec::new(), &mut done, &mut order)?;
        }
        Ok(order)
    }

    fn visit(
        &self,
        name: &str,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
        order: &mut Vec<Arc<dyn Gate>>,
    ) -> Result<()> {
        if done.contains(name) {
            return Ok(());
        }
        if let Some(start) = path.iter().position(|p| p == name) {
            let mut cycle = path[start..].to_vec();
            cycle.push(name.to_owned());
            return Err(Failure::Config(format!(
                "dependency cycle between gates: {}; remove one of these `deps` entries",
                cycle.join(" -> ")
            ))
            .into());
        }
        let gate = self.get(name)?.clone();
        path.push(name.to_owned());
        let mut deps = gate.spec().deps.clone();
        deps.sort();
        for dep in &deps {
            self.visit(dep, path, done, order)?;
        }
        path.pop();
        done.insert(name.to_owned());
        order.push(gate);
        Ok(())
    }
}
