//! A Keras MLP read for mnist-lab, without Burn (so the fuzz targets reach it): the `.keras`
//! archive's config.json read layer by layer into an [`ExperimentConfig`], its HDF5 weights
//! (read with `hdf5-pure`) into each Dense layer's kernel and bias, each value kept bit for bit;
//! the main crate's `keras/import.rs` makes the network of them.
//!
//! Taken: a Sequential or a functional chain of InputLayer, Flatten/Reshape of a 28×28 input,
//! Rescaling(1/255) (mnist-lab's pixels are already in 0..1), Dense, Activation and Dropout.
//! Anything else is refused naming the layer. The archive is read in memory with every member
//! capped, so a zip bomb or a lying header stops at the cap, and nothing is written here.

use std::io::{Read, Seek};

use crate::config::{
    Activation, AdadeltaConfig, AdagradConfig, AdamConfig, DataConfig, ExperimentConfig, Init, LayerConfig, Loss,
    ModelConfig, OptimizerConfig, Output, RmspropConfig, SgdConfig, TrainConfig,
};
use crate::error;
use crate::idx::{CLASSES, PIXELS};
use anyhow::Result;
use serde_json::Value;
use zip::ZipArchive;

/// The archive's members mnist-lab reads and writes, by the names Keras gives them.
pub const CONFIG_JSON: &str = "config.json";
pub const METADATA_JSON: &str = "metadata.json";
pub const WEIGHTS_H5: &str = "model.weights.h5";

/// config.json past this is no MLP's.
const MAX_CONFIG: u64 = 16 << 20;
/// The largest network config validation lets through (2^28 f32), plus HDF5's own metadata.
/// model.weights.h5 past this is not the network config.json describes: its weights and up to
/// four optimizer slots each (Adam's m and v, AMSGrad's v̂, the iterations), as f32, and room
/// for HDF5's own metadata.
fn max_weights(cfg: &ExperimentConfig) -> u64 {
    (cfg.model.parameters() as u64).saturating_mul(4 * 5).saturating_add(16 << 20)
}

/// What a `.keras` archive holds for mnist-lab: the run's config, each Dense layer's weights
/// (kernel [in, out] row-major, bias), and one line on what was left out.
pub struct Archive {
    pub config: ExperimentConfig,
    pub weights: Weights,
    pub warning: Option<String>,
}

/// Read the `.keras` archive `archive` (named `origin` in errors) into a config and the weights;
/// the zip is read where it lies (a file, or bytes in memory), only its two members unpacked.
pub fn read<R: Read + Seek>(archive: R, origin: &str) -> Result<Archive> {
    let bad = |why: String| error::data(format!("{origin}: {why}"));
    let mut zip = ZipArchive::new(archive).map_err(|e| bad(format!("not a .keras archive (zip): {e}")))?;
    for i in 0..zip.len() {
        let entry = zip.by_index_raw(i).map_err(|e| bad(format!("damaged archive: {e}")))?;
        if entry.is_symlink() {
            return Err(bad(format!(
                "the archive holds a link ({}); a .keras file has none",
                String::from_utf8_lossy(entry.name_raw())
            )));
        }
    }
    let config_text = member(&mut zip, CONFIG_JSON, MAX_CONFIG).map_err(bad)?;
    let (cfg, plan, notes) = config(&config_text, origin)?;

    let weights = member(&mut zip, WEIGHTS_H5, max_weights(&cfg)).map_err(bad)?;
    let values = read_weights(weights, &plan).map_err(|e| bad(format!("{WEIGHTS_H5}: {e}")))?;
    if let Some((i, _)) = values.iter().enumerate().find(|(_, (k, b))| k.iter().chain(b).any(|v| !v.is_finite())) {
        return Err(bad(format!("NaN or infinite weights (layer {i})")));
    }
    // Layer names come from the file: one line, whatever they hold.
    let warning = (!notes.is_empty()).then(|| {
        let text = format!("{origin}: left out {}", notes.join("; "));
        text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
    });
    Ok(Archive { config: cfg, weights: values, warning })
}

