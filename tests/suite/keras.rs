//! `export --format keras`: Keras 3 itself (JAX backend) opens the archive with no custom
//! objects, evaluates the MNIST test set as `mnist-lab eval` does, and trains it on.
//! `import`: models built and trained briefly in Keras come in as runs that `eval` scores as
//! Keras does, weights bit for bit; layers we don't run and damaged archives are refused whole.

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
    "learning_rate": float(model.optimizer.learning_rate),
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
    short_preset_with(dir, preset, "")
}

/// [`short_preset`] with `optimizer_keys` added to its `[optimizer]`.
fn short_preset_with(dir: &Path, preset: &str, optimizer_keys: &str) -> String {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("configs").join(format!("{preset}.toml")))
            .unwrap()
            .replace("[optimizer]\n", &format!("[optimizer]\n{optimizer_keys}"));
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
    export_and_check_with(preset, "")
}

/// [`export_and_check`] with `optimizer_keys` added to the preset's `[optimizer]`.
fn export_and_check_with(preset: &str, optimizer_keys: &str) -> (serde_json::Value, String) {
    let scratch = tempfile::tempdir().unwrap();
    let config = short_preset_with(scratch.path(), preset, optimizer_keys);
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
    // Its learning rate decays 1 % an epoch: Keras goes on at the second epoch's (f32).
    let rate = keras["learning_rate"].as_f64().unwrap();
    assert!((rate - 0.05 * 0.99).abs() < 1e-8, "Keras' learning rate {rate}");
}

/// Every optimizer's slots go in the order its Keras `build` makes them: a wrong count or
/// shape would be a warning from Keras, an error here.
#[test]
fn adam_rmsprop_and_adagrad_go_to_keras_with_their_slots() {
    for (preset, keys, class) in [
        ("adam", "amsgrad = true\n", "Adam"),
        ("rmsprop", "centered = true\nmomentum = 0.5\n", "RMSprop"),
        ("adagrad", "", "Adagrad"),
    ] {
        let (keras, _) = export_and_check_with(preset, keys);
        assert_eq!(keras["optimizer"], class);
    }
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

/// Arguments: KIND OUT.keras DATA_DIR. Builds a small Keras model of KIND, trains it one epoch on
/// 3 000 images, saves it and prints its test-set `evaluate` as JSON (conv: saved only).
const BUILD: &str = r#"
import json, sys
import numpy as np, keras

kind, out, data = sys.argv[1:4]
keras.utils.set_random_seed(1)
def raw(name): return np.fromfile(f"{data}/{name}", np.uint8, offset=16).reshape(-1, 28, 28).astype("float32")
def labels(name): return keras.utils.to_categorical(np.fromfile(f"{data}/{name}", np.uint8, offset=8), 10)
L = keras.layers
if kind == "baseline":
    model = keras.Sequential([keras.Input((784,)), L.Dense(30, activation="sigmoid"), L.Dense(10, activation="sigmoid")])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=3.0), loss="mse", metrics=["accuracy"])
elif kind == "monster":
    model = keras.Sequential([keras.Input((784,)), L.Dense(512, activation="relu"), L.Dropout(0.2),
        L.Dense(512, activation="relu"), L.Dropout(0.2), L.Dense(10, activation="softmax")])
    model.compile(optimizer=keras.optimizers.Adadelta(learning_rate=1.0, rho=0.95), loss="categorical_crossentropy",
                  metrics=["accuracy"])
