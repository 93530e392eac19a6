//! `export --format keras`: Keras 3 itself (JAX backend) opens the archive with no custom
//! objects, evaluates the MNIST test set as `mnist-lab eval` does, and trains it on.

use std::path::Path;
use std::process::Command;

use crate::common::*;

/// Arguments: MODEL.keras DATA_DIR. Loads the model with every Python warning an error (a
/// skipped optimizer or a misread config warns), evaluates the test set, then fits one epoch on
/// 2 000 training images and evaluates those before and after. Prints JSON.
const EXPORT_CHECK: &str = r#"
import json, sys, warnings
warnings.simplefilter("error")
import numpy as np, keras

model_path, data = sys.argv[1:3]
def images(name): return np.fromfile(f"{data}/{name}", np.uint8, offset=16).reshape(-1, 784).astype("float32") / 255
def labels(name): return keras.utils.to_categorical(np.fromfile(f"{data}/{name}", np.uint8, offset=8), 10)
model = keras.saving.load_model(model_path)
test = model.evaluate(images("t10k-images-idx3-ubyte"), labels("t10k-labels-idx1-ubyte"), return_dict=True, verbose=0)
x, y = images("train-images-idx3-ubyte")[:2000], labels("train-labels-idx1-ubyte")[:2000]
before = model.evaluate(x, y, return_dict=True, verbose=0)["loss"]
model.fit(x, y, epochs=1, batch_size=100, verbose=0)
after = model.evaluate(x, y, return_dict=True, verbose=0)["loss"]
print(json.dumps({
    "test_accuracy": test["accuracy"], "test_loss": test["loss"], "before": before, "after": after,
    "layers": [[l.__class__.__name__, l.get_config().get("activation"), l.get_config().get("rate")] for l in model.layers],
    "optimizer": model.optimizer.__class__.__name__,
    "constraints": [type(l.kernel_constraint).__name__ for l in model.layers if hasattr(l, "kernel_constraint")],
}))
"#;

/// Python with Keras on JAX, run from the crate root.
pub fn keras_python() -> Command {
    let mut cmd = python_with(&py::KERAS);
    cmd.env("KERAS_BACKEND", "jax").env("JAX_PLATFORMS", "cpu");
    cmd
}

/// The preset's config on the first 3 000 training images (one epoch: a second or two).
fn short_preset(dir: &Path, preset: &str) -> String {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("configs").join(format!("{preset}.toml")))
            .unwrap();
    let text = match text.contains("[data]\n") {
        true => text.replace("[data]\n", "[data]\ntrain_limit = 3000\n"),
        false => format!("{text}\n[data]\ntrain_limit = 3000\n"),
    };
    config_file(dir, &format!("{preset}.toml"), &text)
}

/// `mnist-lab eval --json` of a run: (test accuracy, test loss).
fn eval(run_dir: &Path) -> (f64, f64) {
    let o = run(&["eval", run_dir.to_str().unwrap(), "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    (v["test_accuracy"].as_f64().unwrap(), v["test_loss"].as_f64().unwrap())
}

/// Train `preset` briefly, export it to Keras, and check it there; returns Keras' report and
/// export's stderr.
fn export_and_check(preset: &str) -> (serde_json::Value, String) {
    let scratch = tempfile::tempdir().unwrap();
    let config = short_preset(scratch.path(), preset);
    let (tmp, run_dir) = train_run(&[&config, "--epochs", "1"]);
    let file = tmp.path().join(format!("{preset}.keras"));
    let o = run(&["export", run_dir.to_str().unwrap(), "--format", "keras", "--to", file.to_str().unwrap()]);
    assert!(o.status.success(), "export failed:\n{}", stderr(&o));
    assert_eq!(stdout(&o).trim(), file.to_str().unwrap(), "prints the path it wrote");
    let warnings = stderr(&o);

    let o = keras_python()
        .args(["-c", EXPORT_CHECK, file.to_str().unwrap(), mnist_dir().to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "Keras could not use the export of {preset}:\n{}", stderr(&o));
    let keras: serde_json::Value = serde_json::from_str(stdout(&o).lines().last().unwrap()).unwrap();

    let (accuracy, loss) = eval(&run_dir);
    let k_acc = keras["test_accuracy"].as_f64().unwrap();
    assert!((k_acc - accuracy).abs() <= 1e-4, "{preset}: Keras {k_acc} vs eval {accuracy}");
    // Keras' loss also holds the L1/L2 penalty; the presets here have none.
    let k_loss = keras["test_loss"].as_f64().unwrap();
    assert!((k_loss - loss).abs() <= 1e-4 * loss.max(1.0), "{preset}: Keras loss {k_loss} vs eval {loss}");
    let (before, after) = (keras["before"].as_f64().unwrap(), keras["after"].as_f64().unwrap());
    assert!(after < before, "{preset}: one Keras epoch should lower the training loss: {before} → {after}");
    (keras, warnings)
}

#[test]
fn baseline_goes_to_keras_with_sigmoid_and_mse() {
    let (keras, warnings) = export_and_check("baseline");
    let layers = serde_json::json!([["Dense", "sigmoid", null], ["Dense", "sigmoid", null]]);
    assert_eq!(keras["layers"], layers);
    assert_eq!(keras["optimizer"], "SGD");
    assert!(warnings.is_empty(), "nothing left out: {warnings}");
}

#[test]
fn softmax_goes_to_keras() {
    let (keras, _) = export_and_check("softmax");
    assert_eq!(keras["layers"][1][1], "softmax");
}

#[test]
fn monster_goes_to_keras_with_dropout_and_adadelta() {
    let (keras, _) = export_and_check("monster");
    let layers = serde_json::json!([
        ["Dense", "relu", null],
        ["Dropout", null, 0.2],
        ["Dense", "relu", null],
        ["Dropout", null, 0.2],
        ["Dense", "softmax", null],
    ]);
    assert_eq!(keras["layers"], layers);
    assert_eq!(keras["optimizer"], "Adadelta");
}

#[test]
fn record_goes_to_keras_with_max_norm_and_says_what_it_leaves_out() {
    let (keras, warnings) = export_and_check("record");
    assert_eq!(keras["constraints"], serde_json::json!(["MaxNorm", "MaxNorm", "NoneType"]));
    assert_eq!(keras["optimizer"], "SGD");
    // Its schedule and augmentation have no place in a Keras model: one line says so.
    assert_eq!(warnings.lines().count(), 1, "one warning line:\n{warnings}");
    assert!(warnings.starts_with("warning:"), "{warnings}");
    assert!(warnings.contains("schedule") && warnings.contains("augmentation"), "{warnings}");
}

#[test]
fn export_into_the_run_by_default() {
    let scratch = tempfile::tempdir().unwrap();
    let config = short_preset(scratch.path(), "baseline");
    let (_tmp, run_dir) = train_run(&[&config, "--epochs", "1"]);
    let o = run(&["export", run_dir.to_str().unwrap(), "--format", "keras"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let bytes = std::fs::read(run_dir.join("model.keras")).unwrap();
    // A zip whose members are Keras' three, by name.
    assert_eq!(&bytes[..4], b"PK\x03\x04");
    for name in ["config.json", "metadata.json", "model.weights.h5"] {
        assert!(bytes.windows(name.len()).any(|w| w == name.as_bytes()), "{name} in the archive");
    }
}