/// config.json's `text` read into the run's config (and what was left out of it), as an import
/// reads it.
pub fn read_config(text: &[u8], origin: &str) -> Result<(ExperimentConfig, Vec<String>)> {
    config(text, origin).map(|(cfg, _, notes)| (cfg, notes))
}

/// config.json's `text` read into the run's config, the Dense layers it has, and what was left
/// out.
fn config(text: &[u8], origin: &str) -> Result<(ExperimentConfig, Plan, Vec<String>)> {
    let bad = |why: String| error::data(format!("{origin}: {why}"));
    let config: Value = serde_json::from_slice(text).map_err(|e| bad(format!("{CONFIG_JSON} is not JSON: {e}")))?;
    let mut notes = Vec::new();
    let plan = read_layers(&config).map_err(|e| error::config(format!("{origin}: {e}")))?;
    let mut cfg = experiment(&config, &plan, origin, &mut notes);
    if let Err(e) = cfg.validate() {
        // Blame what is at fault: a compile setting mnist-lab refuses (SGD's momentum of 1, valid
        // in Keras) does not stop the network coming in; only training it further needs one.
        let mut plain = cfg.clone();
        (plain.optimizer, plain.schedule) = (OptimizerConfig::Sgd(SgdConfig::default()), None);
        if plain.validate().is_err() {
            return Err(error::config(format!("{origin}: the network does not fit mnist-lab: {e:#}")));
        }
        notes.push(format!(
            "its optimizer, which mnist-lab cannot train with ({e:#}): training the imported run goes on with \
             plain SGD at 0.01"
        ));
        cfg = plain;
    }
    Ok((cfg, plan, notes))
}

/// One member's bytes, refused past `cap` whatever its header declares (zip bombs).
fn member<R: Read + Seek>(zip: &mut ZipArchive<R>, name: &str, cap: u64) -> Result<Vec<u8>, String> {
    let entry = zip.by_name(name).map_err(|e| format!("no {name} in the archive ({e}); not a Keras 3 .keras file"))?;
    if !entry.is_file() {
        return Err(format!("{name} is not a plain file in the archive"));
    }
    if entry.size() > cap {
        return Err(format!(
            "{name} declares {} bytes; more than the network its config describes can need ({cap})",
            entry.size()
        ));
    }
    let mut bytes = Vec::new();
    entry.take(cap + 1).read_to_end(&mut bytes).map_err(|e| format!("cannot unpack {name}: {e}"))?;
    if bytes.len() as u64 > cap {
        return Err(format!("{name} unpacks to more than {cap} bytes"));
    }
    Ok(bytes)
}

/// One Dense layer as read from config.json, with what follows it.
#[derive(Debug)]
struct DenseSpec {
    name: String,
    n_in: usize,
    units: usize,
    /// None: `linear` so far (an Activation layer may follow).
    activation: Option<String>,
    max_norm: Option<f64>,
    penalty: (f64, f64),
    init: Option<Init>,
    dropout: f64,
}

#[derive(Debug)]
struct Plan {
    dense: Vec<DenseSpec>,
}

fn layer_name(layer: &Value) -> String {
    layer["config"]["name"].as_str().unwrap_or("?").to_string()
}

/// The layer list in order, checking that a functional model is a plain chain.
fn layer_list(config: &Value) -> Result<Vec<&Value>, String> {
    let class = config["class_name"].as_str().unwrap_or("");
    let layers = config["config"]["layers"].as_array().ok_or("config.json has no layer list")?;
    match class {
        "Sequential" => Ok(layers.iter().collect()),
        "Functional" | "Model" => {
            // Each layer takes the one before it, and nothing else.
            for pair in layers.windows(2) {
                let nodes = pair[1]["inbound_nodes"].as_array().map_or(&[][..], |v| v.as_slice());
                let from: Vec<&str> = nodes
                    .iter()
                    .flat_map(|n| n["args"].as_array().into_iter().flatten())
                    .map(|a| a["config"]["keras_history"][0].as_str().unwrap_or("?"))
                    .collect();
                if from != [layer_name(&pair[0])] {
                    return Err(format!(
                        "layer `{}` does not simply follow `{}`: only a chain of layers is taken",
                        layer_name(&pair[1]),
                        layer_name(&pair[0])
                    ));
                }
            }
            Ok(layers.iter().collect())
        }
        other => Err(format!("the model is a `{other}`; only a Sequential or a functional chain is taken")),
    }
}

