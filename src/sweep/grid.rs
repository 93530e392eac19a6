//! The grid file: a base config, seeds, overrides for every run (`[set]`) and lists of values to
//! cross (`[grid]`), all as dotted keys into the config.
//!
//! Overrides are applied to the base config's TOML value tree, which is then deserialised through
//! [`ExperimentConfig`] and checked by its `validate()`: the config's own schema decides what is a
//! key and what type it takes, so nothing of it is repeated here.

use std::path::{Path, PathBuf};

use anyhow::Result;
use formats::config::dotted::{ResolveError, apply, describe, is_name_key, names_first, parse_key, resolve};
use formats::config::{ExperimentConfig, toml_error};
use formats::error;
use serde::Deserialize;
use toml::{Table, Value};

use super::progress::Progress;
use crate::presets;

/// How many runs `sweep plan` makes unless `--max-runs` says otherwise: a grid past it is far
/// more likely a mistake (one list too many) than a plan anyone can train.
pub const MAX_RUNS: usize = 100_000;

/// The grid file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GridFile {
    /// A preset name or a path to a config .toml (relative to the grid file).
    base: String,
    /// One run per seed at every grid point (default: the base config's seed).
    seeds: Option<Vec<u64>>,
    /// Dotted key → value, applied to every run.
    #[serde(default)]
    set: Table,
    /// Dotted key → list of values; every combination is a grid point.
    #[serde(default)]
    grid: Table,
}

/// One resolved run: its grid point (key, value in grid-key order), its seed, its full config.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub point: Vec<(String, Value)>,
    pub seed: u64,
    pub config: ExperimentConfig,
    /// `config.to_toml()`, made once: the plan hashes it for the id and writes it as the file.
    pub toml: String,
}

/// A grid file read and expanded into every run's config.
#[derive(Debug)]
pub struct Grid {
    pub base: String,
    /// The grid's keys, in the order the points vary them (the last one fastest).
    pub keys: Vec<String>,
    pub seeds: Vec<u64>,
    /// Grid point by grid point, seeds innermost.
    pub runs: Vec<Resolved>,
}

/// A TOML date has no config key to go to, and its Rust form leaks into messages.
fn check_no_dates(table: &str, key: &str, v: &Value) -> Result<(), String> {
    match v {
        Value::Datetime(d) => Err(format!("[{table}] `{key}` = {d}: a date is not a config value")),
        Value::Array(a) => a.iter().try_for_each(|v| check_no_dates(table, key, v)),
        Value::Table(t) => t.values().try_for_each(|v| check_no_dates(table, key, v)),
        _ => Ok(()),
    }
}

/// The config key `train.seed` is what `seeds` sets.
const SEED_KEY: &str = "train.seed";

impl Grid {
    /// Read, check and expand a grid file, refused when it makes more than `max_runs` runs.
    pub fn load(path: &Path, max_runs: usize, progress: &mut Progress) -> Result<Self> {
        let text = formats::read::read_to_string(path, formats::read::CONFIG)
            .map_err(|e| error::config(format!("cannot read grid file {}: {e}", path.display())))?;
        Self::parse(&text, path, max_runs, progress)
    }

