//! A run as a Keras 3 `.keras` archive that `keras.saving.load_model` opens with no custom
//! objects, compiled so that `fit` goes on at once.
//!
//! HDF5 is written with the `hdf5-pure` crate: maintained, pure Rust (no libhdf5 to install),
//! and it both writes and reads (for `import`) the groups, f32 and i32 datasets and scalars that
//! Keras' weight file holds; its authors check its files against libhdf5, which h5py wraps.

use std::io::{Cursor, Write};
use std::path::Path;

use anyhow::Result;
use formats::config::{ExperimentConfig, Init, Loss, OptimizerConfig, ScheduleConfig};
use formats::error;
use formats::history::read_history_csv;
use hdf5_pure::FileBuilder;
use serde_json::{Value, json};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

use super::{CONFIG_JSON, KERAS_VERSION, METADATA_JSON, WEIGHTS_H5};
use crate::export::{activation_name, output_name};
use crate::model::Mlp;
use crate::run::HISTORY_FILE;
use crate::train::schedule::Schedule;

/// The archive's bytes, and one line naming what Keras has no place for (if anything).
/// `run_dir`'s history tells where a learning-rate schedule had got to.
pub fn keras_bytes(model: &Mlp, cfg: &ExperimentConfig, run_dir: &Path) -> Result<(Vec<u8>, Option<String>)> {
    let dense = dense_layers(model)?;
    // Keras' schedules count optimizer steps, ours epochs: Keras goes on at the rate the run's
    // next epoch would have had, constant (and the warning says so).
    let mut cfg = cfg.clone();
    if cfg.schedule.is_some() {
        cfg.optimizer.set_learning_rate(next_learning_rate(&cfg, run_dir));
    }
    let cfg = &cfg;
    let config = model_config(cfg, &dense);
    let weights = weights_h5(cfg, &dense)?;
    let metadata = json!({ "keras_version": KERAS_VERSION, "date_saved": "" });
    let zip = zip_members(&[
        (METADATA_JSON, metadata.to_string().as_bytes()),
        (CONFIG_JSON, config.to_string().as_bytes()),
        (WEIGHTS_H5, &weights),
    ])
    .map_err(|e| error::runtime(format!("cannot write the .keras archive: {e}")))?;
    Ok((zip, left_out(cfg)))
}

/// The learning rate of the epoch after the run's last: the step or exponential schedule's
/// (its history tells how many epochs ran), reduce-on-plateau's last; the initial rate when
/// the history cannot be read.
fn next_learning_rate(cfg: &ExperimentConfig, run_dir: &Path) -> f64 {
    let initial = cfg.optimizer.learning_rate();
    let Ok(history) = read_history_csv(&run_dir.join(HISTORY_FILE)) else { return initial };
    let Some(last) = history.epochs.last() else { return initial };
    match cfg.schedule {
        Some(ScheduleConfig::ReduceOnPlateau(_)) | None => last.learning_rate,
        Some(_) => Schedule::new(cfg.schedule.clone(), initial).lr(history.epochs.len() + 1),
    }
}

/// One Dense layer's values as Keras holds them: kernel [in, out] row-major (Burn's own layout).
struct Dense {
    n_in: usize,
    n_out: usize,
    kernel: Vec<f32>,
    bias: Vec<f32>,
}

fn dense_layers(model: &Mlp) -> Result<Vec<Dense>> {
    let read = |t: burn::tensor::Tensor<2>| {
        t.into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .map_err(|e| error::runtime(format!("cannot read the weights back: {e:?}")))
    };
    model
        .layers
        .iter()
        .map(|layer| {
            let [n_in, n_out] = layer.weight.dims();
            let bias =
                layer.bias.as_ref().ok_or_else(|| error::runtime("a layer without a bias cannot be exported"))?;
            Ok(Dense { n_in, n_out, kernel: read(layer.weight.val())?, bias: read(bias.val().reshape([1, n_out]))? })
        })
        .collect()
}