/// A shape without its batch axis, from `batch_shape` (Keras 3) or `batch_input_shape`.
fn input_shape(layer: &Value) -> Option<Vec<usize>> {
    let c = &layer["config"];
    let shape = c.get("batch_shape").or_else(|| c.get("batch_input_shape"))?.as_array()?;
    shape.iter().skip(1).map(|d| d.as_u64().map(|d| d as usize)).collect()
}

fn read_layers(config: &Value) -> Result<Plan, String> {
    let layers = layer_list(config)?;
    // Without an InputLayer, a Sequential keeps its input shape here.
    let mut shape: Option<Vec<usize>> = config["config"]["build_input_shape"]
        .as_array()
        .and_then(|s| s.iter().skip(1).map(|d| d.as_u64().map(|d| d as usize)).collect());
    let mut dense: Vec<DenseSpec> = Vec::new();
    for layer in layers {
        let c = &layer["config"];
        match class_of(layer) {
            "InputLayer" => shape = input_shape(layer),
            "Flatten" if dense.is_empty() => {
                shape = match shape {
                    Some(s) => Some(vec![elements(&s).ok_or_else(|| refuse(layer, &too_many(&s)))?]),
                    None => None,
                }
            }
            "Reshape" if dense.is_empty() => {
                let target: Option<Vec<usize>> = c["target_shape"]
                    .as_array()
                    .and_then(|t| t.iter().map(|d| d.as_u64().map(|d| d as usize)).collect());
                match target {
                    Some(t) if elements(&t) == Some(PIXELS) => shape = Some(t),
                    _ => return Err(refuse(layer, "must reshape the 28×28 input to 784 values")),
                }
            }
            "Rescaling" if dense.is_empty() => {
                // mnist-lab feeds pixels/255: exactly what Rescaling(1/255) makes of raw pixels.
                let (scale, offset) = (c["scale"].as_f64(), c["offset"].as_f64().unwrap_or(0.0));
                if !matches!(scale, Some(s) if (s * 255.0 - 1.0).abs() < 1e-6) || offset != 0.0 {
                    return Err(refuse(layer, "must be Rescaling(1/255) (raw pixels to 0..1, mnist-lab's input)"));
                }
            }
            "Dense" => {
                if dense.is_empty() && shape.is_none() {
                    shape = input_shape(layer);
                }
                let spec = dense_spec(layer, dense.last(), shape.as_deref())?;
                dense.push(spec);
            }
            "Activation" => match dense.last_mut() {
                Some(d) if d.activation.is_none() && d.dropout == 0.0 => {
                    d.activation = c["activation"].as_str().map(String::from);
                }
                _ => return Err(refuse(layer, "must follow a Dense layer without an activation")),
            },
            "Dropout" => match dense.last_mut() {
                Some(d) if d.dropout == 0.0 => {
                    d.dropout = c["rate"].as_f64().ok_or_else(|| refuse(layer, "has no `rate`"))?;
                }
                _ => return Err(refuse(layer, "must follow a Dense layer (mnist-lab drops hidden units only)")),
            },
            "Flatten" | "Reshape" | "Rescaling" => return Err(refuse(layer, "must come before the first Dense layer")),
            _ => {
                return Err(refuse(
                    layer,
                    "has no mnist-lab counterpart (taken: Dense, Dropout, Activation, Flatten, Reshape, Rescaling)",
                ));
            }
        }
    }
    check_chain(&dense)?;
    Ok(Plan { dense })
}

