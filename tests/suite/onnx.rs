//! `export --format onnx`: onnxruntime runs the exported graph on the whole MNIST test set and
//! gets Burn's logits and the run's test accuracy; the graph has the declared names, dynamic
//! batch axis, opset, IR version and metadata; the ONNX checker accepts it.

use std::path::Path;

use burn::tensor::{Tensor, TensorData};
use formats::config::Dataset;
use formats::idx::{CLASSES, PIXELS, TEST_LEN};

use crate::common::*;

/// Runs an exported model with onnxruntime. Arguments: MODEL DATA_DIR OUT_DIR. Writes the logits
/// and probabilities of the 10 000 test images in one batch, and the logits of every 1 000th
/// image run alone (batch 1), as little-endian f32; prints what the model declares as JSON.
const ORT_SCRIPT: &str = r#"
import json, sys
from pathlib import Path
import numpy as np
import onnx
import onnxruntime as ort

model_path, data_dir, out_dir = sys.argv[1:4]
model = onnx.load(model_path)
onnx.checker.check_model(model, full_check=True)

images = np.frombuffer((Path(data_dir) / "t10k-images-idx3-ubyte").read_bytes()[16:], np.uint8)
pixels = images.reshape(-1, 784).astype(np.float32) / 255.0
session = ort.InferenceSession(model_path, providers=["CPUExecutionProvider"])
probabilities, logits = session.run(["probabilities", "logits"], {"pixels": pixels})
singles = [session.run(["logits"], {"pixels": pixels[i : i + 1]})[0] for i in range(0, len(pixels), 1000)]
out = Path(out_dir)
logits.astype("<f4").tofile(out / "logits.f32")
probabilities.astype("<f4").tofile(out / "probabilities.f32")
np.concatenate(singles).astype("<f4").tofile(out / "singles.f32")

meta = session.get_modelmeta()
print(json.dumps({
    "ir_version": model.ir_version,
    "opsets": {o.domain: o.version for o in model.opset_import},
    "producer": [model.producer_name, model.producer_version],
    "nodes": [n.op_type for n in model.graph.node],
    "inputs": [[i.name, i.type, i.shape] for i in session.get_inputs()],
    "outputs": [[o.name, o.type, o.shape] for o in session.get_outputs()],
    "metadata": meta.custom_metadata_map,
}))
"#;

/// The Python example given to users, run as written but for its two paths.
const EXAMPLE: &str = r#"import numpy as np, onnxruntime as ort
session = ort.InferenceSession("RUN/model.onnx")
images = np.fromfile("DATA/t10k-images-idx3-ubyte", np.uint8, offset=16).reshape(-1, 784)
probabilities, logits = session.run(None, {"pixels": images.astype(np.float32) / 255})
print(probabilities.argmax(axis=1)[:10], session.get_modelmeta().custom_metadata_map["output"])
"#;

fn floats(path: &Path) -> Vec<f32> {
    std::fs::read(path).unwrap().chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect()
}

fn argmax(row: &[f32]) -> usize {
    (0..row.len()).fold(0, |best, i| if row[i] > row[best] { i } else { best })
}