    /// Parse grid file `text`; `path` names it in errors and anchors a relative `base` path.
    pub fn parse(text: &str, path: &Path, max_runs: usize, progress: &mut Progress) -> Result<Self> {
        let origin = path.display().to_string();
        let bad = |msg: String| error::config(format!("{origin}: {msg}"));
        let file: GridFile = toml::from_str(text).map_err(|e| bad(toml_error(&e, text)))?;

        let base_arg = base_argument(&file.base, path);
        let (_, base_cfg) =
            presets::resolve(&base_arg).map_err(|e| bad(format!("`base = \"{}\"`: {e:#}", file.base)))?;
        // `resolve` has filled in `preset`, so every run's config names the base it came from.
        let base =
            Value::try_from(&base_cfg).map_err(|e| bad(format!("cannot represent the base config as TOML: {e}")))?;

        let mut set = flatten("set", &file.set).map_err(bad)?;
        let mut grid = flatten("grid", &file.grid).map_err(bad)?;
        for (table, pairs) in [("set", &set), ("grid", &grid)] {
            pairs.iter().try_for_each(|(k, v)| check_no_dates(table, k, v)).map_err(bad)?;
        }
        names_first(&mut set);
        names_first(&mut grid);
        for (table, key) in set.iter().map(|(k, _)| ("set", k)).chain(grid.iter().map(|(k, _)| ("grid", k))) {
            if key == SEED_KEY {
                return Err(bad(format!("[{table}] `{SEED_KEY}`: list the seeds in `seeds = [..]` instead")));
            }
        }
        if let Some((key, _)) = grid.iter().find(|(k, _)| set.iter().any(|(s, _)| s == k)) {
            return Err(bad(format!("`{key}` is both in [set] and in [grid]")));
        }
        let mut axes = Vec::new();
        for (key, value) in &grid {
            let Value::Array(values) = value else {
                return Err(bad(format!("[grid] `{key}` must be a list of values, got `{value}`")));
            };
            if values.is_empty() {
                return Err(bad(format!("[grid] `{key}` has no values")));
            }
            axes.push((key.clone(), values.clone()));
        }
        let seeds = file.seeds.unwrap_or_else(|| vec![base_cfg.train.seed]);
        if seeds.is_empty() {
            return Err(bad("`seeds` is empty: give at least one".into()));
        }

        // Counted before anything is built: a grid can name more runs than memory holds.
        let total = run_count(&axes, seeds.len(), max_runs).map_err(bad)?;

        // Keys are checked against the base with [set] applied, one at a time, so an error
        // names the key even when several keys are wrong.
        let mut with_set = base.clone();
        for (key, value) in &set {
            apply(&mut with_set, key, value.clone()).map_err(|e| bad(format!("[set] {e}")))?;
            resolve(with_set.clone()).map_err(|e| bad(format!("[set] {}", describe(&e, &[key]))))?;
        }
        for (key, values) in &axes {
            for value in values {
                let mut tree = with_set.clone();
                apply(&mut tree, key, value.clone()).map_err(|e| bad(format!("[grid] {e}")))?;
                if let Err(e @ ResolveError::Schema { .. }) = resolve(tree) {
                    return Err(bad(format!("[grid] {} (value `{value}`)", describe(&e, &[key]))));
                }
            }
        }

        let mut runs = Vec::with_capacity(total);
        for point in cartesian(&axes) {
            let mut tree = with_set.clone();
            if point.iter().any(|(k, _)| is_name_key(k)) {
                // The point switches a section: [set]'s keys for it go on top of the new one.
                tree = base.clone();
                let (names, rest): (Vec<_>, Vec<_>) = set.iter().chain(&point).partition(|(k, _)| is_name_key(k));
                for (key, value) in names.into_iter().chain(rest) {
                    apply(&mut tree, key, value.clone()).map_err(|e| bad(format!("[grid] {e}")))?;
                }
            } else {
                for (key, value) in &point {
                    apply(&mut tree, key, value.clone()).map_err(|e| bad(format!("[grid] {e}")))?;
                }
            }
            for &seed in &seeds {
                let mut tree = tree.clone();
                apply(&mut tree, SEED_KEY, Value::Integer(seed as i64)).map_err(bad)?;
                let config = resolve(tree).map_err(|e| {
                    let keys: Vec<&String> = set.iter().chain(point.iter()).map(|(k, _)| k).collect();
                    bad(format!("the run at {}, seed {seed}: {}", label(&point), describe(&e, &keys)))
                })?;
                let toml = config.to_toml();
                runs.push(Resolved { point: point.clone(), seed, config, toml });
                progress.show("resolving", runs.len(), total);
            }
        }
        Ok(Grid { base: file.base, keys: axes.into_iter().map(|(k, _)| k).collect(), seeds, runs })
    }
}

