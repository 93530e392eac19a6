//! A sweep's `plan.json`, as a sweep directory holds it: the grid's keys and seeds and one entry
//! per run, each naming its config and run folder by the id of its resolved config. [`Plan::parse`]
//! takes no entry on trust: ids and paths that stay inside the sweep folder, each run once, every
//! grid point once per seed; [`Plan::agrees`] holds an entry against the config it names.

use std::collections::{HashMap, HashSet};

use anyhow::Result;
use serde::{Deserialize, Serialize};

use crate::config::{ExperimentConfig, dotted};
use crate::error;

/// The one grid key of the lecture's plan: the experiment's name, which is its config's preset.
pub const EXPERIMENT: &str = "experiment";
pub const CONFIGS: &str = "configs";
pub const RUNS: &str = "runs";
pub const FORMAT: &str = "mnist-lab-sweep-1";

/// `plan.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub format: String,
    /// The grid file's `base`, as written.
    pub base: String,
    /// The grid's keys, in the order of every entry's `point`.
    pub keys: Vec<String>,
    pub seeds: Vec<u64>,
    pub runs: Vec<Entry>,
}

/// One run of the plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub index: usize,
    pub id: String,
    /// The grid point: one value per key of [`Plan::keys`], in that order.
    pub point: Vec<serde_json::Value>,
    pub seed: u64,
    /// Relative to the sweep directory.
    pub config: String,
    pub run: String,
}

impl Plan {
    /// Parse and check plan.json's `text`; `origin` names the file in errors (data errors).
    pub fn parse(text: &str, origin: &str) -> Result<Self> {
        let plan: Plan =
            serde_json::from_str(text).map_err(|e| error::data(format!("{} is not a sweep plan: {e}", origin)))?;
        if plan.format != FORMAT {
            return Err(error::data(format!("{}: unknown plan format `{}`", origin, plan.format)));
        }
        let mut seen = std::collections::HashMap::with_capacity(plan.runs.len());
        for (i, e) in plan.runs.iter().enumerate() {
            // Ids and paths become file names: nothing may point outside the sweep directory.
            let ok = e.index == i
                && e.id.len() == 12
                && e.id.bytes().all(|b| b.is_ascii_hexdigit())
                && e.config == format!("{CONFIGS}/{}.toml", e.id)
                && e.run == format!("{RUNS}/{}", e.id)
                && e.point.len() == plan.keys.len();
            if !ok {
                return Err(error::data(format!("{}: run {i} is not a valid entry", origin)));
            }
            // One run listed twice would be trained once and counted twice.
            if let Some(first) = seen.insert(e.id.as_str(), i) {
                return Err(error::data(format!(
                    "{}: runs {first} and {i} are the same run ({}); a plan lists each run once \
                     (plan the grid again into a new directory)",
                    origin, e.id
                )));
            }
        }
        plan.check_counts().map_err(|why| error::data(format!("{}: {why}", origin)))?;
        Ok(plan)
    }

    /// That the plan says one thing of its size: its keys and seeds each once, and every grid
    /// point run once per seed of `seeds`, no more and no other.
    fn check_counts(&self) -> std::result::Result<(), String> {
        let mut keys = HashSet::new();
        if let Some(k) = self.keys.iter().find(|k| !keys.insert(k.as_str())) {
            return Err(format!("keys lists `{}` twice", one_line(k)));
        }
        let seeds: HashSet<u64> = self.seeds.iter().copied().collect();
        if seeds.len() != self.seeds.len() || seeds.is_empty() {
            return Err(format!(
                "seeds lists {} seeds, {} of them different; a plan lists each once",
                self.seeds.len(),
                seeds.len()
            ));
        }
        let mut per_point: HashMap<String, HashSet<u64>> = HashMap::new();
        for e in &self.runs {
            if !seeds.contains(&e.seed) {
                return Err(format!("run {} has seed {}, which seeds does not list", e.index, e.seed));
            }
            let point = serde_json::to_string(&e.point).unwrap_or_default();
            if !per_point.entry(point).or_default().insert(e.seed) {
                return Err(format!("run {} repeats the grid point and seed of another run", e.index));
            }
        }
        if let Some((point, got)) = per_point.iter().find(|(_, s)| s.len() != seeds.len()) {
            return Err(format!(
                "grid point {} has runs for {} of the {} seeds; a plan runs every point once per seed",
                one_line(point),
                got.len(),
                seeds.len()
            ));
        }
        Ok(())
    }

    /// That `entry`'s grid point and seed are what its config `cfg` holds: a plan.json edited
    /// to swap two points' roles would judge one network's run as another's. The lecture's one
    /// key, [`EXPERIMENT`], names the config's preset; any other key is a dotted config key.
    pub fn agrees(&self, entry: &Entry, cfg: &ExperimentConfig) -> std::result::Result<(), String> {
        if entry.seed != cfg.train.seed {
            return Err(format!(
                "plan.json gives run {} seed {}, its config seed {}",
                entry.index, entry.seed, cfg.train.seed
            ));
        }
        let tree = toml::Value::try_from(cfg).map_err(|e| e.to_string())?;
        for (key, value) in self.keys.iter().zip(&entry.point) {
            let found = match key.as_str() {
                EXPERIMENT => Some(toml::Value::String(cfg.preset.clone())),
                _ => dotted::get(&tree, key).cloned(),
            };
            if !found.as_ref().is_some_and(|f| same_value(f, value)) {
                return Err(format!(
                    "plan.json gives run {} {key} = {}, its config {}",
                    entry.index,
                    one_line(&json_text(value)),
                    found.map_or("has no such key".to_string(), |f| format!("{key} = {}", one_line(&f.to_string())))
                ));
            }
        }
        Ok(())
    }

    /// A grid point for people: `key=value, …` (`base` without grid keys).
    pub fn label(&self, entry: &Entry) -> String {
        if self.keys.is_empty() {
            return "base".into();
        }
        self.keys.iter().zip(&entry.point).map(|(k, v)| format!("{k}={}", json_text(v))).collect::<Vec<_>>().join(", ")
    }
}

/// A config's value and a plan's JSON one alike (an integer where a number goes is that number).
fn same_value(t: &toml::Value, j: &serde_json::Value) -> bool {
    match (t, j) {
        (toml::Value::Float(a), j) => j.as_f64() == Some(*a),
        (toml::Value::Integer(a), j) => j.as_i64() == Some(*a) || j.as_f64() == Some(*a as f64),
        (toml::Value::String(a), serde_json::Value::String(b)) => a == b,
        (toml::Value::Boolean(a), serde_json::Value::Bool(b)) => a == b,
        (toml::Value::Array(a), serde_json::Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same_value(x, y))
        }
        (toml::Value::Table(a), serde_json::Value::Object(b)) => {
            a.len() == b.len() && a.iter().all(|(k, v)| b.get(k).is_some_and(|w| same_value(v, w)))
        }
        _ => false,
    }
}

/// A value as the grid file wrote it, strings without quotes.
pub fn json_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Where a run stands, from its files alone (no lock is taken: a worker must never find a run
/// locked by a mere reader and skip it).
/// Text for one line of a list: line breaks and other control characters become spaces.
pub fn one_line(s: &str) -> String {
    s.trim().chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}