/// The chain as a whole: ten outputs through softmax or sigmoid, hidden layers mnist-lab has.
fn check_chain(dense: &[DenseSpec]) -> Result<(), String> {
    let Some(last) = dense.last() else { return Err("the model has no Dense layer".into()) };
    if last.units != CLASSES || !matches!(last.activation.as_deref(), Some("softmax" | "sigmoid")) {
        return Err(format!(
            "the last Dense layer `{}` must give 10 outputs through softmax or sigmoid (it has {} units, activation {})",
            last.name,
            last.units,
            last.activation.as_deref().unwrap_or("linear")
        ));
    }
    if last.dropout > 0.0 {
        return Err(format!("the output layer `{}` is followed by Dropout; mnist-lab has none there", last.name));
    }
    for d in &dense[..dense.len() - 1] {
        if !matches!(d.activation.as_deref(), Some("sigmoid" | "tanh" | "relu")) {
            return Err(format!(
                "hidden layer `{}` has activation {}; mnist-lab's are sigmoid, tanh and relu",
                d.name,
                d.activation.as_deref().unwrap_or("linear")
            ));
        }
    }
    Ok(())
}

/// One Dense layer of the chain, after `prev` (or on an input of `shape` when it is the first).
fn dense_spec(layer: &Value, prev: Option<&DenseSpec>, shape: Option<&[usize]>) -> Result<DenseSpec, String> {
    let c = &layer["config"];
    let n_in = match prev {
        Some(d) => d.units,
        None => match shape {
            Some([n]) if *n == PIXELS => PIXELS,
            Some(s) => {
                return Err(refuse(layer, &format!("gets input of shape {s:?}; it needs 784 values (add a Flatten)")));
            }
            None => {
                return Err(refuse(layer, "has no input shape; build the model on a 784 or 28×28 input"));
            }
        },
    };
    if let Some(prev) = prev
        && prev.activation.is_none()
    {
        return Err(format!("layer `{}` (Dense) has no activation; mnist-lab's hidden layers have one", prev.name));
    }
    let units = c["units"].as_u64().ok_or_else(|| refuse(layer, "has no `units`"))? as usize;
    if c["use_bias"] == Value::Bool(false) {
        return Err(refuse(layer, "has no bias; mnist-lab's layers all have one"));
    }
    let activation = match &c["activation"] {
        Value::Null => None,
        Value::String(a) if a == "linear" => None,
        Value::String(a) => Some(a.clone()),
        _ => return Err(refuse(layer, "has a custom activation")),
    };
    let max_norm = match &c["kernel_constraint"] {
        Value::Null => None,
        k if class_of(k) == "MaxNorm" && k["config"]["axis"].as_i64().unwrap_or(0) == 0 => {
            k["config"]["max_value"].as_f64()
        }
        _ => return Err(refuse(layer, "has a kernel constraint other than MaxNorm(axis=0)")),
    };
    let r = &c["kernel_regularizer"];
    let penalty = match class_of(r) {
        "" => (0.0, 0.0),
        "L1L2" | "L1" | "L2" => (r["config"]["l1"].as_f64().unwrap_or(0.0), r["config"]["l2"].as_f64().unwrap_or(0.0)),
        _ => return Err(refuse(layer, "has a kernel regularizer other than L1, L2 or L1L2")),
    };
    let init = match class_of(&c["kernel_initializer"]) {
        "GlorotUniform" => Some(Init::GlorotUniform),
        "GlorotNormal" => Some(Init::GlorotNormal),
        "HeNormal" => Some(Init::HeNormal),
        "HeUniform" => Some(Init::HeUniform),
        _ => None,
    };
    Ok(DenseSpec { name: layer_name(layer), n_in, units, activation, max_norm, penalty, init, dropout: 0.0 })
}

/// The elements of a tensor of `shape`; `None` past what a `usize` counts (a shape that would
/// wrap round to 784 is not 784).
fn elements(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d))
}

fn too_many(shape: &[usize]) -> String {
    format!("gets input of shape {shape:?}, more values than any input holds; it needs 784 values")
}

/// Why `layer` cannot be taken, naming it.
fn refuse(layer: &Value, why: &str) -> String {
    format!("layer `{}` ({}) {why}", layer_name(layer), class_of(layer))
}

/// An object's `class_name` ("" when it is none).
fn class_of(v: &Value) -> &str {
    v["class_name"].as_str().unwrap_or("")
}

