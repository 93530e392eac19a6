//! Dotted keys into a config (`optimizer.learning_rate`, `model.hidden[0].dropout`), as a sweep
//! grid's `[set]` and `[grid]` and `train --set` write them: each is applied to the config's TOML
//! value tree, which is then deserialised through [`ExperimentConfig`] and checked by its
//! `validate()`, so the config's own schema decides what is a key and what type it takes.

use toml::{Table, Value};

use super::ExperimentConfig;

/// Sections whose `name` selects a variant with keys of its own.
const SWITCHED: [&str; 2] = ["optimizer", "schedule"];

pub fn is_name_key(key: &str) -> bool {
    key.strip_suffix(".name").is_some_and(|section| SWITCHED.contains(&section))
}

/// `name` keys first: switching an optimizer resets its section, then its own keys go on top.
pub fn names_first(pairs: &mut [(String, Value)]) {
    pairs.sort_by_key(|(k, _)| !is_name_key(k));
}

#[derive(Debug, Clone, PartialEq)]
pub enum Segment {
    Key(String),
    Index(usize),
}

/// `model.hidden[0].dropout` → model, hidden, [0], dropout.
pub fn parse_key(key: &str) -> Result<Vec<Segment>, String> {
    let invalid =
        || format!("`{key}` is not a dotted key (like `optimizer.learning_rate` or `model.hidden[0].dropout`)");
    let mut out = Vec::new();
    for part in key.split('.') {
        let (name, mut rest) = part.split_at(part.find('[').unwrap_or(part.len()));
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
            return Err(invalid());
        }
        out.push(Segment::Key(name.to_string()));
        while !rest.is_empty() {
            let (digits, after) = rest.strip_prefix('[').and_then(|r| r.split_once(']')).ok_or_else(invalid)?;
            out.push(Segment::Index(digits.parse().map_err(|_| invalid())?));
            rest = after;
        }
    }
    Ok(out)
}

/// Set `key` to `value` in the tree, creating missing tables on the way (whether such a table
/// may exist is for the config's schema to say).
pub fn apply(tree: &mut Value, key: &str, value: Value) -> Result<(), String> {
    let path = parse_key(key)?;
    // Another optimizer or schedule starts from its own defaults: the base's keys for the old
    // one (sgd's `momentum` under `name = "adam"`) would only be refused as unknown.
    if let ([Segment::Key(section), Segment::Key(name)], Value::Table(root)) = (path.as_slice(), &mut *tree)
        && SWITCHED.contains(&section.as_str())
        && name == "name"
        && root.get(section).and_then(|t| t.get("name")) != Some(&value)
    {
        root.insert(section.clone(), Value::Table(Table::from_iter([(name.clone(), value)])));
        return Ok(());
    }
    let mut node = tree;
    let mut seen = String::new();
    for (i, seg) in path.iter().enumerate() {
        let last = i + 1 == path.len();
        node = match (seg, node) {
            (Segment::Key(k), Value::Table(t)) => {
                if last {
                    t.insert(k.clone(), value);
                    return Ok(());
                }
                t.entry(k.clone()).or_insert_with(|| Value::Table(Table::new()))
            }
            (Segment::Index(n), Value::Array(a)) => {
                let len = a.len();
                let Some(slot) = a.get_mut(*n) else {
                    return Err(format!("`{key}`: `{seen}` has {len} entries, so [{n}] does not exist"));
                };
                if last {
                    *slot = value;
                    return Ok(());
                }
                slot
            }
            (Segment::Key(_), other) => {
                return Err(format!("`{key}`: `{seen}` is {}, not a table", kind(other)));
            }
            (Segment::Index(_), other) => {
                return Err(format!("`{key}`: `{seen}` is {}, not a list", kind(other)));
            }
        };
        match seg {
            Segment::Key(k) if seen.is_empty() => seen = k.clone(),
            Segment::Key(k) => seen = format!("{seen}.{k}"),
            Segment::Index(n) => seen = format!("{seen}[{n}]"),
        }
    }
    unreachable!("a parsed key has at least one segment")
}

/// The value at `key` in `tree`, if the tree has one there.
pub fn get<'a>(tree: &'a Value, key: &str) -> Option<&'a Value> {
    let mut node = tree;
    for seg in parse_key(key).ok()? {
        node = match (seg, node) {
            (Segment::Key(k), Value::Table(t)) => t.get(&k)?,
            (Segment::Index(n), Value::Array(a)) => a.get(n)?,
            _ => return None,
        };
    }
    Some(node)
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::String(_) => "a string",
        Value::Integer(_) => "an integer",
        Value::Float(_) => "a number",
        Value::Boolean(_) => "a boolean",
        Value::Datetime(_) => "a date",
        Value::Array(_) => "a list",
        Value::Table(_) => "a table",
    }
}

/// Why a tree is not a valid config.
#[derive(Debug)]
pub enum ResolveError {
    /// Not the config's shape: an unknown key, a wrong type, a missing field. `path` is the
    /// dotted path (without list indices) where the deserialiser stopped.
    Schema { path: String, message: String },
    /// The shape is right but `validate()` refused a value; its message names the key.
    Invalid(String),
}

pub fn resolve(tree: Value) -> Result<ExperimentConfig, ResolveError> {
    let config: ExperimentConfig = tree.try_into().map_err(|e: toml::de::Error| {
        // toml's deserialiser records the keys it was under; Display ends with "in `a.b`".
        let text = e.to_string();
        let path = text
            .lines()
            .rev()
            .find_map(|l| l.trim().strip_prefix("in `").and_then(|l| l.strip_suffix('`')))
            .unwrap_or("")
            .to_string();
        ResolveError::Schema { path, message: e.message().trim().replace('\n', " ") }
    })?;
    config.validate().map_err(|e| ResolveError::Invalid(format!("{e:#}")))?;
    Ok(config)
}