/// The runs the grid makes, `seeds` per point, refused above `max_runs`.
fn run_count(axes: &[(String, Vec<Value>)], seeds: usize, max_runs: usize) -> Result<usize, String> {
    let lengths: Vec<usize> = axes.iter().map(|(_, v)| v.len()).collect();
    let count = lengths.iter().try_fold(seeds, |n, &k| n.checked_mul(k));
    if count.is_none_or(|n| n > max_runs) {
        let points = if lengths.is_empty() {
            "1".to_string()
        } else {
            lengths.iter().map(|k| k.to_string()).collect::<Vec<_>>().join(" × ")
        };
        let (count, hint) = match count {
            Some(n) => (n.to_string(), format!(", or plan it anyway with --max-runs {n}")),
            None => (format!("more than {}", usize::MAX), String::new()),
        };
        return Err(format!(
            "the grid makes {count} runs ({points} grid points × {seeds} seeds), more than --max-runs {max_runs} \
             allows; shrink the grid{hint}"
        ));
    }
    Ok(count.unwrap_or(0))
}

/// A grid point for people: `key=value, key=value` (strings without quotes), `base` when empty.
pub fn label(point: &[(String, Value)]) -> String {
    if point.is_empty() {
        return "base".into();
    }
    point.iter().map(|(k, v)| format!("{k}={}", value_text(v))).collect::<Vec<_>>().join(", ")
}

pub fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A path-like `base` is taken relative to the grid file's folder; a preset name as it is.
fn base_argument(base: &str, grid: &Path) -> String {
    let looks_like_path = base.ends_with(".toml") || base.contains('/') || base.contains(std::path::MAIN_SEPARATOR);
    let p = PathBuf::from(base);
    if looks_like_path && p.is_relative() {
        let dir = grid.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        return dir.join(p).display().to_string();
    }
    base.to_string()
}

/// `[set]`/`[grid]` entries as (dotted key, value): quoted keys (`"train.epochs" = 2`) and TOML's
/// own dotted keys or sub-tables (`train.epochs = 2`) mean the same; arrays are values.
fn flatten(table: &str, t: &Table) -> Result<Vec<(String, Value)>, String> {
    fn walk(prefix: &str, t: &Table, out: &mut Vec<(String, Value)>) {
        for (k, v) in t {
            let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
            match v {
                Value::Table(sub) if !sub.is_empty() => walk(&key, sub, out),
                _ => out.push((key, v.clone())),
            }
        }
    }
    let mut out = Vec::new();
    walk("", t, &mut out);
    let mut seen = std::collections::HashSet::new();
    for (k, _) in &out {
        parse_key(k).map_err(|e| format!("[{table}] {e}"))?;
        if !seen.insert(k.clone()) {
            return Err(format!("[{table}] `{k}` is given twice"));
        }
    }
    Ok(out)
}