/// The run's config: the network from `plan`, loss and optimizer from the compile config.
fn experiment(config: &Value, plan: &Plan, origin: &str, notes: &mut Vec<String>) -> ExperimentConfig {
    let (hidden_specs, last) = plan.dense.split_at(plan.dense.len() - 1);
    let output = match last[0].activation.as_deref() {
        Some("softmax") => Output::Softmax,
        _ => Output::Sigmoid,
    };
    let activation = |a: Option<&str>| match a {
        Some("sigmoid") => Activation::Sigmoid,
        Some("tanh") => Activation::Tanh,
        _ => Activation::Relu,
    };
    let hidden = hidden_specs
        .iter()
        .map(|d| LayerConfig {
            units: d.units,
            activation: activation(d.activation.as_deref()),
            dropout: d.dropout,
            max_norm: d.max_norm,
        })
        .collect();
    if last[0].max_norm.is_some() {
        notes.push(format!("the max-norm constraint of the output layer `{}`", last[0].name));
    }
    let penalty = plan.dense[0].penalty;
    let (l1, l2) = match plan.dense.iter().all(|d| d.penalty == penalty) {
        true => penalty,
        false => {
            notes.push("the L1/L2 penalties (they differ between layers; mnist-lab has one for all)".into());
            (0.0, 0.0)
        }
    };
    let init = plan.dense[0].init.unwrap_or_default();
    let compile = &config["compile_config"];
    let loss = loss(&compile["loss"], output, notes);
    let optimizer = optimizer(&compile["optimizer"], notes);
    ExperimentConfig {
        preset: "keras".into(),
        lesson: format!("Imported from Keras: {origin}"),
        data: DataConfig::default(),
        model: ModelConfig { hidden, output, init, init_std: 1.0 },
        // Keras' fit defaults (batch 32); one epoch, so that `train` on this config is short.
        train: TrainConfig { epochs: 1, batch_size: 32, loss, seed: 42, l2, l1, log_gradients: false },
        optimizer,
        schedule: None,
        early_stopping: None,
        augmentation: None,
    }
}

fn loss(v: &Value, output: Output, notes: &mut Vec<String>) -> Loss {
    let name = v.as_str().or_else(|| v["class_name"].as_str()).unwrap_or("").to_lowercase().replace('_', "");
    let fallback = match output {
        Output::Softmax => Loss::CategoricalCrossentropy,
        Output::Sigmoid => Loss::BinaryCrossentropy,
    };
    let found = match name.as_str() {
        "mse" | "meansquarederror" => Some(Loss::Mse),
        "binarycrossentropy" if output == Output::Sigmoid => Some(Loss::BinaryCrossentropy),
        "categoricalcrossentropy" if output == Output::Softmax => Some(Loss::CategoricalCrossentropy),
        _ => None,
    };
    found.unwrap_or_else(|| {
        let shown = if name.is_empty() { "none".to_string() } else { v.to_string() };
        notes.push(format!("the loss ({shown}; config.toml names {fallback:?} instead)"));
        fallback
    })
}