/// Train `preset` (a name or a config file) for one epoch, export ONNX to the default place,
/// and hold onnxruntime's results against Burn's; `nodes` is the graph expected.
fn onnxruntime_agrees_with_burn(preset: &str, nodes: &[&str], output: &str) {
    let (tmp, run_dir) = train_run(&[preset, "--epochs", "1"]);
    let o = run(&["export", run_dir.to_str().unwrap(), "--format", "onnx"]);
    assert!(o.status.success(), "export failed:\n{}", stderr(&o));
    let model = run_dir.join("model.onnx");
    assert_eq!(stdout(&o).trim(), model.to_str().unwrap(), "prints the path it wrote");

    let data = mnist_dir();
    let o = python_with(&[py::ONNXRUNTIME, py::ONNX, py::NUMPY])
        .args(["-c", ORT_SCRIPT, model.to_str().unwrap(), data.to_str().unwrap(), tmp.path().to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "onnxruntime failed:\n{}", stderr(&o));
    let declared: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();

    // What the graph declares.
    assert_eq!(declared["ir_version"], mnist_lab::export::onnx::IR_VERSION);
    assert_eq!(
        declared["opsets"],
        serde_json::json!({ "": mnist_lab::export::onnx::OPSET }),
        "only the default domain"
    );
    assert_eq!(declared["producer"], serde_json::json!(["mnist-lab", env!("CARGO_PKG_VERSION")]));
    assert_eq!(declared["nodes"], serde_json::json!(nodes), "no Dropout, one Gemm per layer");
    assert_eq!(declared["inputs"], serde_json::json!([["pixels", "tensor(float)", ["batch", PIXELS]]]));
    assert_eq!(
        declared["outputs"],
        serde_json::json!([
            ["probabilities", "tensor(float)", ["batch", CLASSES]],
            ["logits", "tensor(float)", ["batch", CLASSES]]
        ])
    );
    let meta = &declared["metadata"];
    // The resolved config, as the safetensors export carries it: `train` re-runs it.
    let run_config = formats::config::ExperimentConfig::from_file(&run_dir.join("config.toml")).unwrap();
    let config = meta["config"].as_str().expect("config in the metadata");
    assert_eq!(config, run_config.to_toml());
    assert_eq!(formats::config::ExperimentConfig::from_toml(config, "metadata").unwrap(), run_config);
    assert_eq!(meta["output"], output);

    // Burn's logits for the same images, from the run's model.bpk through the library.
    let device = mnist_lab::backend::select(None).unwrap().device;
    let net = mnist_lab::run::RunDir::open(&run_dir).unwrap().load_model(&run_config, &device).unwrap();
    let raw = mnist_lab::data::load_raw(Dataset::Mnist, &data, false).unwrap();
    let pixels: Vec<f32> = raw.test_images.iter().map(|&p| p as f32 / 255.0).collect();
    let x = Tensor::<2>::from_data(TensorData::new(pixels, [TEST_LEN, PIXELS]), &device);
    let burn_logits = net.forward(x);
    let burn_outputs = net.outputs(burn_logits.clone()).into_data().try_into_vec::<f32>().unwrap();
    let burn_logits = burn_logits.into_data().try_into_vec::<f32>().unwrap();

    let ort_logits = floats(&tmp.path().join("logits.f32"));
    let ort_outputs = floats(&tmp.path().join("probabilities.f32"));
    assert_eq!(ort_logits.len(), TEST_LEN * CLASSES);
    let max_diff = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
    let logit_diff = max_diff(&ort_logits, &burn_logits);
    assert!(logit_diff <= 1e-4, "{preset}: onnxruntime's logits differ from Burn's by {logit_diff}");
    let output_diff = max_diff(&ort_outputs, &burn_outputs);
    assert!(output_diff <= 1e-5, "{preset}: onnxruntime's {output} outputs differ from Burn's by {output_diff}");
    if output == "softmax" {
        for row in ort_outputs.chunks(CLASSES) {
            assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-5, "probabilities sum to one: {row:?}");
        }
    }
    // Batch 1: every 1 000th image alone gives the row it got in the batch of 10 000.
    let singles = floats(&tmp.path().join("singles.f32"));
    assert_eq!(singles.len(), TEST_LEN / 1000 * CLASSES);
    for (k, row) in singles.chunks(CLASSES).enumerate() {
        let i = k * 1000;
        let diff = max_diff(row, &burn_logits[i * CLASSES..(i + 1) * CLASSES]);
        assert!(diff <= 1e-4, "{preset}: image {i} alone differs from Burn by {diff}");
    }

    // The test accuracy: onnxruntime's predictions score what `eval` and summary.json say.
    // Logits within 1e-4 can only rank two classes differently where Burn's top two are that close.
    let labels = &raw.test_labels;
    let mut ort_right = 0;
    let mut near_ties = 0;
    for (i, (o, b)) in ort_logits.chunks(CLASSES).zip(burn_logits.chunks(CLASSES)).enumerate() {
        ort_right += usize::from(argmax(o) == labels[i] as usize);
        if argmax(o) != argmax(b) {
            let mut sorted = b.to_vec();
            sorted.sort_by(|x, y| y.total_cmp(x));
            assert!(sorted[0] - sorted[1] <= 2e-4, "{preset}: image {i} predicted differently: {o:?} vs {b:?}");
            near_ties += 1;
        }
    }
    let ort_accuracy = ort_right as f64 / TEST_LEN as f64;
    let o = run(&["eval", run_dir.to_str().unwrap(), "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let eval: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    let eval_accuracy = eval["test_accuracy"].as_f64().unwrap();
    assert_eq!(eval_accuracy, summary(&run_dir)["test_accuracy"].as_f64().unwrap());
    let slack = near_ties as f64 / TEST_LEN as f64;
    assert!(
        (ort_accuracy - eval_accuracy).abs() <= slack,
        "{preset}: onnxruntime {ort_accuracy} vs eval {eval_accuracy} ({near_ties} near ties)"
    );
    eprintln!(
        "{preset}: onnxruntime accuracy {ort_accuracy}, eval {eval_accuracy}, max |Δlogit| {logit_diff:e}, \
         max |Δ{output}| {output_diff:e}, {near_ties} near ties"
    );

    // The users' example prints the first ten predictions and what the outputs are.
    let example = EXAMPLE.replace("RUN", run_dir.to_str().unwrap()).replace("DATA", data.to_str().unwrap());
    let o = python_with(&[py::ONNXRUNTIME, py::NUMPY]).args(["-c", &example]).output().unwrap();
    assert!(o.status.success(), "the example failed:\n{}", stderr(&o));
    let first: Vec<String> = ort_logits.chunks(CLASSES).take(10).map(|r| argmax(r).to_string()).collect();
    assert_eq!(stdout(&o).trim(), format!("[{}] {output}", first.join(" ")));
}

#[test]
fn sigmoid_baseline_runs_in_onnxruntime_as_in_burn() {
    onnxruntime_agrees_with_burn("baseline", &["Gemm", "Sigmoid", "Gemm", "Sigmoid"], "sigmoid");
}

#[test]
fn relu_softmax_monster_runs_in_onnxruntime_as_in_burn() {
    onnxruntime_agrees_with_burn("monster", &["Gemm", "Relu", "Gemm", "Relu", "Gemm", "Softmax"], "softmax");
}

/// No preset uses tanh: a config of our own covers it, after a sigmoid layer, under softmax.
#[test]
fn tanh_after_sigmoid_runs_in_onnxruntime_as_in_burn() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tanh.toml");
    let text = r#"
[data]
train_limit = 5000

[model]
hidden = [
    { units = 64, activation = "sigmoid" },
    { units = 32, activation = "tanh", dropout = 0.1 },
]
output = "softmax"

[train]
epochs = 1
batch_size = 32
loss = "categorical-crossentropy"

[optimizer]
name = "adam"
learning_rate = 0.001
"#;
    std::fs::write(&config, text).unwrap();
    let nodes = ["Gemm", "Sigmoid", "Gemm", "Tanh", "Gemm", "Softmax"];
    onnxruntime_agrees_with_burn(config.to_str().unwrap(), &nodes, "softmax");
}

#[test]
fn onnx_export_never_replaces_the_runs_files() {
    let (tmp, run_dir) = train_run(&["baseline", "--epochs", "1"]);
    let dir = run_dir.to_str().unwrap();
    // The run's own files, checkpoints included, are refused and left as they were.
    let checkpoint = mnist_lab::train::checkpoint::latest(&run_dir).unwrap();
    let own_files = [
        run_dir.join("model.bpk"),
        run_dir.join("config.toml"),
        run_dir.join("summary.json"),
        run_dir.join("checkpoints").join("latest"),
        checkpoint.join("model.bpk"),
    ];
    for own in own_files {
        let before = std::fs::read(&own).unwrap();
        // The same rule holds for every format.
        for format in ["onnx", "safetensors"] {
            let o = run(&["export", dir, "--format", format, "--to", own.to_str().unwrap()]);
            assert_user_error(&o, 2, "would replace it");
        }
        assert_eq!(std::fs::read(&own).unwrap(), before, "{} untouched", own.display());
    }

    // A directory gets model.onnx; exporting again over an earlier export is fine.
    let o = run(&["export", dir, "--format", "onnx", "--to", tmp.path().to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let first = std::fs::read(tmp.path().join("model.onnx")).unwrap();
    let again = run_dir.join("copy.onnx");
    for _ in 0..2 {
        let o = run(&["export", dir, "--format", "onnx", "--to", again.to_str().unwrap()]);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    assert_eq!(std::fs::read(&again).unwrap(), first, "the same model gives the same bytes");

    // An unwritable destination is a runtime error.
    let missing = tmp.path().join("no-such-dir").join("m.onnx");
    let o = run(&["export", dir, "--format", "onnx", "--to", missing.to_str().unwrap()]);
    assert_user_error(&o, 4, "cannot write");
}