/// Keras' name for the i-th Dense layer of a fresh Sequential (`dense`, `dense_1`, …).
fn dense_name(i: usize) -> String {
    match i {
        0 => "dense".into(),
        i => format!("dense_{i}"),
    }
}

fn dropout_name(i: usize) -> String {
    match i {
        0 => "dropout".into(),
        i => format!("dropout_{i}"),
    }
}

/// A serialised Keras object: `{"module", "class_name", "config", "registered_name"}`.
fn object(module: &str, class_name: &str, config: Value) -> Value {
    json!({ "module": module, "class_name": class_name, "config": config, "registered_name": null })
}

fn float32() -> Value {
    object("keras", "DTypePolicy", json!({ "name": "float32" }))
}

/// config.json: a Sequential of Dense (+ Dropout) layers on a (784,) input, and its compile config.
fn model_config(cfg: &ExperimentConfig, dense: &[Dense]) -> Value {
    let m = &cfg.model;
    let mut layers = vec![object(
        "keras.layers",
        "InputLayer",
        json!({ "batch_shape": [null, dense[0].n_in], "dtype": "float32", "sparse": false, "ragged": false,
                "name": "input_layer", "optional": false }),
    )];
    let regularizer = (cfg.train.l1 != 0.0 || cfg.train.l2 != 0.0)
        .then(|| object("keras.regularizers", "L1L2", json!({ "l1": cfg.train.l1, "l2": cfg.train.l2 })));
    let mut dropouts = 0;
    for (i, d) in dense.iter().enumerate() {
        let hidden = m.hidden.get(i);
        let activation = match hidden {
            Some(layer) => activation_name(layer.activation),
            None => output_name(m.output),
        };
        let constraint = hidden
            .and_then(|l| l.max_norm)
            .map(|c| object("keras.constraints", "MaxNorm", json!({ "max_value": c, "axis": 0 })));
        let mut layer = object(
            "keras.layers",
            "Dense",
            json!({
                "name": dense_name(i), "trainable": true, "dtype": float32(), "units": d.n_out,
                "activation": activation, "use_bias": true,
                "kernel_initializer": initializer(m.init, m.init_std),
                "bias_initializer": object("keras.initializers", "Zeros", json!({})),
                "kernel_regularizer": regularizer, "bias_regularizer": null, "activity_regularizer": null,
                "kernel_constraint": constraint, "bias_constraint": null, "quantization_config": null,
            }),
        );
        layer["build_config"] = json!({ "input_shape": [null, d.n_in] });
        layers.push(layer);
        if let Some(l) = hidden.filter(|l| l.dropout > 0.0) {
            layers.push(object(
                "keras.layers",
                "Dropout",
                json!({ "name": dropout_name(dropouts), "trainable": true, "dtype": float32(), "rate": l.dropout,
                        "seed": null, "noise_shape": null }),
            ));
            dropouts += 1;
        }
    }
    let input_shape = json!([null, dense[0].n_in]);
    let mut model = object(
        "keras",
        "Sequential",
        json!({ "name": "sequential", "trainable": true, "dtype": float32(), "layers": layers,
                "build_input_shape": input_shape }),
    );
    model["build_config"] = json!({ "input_shape": input_shape });
    model["compile_config"] = json!({
        "optimizer": optimizer(&cfg.optimizer),
        "loss": loss_name(cfg.train.loss),
        "loss_weights": null,
        // Keras 3 resolves "accuracy" against one-hot targets to categorical accuracy: eval's.
        "metrics": ["accuracy"],
        "weighted_metrics": null, "run_eagerly": false, "steps_per_execution": 1, "jit_compile": true,
    });
    model
}