elif kind == "flatten":
    # Raw 0..255 pixels in, 28×28: a functional chain.
    inputs = keras.Input((28, 28))
    x = L.Flatten()(L.Rescaling(1 / 255)(inputs))
    x = L.Dense(64, activation="tanh", kernel_constraint=keras.constraints.MaxNorm(3.0))(x)
    model = keras.Model(inputs, L.Activation("softmax")(L.Dense(10)(x)))
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="categorical_crossentropy", metrics=["accuracy"])
elif kind == "conv":
    model = keras.Sequential([keras.Input((28, 28, 1)), L.Conv2D(4, 3, name="conv2d"), L.Flatten(),
        L.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="categorical_crossentropy")
raw_pixels = kind in ("flatten", "conv")
def x_of(name):
    x = raw(name) if raw_pixels else raw(name) / 255
    return x if raw_pixels else x.reshape(-1, 784)
model.fit(x_of("train-images-idx3-ubyte")[:3000], labels("train-labels-idx1-ubyte")[:3000], epochs=1, verbose=0)
model.save(out)
if kind != "conv":
    print(json.dumps(model.evaluate(x_of("t10k-images-idx3-ubyte"), labels("t10k-labels-idx1-ubyte"),
                                    return_dict=True, verbose=0)))
"#;

/// Arguments: A.keras B.keras. Whether both models' Dense layers hold the same bits, in order.
const SAME_WEIGHTS: &str = r#"
import sys, numpy as np, keras
def dense(path):
    return [w for l in keras.saving.load_model(path).layers if isinstance(l, keras.layers.Dense) for w in l.get_weights()]
a, b = dense(sys.argv[1]), dense(sys.argv[2])
print(len(a) == len(b) and all(x.shape == y.shape and np.array_equal(x.view(np.uint32), y.view(np.uint32)) for x, y in zip(a, b)))
"#;

/// Arguments: MODEL.keras PAGE.html. Whether the page embeds the Keras model's Dense weights bit
/// for bit (kernel [in, out] then bias, layer by layer, little-endian f32) and its activations.
/// The page's forward pass is the library's (web_page.rs), and the library's is Keras' here.
const PAGE_HOLDS_KERAS: &str = r#"
import base64, json, re, sys, numpy as np, keras
model = keras.saving.load_model(sys.argv[1])
html = open(sys.argv[2]).read()
def script(id): return re.search(f'<script id="{id}"[^>]*>(.*?)</script>', html, re.S).group(1)
page = np.frombuffer(base64.b64decode(script("weights").strip()), "<f4")
dense = [l for l in model.layers if isinstance(l, keras.layers.Dense)]
ours = np.concatenate([w.ravel() for l in dense for w in l.get_weights()]).astype("<f4")
meta = json.loads(script("model"))
print(json.dumps({"same": page.shape == ours.shape and bool(np.array_equal(page.view("<u4"), ours.view("<u4"))),
                  "activations": meta["activations"], "output": meta["output"]}))
"#;

/// Build `kind` in Keras into `dir`; its file and Keras' test accuracy and loss.
fn keras_model(dir: &Path, kind: &str) -> (std::path::PathBuf, Option<(f64, f64)>) {
    let file = dir.join(format!("{kind}.keras"));
    let o = keras_python()
        .args(["-c", BUILD, kind, file.to_str().unwrap(), mnist_dir().to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "Keras could not build {kind}:\n{}", stderr(&o));
    let line = stdout(&o).lines().last().map(String::from);
    let scores = line.map(|l| {
        let v: serde_json::Value = serde_json::from_str(&l).unwrap();
        (v["accuracy"].as_f64().unwrap(), v["loss"].as_f64().unwrap())
    });
    (file, scores)
}

/// A Keras model in: `eval` gives Keras' accuracy, and exported back, the very same weights.
fn import_and_check(kind: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let tmp = dir.path();
    let (file, scores) = keras_model(tmp, kind);
    let (k_acc, k_loss) = scores.unwrap();
    let run_dir = tmp.join("run");
    let o = run(&["import", file.to_str().unwrap(), "--out", run_dir.to_str().unwrap()]);
    assert!(o.status.success(), "import of {kind} failed:\n{}", stderr(&o));
    assert!(stdout(&o).contains("run directory:"), "{}", stdout(&o));
    let (accuracy, loss) = eval(&run_dir);
    assert!((k_acc - accuracy).abs() <= 1e-4, "{kind}: Keras {k_acc} vs eval {accuracy}");
    assert!((k_loss - loss).abs() <= 1e-4 * loss.max(1.0), "{kind}: Keras loss {k_loss} vs eval {loss}");
    assert_eq!(summary(&run_dir)["test_accuracy"].as_f64().unwrap(), accuracy, "summary.json holds the evaluation");

    let back = tmp.join("back.keras");
    let o = run(&["export", run_dir.to_str().unwrap(), "--format", "keras", "--to", back.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = keras_python().args(["-c", SAME_WEIGHTS, file.to_str().unwrap(), back.to_str().unwrap()]).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o).trim(), "True", "{kind}: the weights come back bit for bit");
    (dir, run_dir)
}

#[test]
fn keras_baseline_comes_in() {
    let (_tmp, run_dir) = import_and_check("baseline");
    let cfg = std::fs::read_to_string(run_dir.join("config.toml")).unwrap();
    assert!(
        cfg.contains("loss = \"mse\"") && cfg.contains("name = \"sgd\"") && cfg.contains("learning_rate = 3.0"),
        "{cfg}"
    );
}

#[test]
fn keras_monster_comes_in_with_dropout_and_adadelta() {
    let (_tmp, run_dir) = import_and_check("monster");
    let cfg = std::fs::read_to_string(run_dir.join("config.toml")).unwrap();
    assert_eq!(cfg.matches("dropout = 0.2").count(), 2, "{cfg}");
    assert!(cfg.contains("name = \"adadelta\""), "{cfg}");
}

#[test]
fn keras_flatten_and_rescaling_on_28x28_come_in_and_the_page_and_report_take_it() {
    let (_tmp, run_dir) = import_and_check("flatten");
    let cfg = std::fs::read_to_string(run_dir.join("config.toml")).unwrap();
    assert!(cfg.contains("max_norm = 3.0") && cfg.contains("activation = \"tanh\""), "{cfg}");
    // The other commands take it like any run.
    let page = run_dir.parent().unwrap().join("digit.html");
    let o = run(&["export", run_dir.to_str().unwrap(), "--format", "web", "--to", page.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let model = run_dir.parent().unwrap().join("flatten.keras");
    let o = keras_python()
        .args(["-c", PAGE_HOLDS_KERAS, model.to_str().unwrap(), page.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(
        v,
        serde_json::json!({ "same": true, "activations": ["tanh"], "output": "softmax" }),
        "the page holds the Keras model"
    );
    let report = run_dir.parent().unwrap().join("report.md");
    let o = run(&["report", run_dir.to_str().unwrap(), "--out", report.to_str().unwrap()]);
    assert!(o.status.success(), "report on an imported run:\n{}", stderr(&o));
}

#[test]
fn a_convolution_is_refused_naming_the_layer() {
    let tmp = tempfile::tempdir().unwrap();
    let (file, _) = keras_model(tmp.path(), "conv");
    let out = tmp.path().join("run");
    let o = run(&["import", file.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_user_error(&o, 2, "`conv2d` (Conv2D)");
    assert_eq!(stderr(&o).lines().count(), 1, "{}", stderr(&o));
    assert!(!out.exists(), "nothing written");
}

/// A zip of `members` (name, bytes, deflated?), and symlinks (name, target).
fn zip_of(members: &[(&str, &[u8], bool)], links: &[(&str, &str)]) -> Vec<u8> {
    use std::io::Write;
    use zip::write::SimpleFileOptions;
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, bytes, deflate) in members {
        let method = if *deflate { zip::CompressionMethod::Deflated } else { zip::CompressionMethod::Stored };
        zip.start_file(
            *name,
            SimpleFileOptions::default().compression_method(method).large_file(bytes.len() > u32::MAX as usize),
        )
        .unwrap();
        zip.write_all(bytes).unwrap();
    }
    for (name, target) in links {
        zip.add_symlink(*name, *target, SimpleFileOptions::default()).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

#[test]
fn damaged_and_hostile_archives_are_refused_with_nothing_written() {
    // A real export to damage.
    let scratch = tempfile::tempdir().unwrap();
    let config = short_preset(scratch.path(), "baseline");
    let (tmp, run_dir) = train_run(&[&config, "--epochs", "1"]);
    let good = tmp.path().join("good.keras");
    let o = run(&["export", run_dir.to_str().unwrap(), "--format", "keras", "--to", good.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let mut archive = zip::ZipArchive::new(std::fs::File::open(&good).unwrap()).unwrap();
    let mut read = |name: &str| {
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut archive.by_name(name).unwrap(), &mut bytes).unwrap();
        bytes
    };
    let (config_json, metadata, weights) = (read("config.json"), read("metadata.json"), read("model.weights.h5"));

    let bomb = vec![b' '; 64 << 20];
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("not a zip", b"PK\x03\x04 not really".to_vec(), "not a .keras archive"),
        (
            "truncated h5",
            zip_of(
                &[
                    ("config.json", &config_json, false),
                    ("metadata.json", &metadata, false),
                    ("model.weights.h5", &weights[..weights.len() / 2], false),
                ],
                &[],
            ),
            "model.weights.h5",
        ),
        (
            "garbage h5",
            zip_of(&[("config.json", &config_json, false), ("model.weights.h5", &[7u8; 4096], false)], &[]),
            "model.weights.h5",
        ),
        (
            "zip bomb",
            zip_of(&[("config.json", &bomb, true), ("model.weights.h5", &weights, false)], &[]),
            "config.json",
        ),
        (
            "a link",
            zip_of(
                &[("config.json", &config_json, false), ("model.weights.h5", &weights, false)],
                &[("metadata.json", "/etc/passwd")],
            ),
            "link",
        ),
        ("no weights", zip_of(&[("config.json", &config_json, false)], &[]), "model.weights.h5"),
        (
            "huge declared shape",
            zip_of(
                &[
                    (
                        "config.json",
                        &String::from_utf8(config_json.clone())
                            .unwrap()
                            .replace("\"units\": 30", "\"units\": 100000000")
                            .replace("\"units\":30", "\"units\":100000000")
                            .into_bytes(),
                        false,
                    ),
                    ("model.weights.h5", &weights, false),
                ],
                &[],
            ),
            "units",
        ),
    ];
    for (what, bytes, needle) in cases {
        let file = tmp.path().join("bad.keras");
        std::fs::write(&file, &bytes).unwrap();
        let out = tmp.path().join("run-bad");
        let o = run(&["import", file.to_str().unwrap(), "--out", out.to_str().unwrap()]);
        let code = o.status.code().unwrap();
        assert!(code == 2 || code == 3, "{what}: exit code {code}:\n{}", stderr(&o));
        assert_user_error(&o, code, needle);
        assert_eq!(stderr(&o).lines().count(), 1, "{what}: one line:\n{}", stderr(&o));
        assert!(!out.exists(), "{what}: nothing written");
    }
}

/// docs/reuse.md's four lines, run as written but for the run's path (pip: the pinned venv).
#[test]
fn the_documented_round_trip_runs() {
    let doc = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/reuse.md")).unwrap();
    let section = doc.split("## Keras, both ways").nth(1).expect("the section");
    let block: Vec<&str> = section.split("```sh\n").nth(1).unwrap().split("```").next().unwrap().lines().collect();
    assert_eq!(block.len(), 4, "four lines: {block:?}");
    let python_line =
        block[2].strip_prefix("python3 -c '").and_then(|l| l.strip_suffix('\'')).expect("line 3 is Python");

    let scratch = tempfile::tempdir().unwrap();
    let config = short_preset(scratch.path(), "softmax");
    let (tmp, run_dir) = train_run(&[&config, "--epochs", "1"]);
    let export = block[1].replace("artifacts/<run>", run_dir.to_str().unwrap());
    let args: Vec<&str> = export.split_whitespace().skip(1).collect();
    let o = bin().args(&args).current_dir(tmp.path()).output().unwrap();
    assert!(o.status.success(), "{export}:\n{}", stderr(&o));
    let o = keras_python().args(["-c", python_line]).current_dir(tmp.path()).output().unwrap();
    assert!(o.status.success(), "{python_line}:\n{}", stderr(&o));
    let import = block[3].split('#').next().unwrap().trim().replace("artifacts/mine", "mine");
    let args: Vec<&str> = import.split_whitespace().skip(1).collect();
    let o = bin().args(&args).current_dir(tmp.path()).output().unwrap();
    assert!(o.status.success(), "{import}:\n{}", stderr(&o));
    let (accuracy, _) = eval(&tmp.path().join("mine"));
    assert_eq!(accuracy, eval(&run_dir).0, "the round trip keeps the network");
}