fn optimizer(v: &Value, notes: &mut Vec<String>) -> OptimizerConfig {
    let c = &v["config"];
    let f = |key: &str, default: f64| c[key].as_f64().unwrap_or(default);
    let class = v["class_name"].as_str().or(v.as_str()).unwrap_or("").to_lowercase();
    let mut o = match class.as_str() {
        "sgd" => {
            let d = SgdConfig::default();
            OptimizerConfig::Sgd(SgdConfig {
                learning_rate: d.learning_rate,
                momentum: f("momentum", d.momentum),
                nesterov: c["nesterov"].as_bool().unwrap_or(false),
            })
        }
        "adagrad" => {
            let d = AdagradConfig::default();
            OptimizerConfig::Adagrad(AdagradConfig {
                learning_rate: d.learning_rate,
                initial_accumulator_value: f("initial_accumulator_value", d.initial_accumulator_value),
                epsilon: f("epsilon", d.epsilon),
            })
        }
        "rmsprop" => {
            let d = RmspropConfig::default();
            OptimizerConfig::Rmsprop(RmspropConfig {
                learning_rate: d.learning_rate,
                rho: f("rho", d.rho),
                momentum: f("momentum", d.momentum),
                epsilon: f("epsilon", d.epsilon),
                centered: c["centered"].as_bool().unwrap_or(false),
            })
        }
        "adam" => {
            let d = AdamConfig::default();
            OptimizerConfig::Adam(AdamConfig {
                learning_rate: d.learning_rate,
                beta_1: f("beta_1", d.beta_1),
                beta_2: f("beta_2", d.beta_2),
                epsilon: f("epsilon", d.epsilon),
                amsgrad: c["amsgrad"].as_bool().unwrap_or(false),
            })
        }
        "adadelta" => {
            let d = AdadeltaConfig::default();
            OptimizerConfig::Adadelta(AdadeltaConfig {
                learning_rate: d.learning_rate,
                rho: f("rho", d.rho),
                epsilon: f("epsilon", d.epsilon),
            })
        }
        _ => {
            let shown = if class.is_empty() { "none".to_string() } else { class.clone() };
            notes.push(format!("the optimizer ({shown}; config.toml names sgd instead)"));
            return OptimizerConfig::Sgd(SgdConfig::default());
        }
    };
    match &c["learning_rate"] {
        // Keras keeps the rate as float32 and writes it widened (0.0010000000474974513): the
        // shortest decimal of that f32 is the rate the student typed.
        Value::Number(n) => o.set_learning_rate(shortest(n.as_f64().unwrap_or(o.learning_rate()))),
        // A schedule: its starting rate, the schedule itself left out.
        Value::Object(_) => {
            let start = c["learning_rate"]["config"]["initial_learning_rate"].as_f64();
            if let Some(lr) = start {
                o.set_learning_rate(shortest(lr));
            }
            notes.push(format!("the learning-rate schedule ({})", class_of(&c["learning_rate"])));
        }
        _ => {}
    }
    o
}

/// `v` as the shortest decimal that reads back as the same f32 (f64 values f32 cannot hold stay).
fn shortest(v: f64) -> f64 {
    let f = v as f32;
    match f64::from(f) == v {
        true => f.to_string().parse().unwrap_or(v),
        false => v,
    }
}

/// Each Dense layer's (kernel, bias).
pub type Weights = Vec<(Vec<f32>, Vec<f32>)>;

/// Each Dense layer's (kernel [in, out] row-major, bias) from model.weights.h5, shapes checked
/// against the config before a value is read. A parser panic on a damaged file is an error.
fn read_weights(bytes: Vec<u8>, plan: &Plan) -> Result<Weights, String> {
    let read = || -> Result<Weights, String> {
        let file = hdf5_pure::File::from_bytes(bytes).map_err(|e| format!("not an HDF5 file Keras wrote: {e}"))?;
        plan.dense
            .iter()
            .map(|d| {
                let var = |i: usize, shape: &[usize]| -> Result<Vec<f32>, String> {
                    let path = format!("layers/{}/vars/{i}", d.name);
                    let ds = file.dataset(&path).map_err(|e| format!("no {path}: {e}"))?;
                    let found = ds.shape().map_err(|e| format!("{path}: {e}"))?;
                    if found.iter().map(|&n| n as usize).ne(shape.iter().copied()) {
                        return Err(format!("{path} has shape {found:?}; the config says {shape:?}"));
                    }
                    if ds.dtype().map_err(|e| format!("{path}: {e}"))? != hdf5_pure::DType::F32 {
                        return Err(format!("{path} is not float32"));
                    }
                    let values = ds.read_f32().map_err(|e| format!("cannot read {path}: {e}"))?;
                    match values.len() == shape.iter().product::<usize>() {
                        true => Ok(values),
                        false => Err(format!(
                            "{path} holds {} values, not {}",
                            values.len(),
                            shape.iter().product::<usize>()
                        )),
                    }
                };
                Ok((var(0, &[d.n_in, d.units])?, var(1, &[d.units])?))
            })
            .collect()
    };
    // The reader's panic is caught silently: the hook would print it as our own internal error.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(read));
    std::panic::set_hook(hook);
    result.unwrap_or_else(|_| Err("damaged HDF5 (the reader gave up on it)".into()))
}