/// Our initialisers all have a Keras twin (only a fresh layer would draw from it).
fn initializer(init: Init, std: f64) -> Value {
    let keras = |class: &str, config: Value| object("keras.initializers", class, config);
    let seeded = json!({ "seed": null });
    match init {
        Init::Normal => keras("RandomNormal", json!({ "mean": 0.0, "stddev": std, "seed": null })),
        // N(0, 1/n_in).
        Init::ScaledNormal => keras(
            "VarianceScaling",
            json!({ "scale": 1.0, "mode": "fan_in", "distribution": "untruncated_normal", "seed": null }),
        ),
        Init::GlorotUniform => keras("GlorotUniform", seeded),
        Init::GlorotNormal => keras("GlorotNormal", seeded),
        Init::HeNormal => keras("HeNormal", seeded),
        Init::HeUniform => keras("HeUniform", seeded),
    }
}

/// The optimizer by its Keras class, every hyper-parameter ours has under Keras' own key.
fn optimizer(o: &OptimizerConfig) -> Value {
    let mut config = json!({
        "name": o.name(), "learning_rate": o.learning_rate(), "weight_decay": null, "clipnorm": null,
        "global_clipnorm": null, "clipvalue": null, "use_ema": false, "ema_momentum": 0.99,
        "ema_overwrite_frequency": null, "loss_scale_factor": null, "gradient_accumulation_steps": null,
    });
    let (class, own) = match o {
        OptimizerConfig::Sgd(c) => ("SGD", json!({ "momentum": c.momentum, "nesterov": c.nesterov })),
        OptimizerConfig::Adagrad(c) => {
            ("Adagrad", json!({ "initial_accumulator_value": c.initial_accumulator_value, "epsilon": c.epsilon }))
        }
        OptimizerConfig::Rmsprop(c) => {
            ("RMSprop", json!({ "rho": c.rho, "momentum": c.momentum, "epsilon": c.epsilon, "centered": c.centered }))
        }
        OptimizerConfig::Adam(c) => {
            ("Adam", json!({ "beta_1": c.beta_1, "beta_2": c.beta_2, "epsilon": c.epsilon, "amsgrad": c.amsgrad }))
        }
        OptimizerConfig::Adadelta(c) => ("Adadelta", json!({ "rho": c.rho, "epsilon": c.epsilon })),
    };
    for (k, v) in own.as_object().expect("an object").iter() {
        config[k] = v.clone();
    }
    object("keras.optimizers", class, config)
}

/// model.weights.h5: every layer's vars (Dropout's none), and the optimizer's in the order its
/// `build` creates them, at their starting values: without them Keras warns that it skipped
/// the optimizer. Moments start afresh (a run keeps none outside its checkpoints).
fn weights_h5(cfg: &ExperimentConfig, dense: &[Dense]) -> Result<Vec<u8>> {
    let mut file = FileBuilder::new();
    let mut layers = file.create_group("layers");
    for (i, d) in dense.iter().enumerate() {
        let mut layer = layers.create_group(&dense_name(i));
        let mut vars = layer.create_group("vars");
        vars.create_dataset("0").with_f32_data(&d.kernel).with_shape(&[d.n_in as u64, d.n_out as u64]);
        vars.create_dataset("1").with_f32_data(&d.bias).with_shape(&[d.n_out as u64]);
        layer.add_group(vars.finish());
        layers.add_group(layer.finish());
    }
    let dropouts = cfg.model.hidden.iter().filter(|l| l.dropout > 0.0).count();
    for i in 0..dropouts {
        let mut layer = layers.create_group(&dropout_name(i));
        let vars = layer.create_group("vars");
        layer.add_group(vars.finish());
        layers.add_group(layer.finish());
    }
    file.add_group(layers.finish());

    let mut opt = file.create_group("optimizer");
    let mut vars = opt.create_group("vars");
    vars.create_dataset("0").with_i32_data(&[0]).with_shape(&[]);
    vars.create_dataset("1").with_f32_data(&[cfg.optimizer.learning_rate() as f32]).with_shape(&[]);
    for (i, (shape, value)) in optimizer_slots(&cfg.optimizer, dense).into_iter().enumerate() {
        let n = shape.iter().product::<u64>() as usize;
        vars.create_dataset(&(i + 2).to_string()).with_f32_data(&vec![value; n]).with_shape(&shape);
    }
    opt.add_group(vars.finish());
    file.add_group(opt.finish());
    let root_vars = file.create_group("vars");
    file.add_group(root_vars.finish());
    file.finish().map_err(|e| error::runtime(format!("cannot write the HDF5 weights: {e}")))
}