/// Every combination of one value per axis, the last axis varying fastest; one empty point
/// when there are no axes.
fn cartesian(axes: &[(String, Vec<Value>)]) -> Vec<Vec<(String, Value)>> {
    let mut points = vec![Vec::new()];
    for (key, values) in axes {
        points = points
            .into_iter()
            .flat_map(|p| {
                values.iter().map(move |v| {
                    let mut p = p.clone();
                    p.push((key.clone(), v.clone()));
                    p
                })
            })
            .collect();
    }
    points
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Grid> {
        Grid::parse(text, Path::new("grid.toml"), MAX_RUNS, &mut Progress::hidden())
    }

    fn err(text: &str) -> String {
        let e = parse(text).unwrap_err();
        assert_eq!(error::kind_of(&e), error::Kind::Config, "{e:#}");
        format!("{e:#}")
    }

    #[test]
    fn crosses_grid_keys_and_seeds() {
        let g = parse(
            r#"
base = "overfit"
seeds = [1, 2]
[set]
"train.epochs" = 2
data.train_limit = 500
[grid]
"optimizer.learning_rate" = [0.1, 0.5]
"model.hidden[0].dropout" = [0.0, 0.5]
"#,
        )
        .unwrap();
        assert_eq!(g.keys, ["model.hidden[0].dropout", "optimizer.learning_rate"]);
        assert_eq!(g.runs.len(), 8);
        let r = &g.runs[3]; // dropout 0.0, lr 0.5, seed 2
        assert_eq!(label(&r.point), "model.hidden[0].dropout=0.0, optimizer.learning_rate=0.5");
        assert_eq!((r.seed, r.config.train.seed), (2, 2));
        assert_eq!(r.config.optimizer.learning_rate(), 0.5);
        assert_eq!(r.config.model.hidden[0].dropout, 0.0);
        assert_eq!((r.config.train.epochs, r.config.data.train_limit), (2, Some(500)));
        assert_eq!(r.config.preset, "overfit");
        assert_eq!(g.runs[7].config.model.hidden[0].dropout, 0.5);
        // Everything else is the preset's.
        let (_, preset) = presets::resolve("overfit").unwrap();
        assert_eq!(r.config.train.batch_size, preset.train.batch_size);
        assert_eq!(r.config.model.hidden.len(), preset.model.hidden.len());
    }

    #[test]
    fn optional_sections_and_integers_for_floats() {
        let g = parse(
            r#"
base = "softmax"
[grid]
"optimizer.learning_rate" = [1, 3]
"schedule" = [{ name = "step", every = 2 }]
"#,
        )
        .unwrap();
        assert_eq!(g.runs.len(), 2);
        assert_eq!(g.runs[1].config.optimizer.learning_rate(), 3.0);
        let schedule = g.runs[0].config.schedule.clone().unwrap();
        assert_eq!(
            schedule,
            formats::config::ScheduleConfig::Step(formats::config::StepDecayConfig { factor: 0.5, every: 2 })
        );
        assert_eq!(g.seeds, [42]);
    }

    #[test]
    fn mistakes_name_the_key() {
        let cases: &[(&str, &str)] = &[
            ("base = \"overfit\"\nseed = [1]\n", "unknown field `seed`"),
            ("base = \"overfitt\"\n", "did you mean `overfit`"),
            ("seeds = [1]\n", "missing field `base`"),
            (
                "base = \"overfit\"\n[grid]\n\"optimizer.learnin_rate\" = [0.1]\n",
                "`optimizer.learnin_rate` is not a config key",
            ),
            (
                "base = \"overfit\"\n[set]\n\"optimiser.learning_rate\" = 0.1\n",
                "`optimiser.learning_rate` is not a config key",
            ),
            (
                "base = \"overfit\"\n[grid]\n\"train.epochs\" = [\"two\"]\n",
                "[grid] `train.epochs` does not fit the config: invalid type: string \"two\"",
            ),
            ("base = \"overfit\"\n[grid]\n\"train.epochs\" = [1, 2.5]\n", "`train.epochs` does not fit the config"),
            (
                "base = \"overfit\"\n[grid]\n\"optimizer.learning_rate\" = [0.1, -1]\n",
                "`optimizer.learning_rate` must be a positive number that f32 can hold, got -1",
            ),
            (
                "base = \"overfit\"\n[grid]\n\"optimizer.learning_rate\" = 0.1\n",
                "[grid] `optimizer.learning_rate` must be a list",
            ),
            (
                "base = \"overfit\"\n[grid]\n\"optimizer.learning_rate\" = []\n",
                "[grid] `optimizer.learning_rate` has no values",
            ),
            ("base = \"overfit\"\n[grid]\n\"train.seed\" = [1, 2]\n", "`train.seed`: list the seeds in `seeds"),
            ("base = \"overfit\"\nseeds = []\n", "`seeds` is empty"),
            (
                "base = \"overfit\"\n[grid]\n\"model.hidden[3].units\" = [5]\n",
                "`model.hidden[3].units`: `model.hidden` has 1 entries",
            ),
            (
                "base = \"overfit\"\n[grid]\n\"optimizer.learning_rate.x\" = [5]\n",
                "`optimizer.learning_rate` is a number, not a table",
            ),
            ("base = \"overfit\"\n[grid]\n\"model..units\" = [5]\n", "`model..units` is not a dotted key"),
            (
                "base = \"overfit\"\n[set]\n\"train.epochs\" = 1\n[grid]\n\"train.epochs\" = [1]\n",
                "both in [set] and in [grid]",
            ),
            ("base = \"overfit\"\n[set]\n\"train.epochs\" = 0\n", "`train.epochs` must be at least 1"),
            ("base = \"overfit\"\n[grid\n", "grid.toml: line 2:"),
        ];
        for (text, needle) in cases {
            let e = err(text);
            assert!(e.starts_with("grid.toml: "), "{e}");
            assert!(e.contains(needle), "{text:?}: {e:?} should contain {needle:?}");
            assert!(!e.contains('\n'), "one line: {e:?}");
        }
    }

    #[test]
    fn the_run_count_is_checked_against_the_limit_before_any_run_is_built() {
        let two_by_two = "base = \"overfit\"\nseeds = [1, 2]\n[grid]\n\"train.epochs\" = [1, 2]\n";
        let limited = |text: &str, max: usize| Grid::parse(text, Path::new("grid.toml"), max, &mut Progress::hidden());
        assert_eq!(limited(two_by_two, 4).unwrap().runs.len(), 4);
        let e = limited(two_by_two, 3).unwrap_err();
        assert_eq!(error::kind_of(&e), error::Kind::Config);
        assert_eq!(
            format!("{e:#}"),
            "grid.toml: the grid makes 4 runs (2 grid points × 2 seeds), more than --max-runs 3 allows; \
             shrink the grid, or plan it anyway with --max-runs 4"
        );
        // 1000⁷ overflows 64 bits: counted as over any limit, never built.
        let values = (1..=1000).map(|i| i.to_string()).collect::<Vec<_>>().join(", ");
        let keys = ["train.epochs", "train.batch_size", "model.hidden[0].units", "data.train_limit"];
        let mut huge = format!("base = \"overfit\"\nseeds = [{values}]\n[grid]\n");
        for key in keys.iter().chain(&["data.valid_limit", "train.log_every", "train.patience"]) {
            huge.push_str(&format!("\"{key}\" = [{values}]\n"));
        }
        let e = format!("{:#}", limited(&huge, usize::MAX).unwrap_err());
        assert!(e.starts_with(&format!("grid.toml: the grid makes more than {} runs (1000 × ", usize::MAX)), "{e}");
        assert!(e.ends_with("allows; shrink the grid"), "{e}");
    }

    #[test]
    fn combination_errors_name_the_run() {
        // Each value is fine on its own; the batch is larger than the 500 images of one point.
        let e =
            err("base = \"overfit\"\n[grid]\n\"data.train_limit\" = [5000, 500]\n\"train.batch_size\" = [10, 1000]\n");
        assert!(e.contains("the run at data.train_limit=500, train.batch_size=1000, seed 42"), "{e}");
        assert!(e.contains("`train.batch_size` is 1000 but only 500"), "{e}");
    }

    #[test]
    fn relative_base_paths_are_next_to_the_grid_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("mine.toml"), presets::PRESETS.iter().find(|p| p.0 == "softmax").unwrap().1)
            .unwrap();
        let grid = dir.path().join("grid.toml");
        std::fs::write(&grid, "base = \"mine.toml\"\nseeds = [3]\n").unwrap();
        let g = Grid::load(&grid, MAX_RUNS, &mut Progress::hidden()).unwrap();
        assert_eq!(g.runs.len(), 1);
        assert_eq!(g.runs[0].config.preset, "mine");
        assert!(g.keys.is_empty());
        assert_eq!(label(&g.runs[0].point), "base");
    }
}