/// The error in words, naming the dotted key it comes from where one of `keys` matches.
pub fn describe(e: &ResolveError, keys: &[&String]) -> String {
    match e {
        ResolveError::Invalid(msg) => msg.clone(),
        ResolveError::Schema { path, message } => {
            // An unknown field is reported at its parent: put the field's name back on.
            let field = message.strip_prefix("unknown field `").and_then(|m| m.split_once('`')).map(|(f, _)| f);
            let at = match (field, path.is_empty()) {
                (Some(f), true) => f.to_string(),
                (Some(f), false) => format!("{path}.{f}"),
                (None, _) => path.clone(),
            };
            let strip = |k: &str| {
                parse_key(k).map_or(k.to_string(), |segs| {
                    segs.iter()
                        .filter_map(|s| match s {
                            Segment::Key(k) => Some(k.as_str()),
                            Segment::Index(_) => None,
                        })
                        .collect::<Vec<_>>()
                        .join(".")
                })
            };
            let culprit = keys.iter().find(|k| {
                let k = strip(k.as_str());
                k == at || k.starts_with(&format!("{at}.")) || at.starts_with(&format!("{k}."))
            });
            let what = if field.is_some() { "is not a config key" } else { "does not fit the config" };
            match culprit {
                Some(k) => format!("`{k}` {what}: {message}"),
                None if at.is_empty() => message.clone(),
                None => format!("`{at}` {what}: {message}"),
            }
        }
    }
}

/// A value as `--set KEY=VALUE` gives it: TOML (`0.3`, `1e-4`, `true`, `[1, 2]`, `"adam"`), or a
/// bare word taken as a string (`adam`, `relu`).
pub fn parse_value(text: &str) -> Value {
    match toml::from_str::<Table>(&format!("v = {text}")) {
        Ok(mut t) => match t.remove("v") {
            Some(Value::Datetime(_)) | None => Value::String(text.to_string()),
            Some(v) => v,
        },
        Err(_) => Value::String(text.to_string()),
    }
}

/// `cfg` with every `(key, value)` set (a section's `name` first, so its own keys go on top of
/// its defaults), checked as a config file is; an error names the key at fault.
pub fn set(cfg: &ExperimentConfig, settings: &[(String, Value)]) -> Result<ExperimentConfig, String> {
    let mut tree = Value::try_from(cfg).map_err(|e| format!("cannot represent the config as TOML: {e}"))?;
    let mut settings = settings.to_vec();
    names_first(&mut settings);
    for (key, value) in &settings {
        apply(&mut tree, key, value.clone())?;
    }
    let keys: Vec<&String> = settings.iter().map(|(k, _)| k).collect();
    resolve(tree).map_err(|e| describe(&e, &keys))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> ExperimentConfig {
        ExperimentConfig::from_toml(
            "[model]\nhidden = [{ units = 30, activation = \"sigmoid\" }]\noutput = \"sigmoid\"\n[train]\nepochs = 3\n\
             batch_size = 10\nloss = \"mse\"\n[optimizer]\nname = \"sgd\"\nlearning_rate = 3.0\n",
            "test",
        )
        .unwrap()
    }

    fn set_text(pairs: &[(&str, &str)]) -> Result<ExperimentConfig, String> {
        let pairs: Vec<(String, Value)> = pairs.iter().map(|(k, v)| (k.to_string(), parse_value(v))).collect();
        set(&base(), &pairs)
    }

    #[test]
    fn values_parse_as_toml_or_else_as_words() {
        assert_eq!(parse_value("0.3"), Value::Float(0.3));
        assert_eq!(parse_value("1e-4"), Value::Float(1e-4));
        assert_eq!(parse_value("7"), Value::Integer(7));
        assert_eq!(parse_value("true"), Value::Boolean(true));
        assert_eq!(parse_value("adam"), Value::String("adam".into()));
        assert_eq!(parse_value("\"adam\""), Value::String("adam".into()));
        assert_eq!(parse_value("1979-05-27"), Value::String("1979-05-27".into()));
        assert_eq!(parse_value("[1, 2]"), Value::Array(vec![Value::Integer(1), Value::Integer(2)]));
    }

    #[test]
    fn set_changes_the_keys_and_checks_the_result() {
        let c =
            set_text(&[("model.hidden[0].dropout", "0.3"), ("train.l2", "1e-4"), ("optimizer.name", "adam")]).unwrap();
        assert_eq!(c.model.hidden[0].dropout, 0.3);
        assert_eq!(c.train.l2, 1e-4);
        assert!(matches!(c.optimizer, super::super::OptimizerConfig::Adam(_)), "{:?}", c.optimizer);
        // An integer where a number goes is that number.
        assert_eq!(set_text(&[("train.l2", "0")]).unwrap().train.l2, 0.0);
    }

    #[test]
    fn a_wrong_key_type_or_value_is_named() {
        let e = set_text(&[("train.lr", "0.1")]).unwrap_err();
        assert!(e.contains("`train.lr` is not a config key"), "{e}");
        let e = set_text(&[("train.epochs", "many")]).unwrap_err();
        assert!(e.contains("`train.epochs`") && e.contains("invalid type"), "{e}");
        let e = set_text(&[("model.hidden[0].dropout", "1.5")]).unwrap_err();
        assert!(e.contains("dropout"), "{e}");
        let e = set_text(&[("model.hidden[3].dropout", "0.1")]).unwrap_err();
        assert!(e.contains("has 1 entries, so [3] does not exist"), "{e}");
        let e = set_text(&[("not a key", "1")]).unwrap_err();
        assert!(e.contains("is not a dotted key"), "{e}");
    }
}