/// The optimizer's slot variables (shape, starting value) in Keras 3's order: per parameter
/// (kernel, bias, layer by layer) for each slot kind, kinds grouped as each `build` makes them.
fn optimizer_slots(o: &OptimizerConfig, dense: &[Dense]) -> Vec<(Vec<u64>, f32)> {
    let params: Vec<Vec<u64>> =
        dense.iter().flat_map(|d| [vec![d.n_in as u64, d.n_out as u64], vec![d.n_out as u64]]).collect();
    // One slot per parameter, every kind in turn (`kinds` interleaved per parameter or grouped).
    let grouped = |kinds: usize, value: f32| -> Vec<(Vec<u64>, f32)> {
        (0..kinds).flat_map(|_| params.iter().map(move |p| (p.clone(), value))).collect()
    };
    let interleaved = |kinds: usize| -> Vec<(Vec<u64>, f32)> {
        params.iter().flat_map(|p| (0..kinds).map(move |_| (p.clone(), 0.0))).collect()
    };
    match o {
        OptimizerConfig::Sgd(c) => grouped(usize::from(c.momentum != 0.0), 0.0),
        OptimizerConfig::Adagrad(c) => grouped(1, c.initial_accumulator_value as f32),
        // velocities, then momentums, then average gradients: each kind all parameters long.
        OptimizerConfig::Rmsprop(c) => grouped(1 + usize::from(c.momentum > 0.0) + usize::from(c.centered), 0.0),
        // (momentum, velocity) per parameter, then velocity_hat for every parameter.
        OptimizerConfig::Adam(c) => {
            let mut slots = interleaved(2);
            slots.extend(grouped(usize::from(c.amsgrad), 0.0));
            slots
        }
        // (accumulated_grad, accumulated_delta_var) per parameter.
        OptimizerConfig::Adadelta(_) => interleaved(2),
    }
}

/// What the run used that a Keras model does not hold, as one line for a `warning:`.
fn left_out(cfg: &ExperimentConfig) -> Option<String> {
    let mut out = Vec::new();
    if let Some(s) = &cfg.schedule {
        let name = match s {
            ScheduleConfig::Step(_) => "step",
            ScheduleConfig::Exponential(_) => "exponential",
            ScheduleConfig::ReduceOnPlateau(_) => "reduce-on-plateau",
        };
        out.push(format!(
            "the {name} learning-rate schedule (Keras goes on at the constant rate {}, the run's next)",
            cfg.optimizer.learning_rate()
        ));
    }
    if cfg.early_stopping.is_some() {
        out.push("early stopping (a callback, pass keras.callbacks.EarlyStopping to fit)".into());
    }
    if cfg.augmentation.is_some() {
        out.push("data augmentation (done outside the model)".into());
    }
    (!out.is_empty()).then(|| format!("the Keras model leaves out {}", out.join("; ")))
}

fn zip_members(members: &[(&str, &[u8])]) -> zip::result::ZipResult<Vec<u8>> {
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default().compression_method(CompressionMethod::Stored);
    for (name, bytes) in members {
        zip.start_file(*name, options)?;
        zip.write_all(bytes)?;
    }
    Ok(zip.finish()?.into_inner())
}

fn loss_name(l: Loss) -> &'static str {
    match l {
        Loss::Mse => "mean_squared_error",
        Loss::BinaryCrossentropy => "binary_crossentropy",
        Loss::CategoricalCrossentropy => "categorical_crossentropy",
    }
}
