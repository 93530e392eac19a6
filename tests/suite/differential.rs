//! One trained network, one answer, wherever it is asked: over a sample of configs that covers
//! every initialiser, activation, dropout, output, loss, optimizer and max-norm, each trained
//! briefly, `eval` = the run's `summary.json` = a NumPy forward of `model.safetensors` =
//! onnxruntime on the exported ONNX, and `predict` answers the same image the same way every
//! time. Dropout once stayed live at inference for truncated-normal initialisers; a sample like
//! this catches any such path. The ordinary suite draws 30 configs; CI runs 120 (`--ignored`).

use std::path::{Path, PathBuf};

use formats::config::Dataset;
use rand::rngs::SmallRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use crate::common::*;

const INITS: [&str; 6] = ["normal", "scaled-normal", "glorot-uniform", "glorot-normal", "he-uniform", "he-normal"];
const ACTIVATIONS: [&str; 3] = ["sigmoid", "tanh", "relu"];
const DROPOUTS: [f64; 2] = [0.0, 0.4];
/// (output, loss): every pair the config accepts.
const HEADS: [(&str, &str); 4] = [
    ("sigmoid", "mse"),
    ("sigmoid", "binary-crossentropy"),
    ("softmax", "mse"),
    ("softmax", "categorical-crossentropy"),
];
/// Each optimizer with a learning rate it trains with from every start above.
const OPTIMIZERS: [&str; 6] = [
    "name = \"sgd\"\nlearning_rate = 0.1",
    "name = \"sgd\"\nlearning_rate = 0.05\nmomentum = 0.9\nnesterov = true",
    "name = \"adagrad\"\nlearning_rate = 0.05",
    "name = \"rmsprop\"\nlearning_rate = 0.001",
    "name = \"adam\"\nlearning_rate = 0.001",
    "name = \"adadelta\"\nlearning_rate = 1.0",
];
const MAX_NORMS: [Option<f64>; 2] = [None, Some(2.0)];
const DEPTHS: [usize; 3] = [1, 2, 3];

/// `n` configs: every dimension's values repeated to length `n` and shuffled on their own, so
/// each value occurs ⌊n/len⌋ or ⌈n/len⌉ times and the dimensions mix freely.
fn sample(n: usize, seed: u64) -> Vec<String> {
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut column = |len: usize| {
        let mut c: Vec<usize> = (0..n).map(|i| i % len).collect();
        c.shuffle(&mut rng);
        c
    };
    let (init, act, drop, head, opt, norm, depth) = (
        column(INITS.len()),
        column(ACTIVATIONS.len()),
        column(DROPOUTS.len()),
        column(HEADS.len()),
        column(OPTIMIZERS.len()),
        column(MAX_NORMS.len()),
        column(DEPTHS.len()),
    );
    (0..n)
        .map(|k| {
            // Deeper layers take the next activations in turn: ReLU also sits after the first layer.
            let layers: Vec<String> = (0..DEPTHS[depth[k]])
                .map(|j| {
                    let units = [48, 32, 24][j];
                    let mut l = format!(
                        "{{ units = {units}, activation = \"{}\", dropout = {}",
                        ACTIVATIONS[(act[k] + j) % ACTIVATIONS.len()],
                        DROPOUTS[drop[k]]
                    );
                    if let Some(c) = MAX_NORMS[norm[k]] {
                        l.push_str(&format!(", max_norm = {c}"));
                    }
                    l + " }"
                })
                .collect();
            let (output, loss) = HEADS[head[k]];
            format!(
                "lesson = \"differential sample {k}\"\n\n[data]\nvalidation = 500\ntrain_limit = 1000\n\n\
                 [model]\nhidden = [{}]\noutput = \"{output}\"\ninit = \"{}\"\ninit_std = 0.5\n\n\
                 [train]\nepochs = 2\nbatch_size = 50\nloss = \"{loss}\"\nseed = {}\n\n[optimizer]\n{}\n",
                layers.join(", "),
                INITS[init[k]],
                rng.random_range(1..1000u64),
                OPTIMIZERS[opt[k]],
            )
        })
        .collect()
}

/// For each model folder given: the test set's accuracy from a NumPy forward of
/// model.safetensors and from onnxruntime on model.onnx, the largest difference between their
/// logits, and how many images have their two largest logits so close that f32 rounding may
/// pick either (those may be counted differently by two correct implementations).
const FORWARDS: &str = r#"
import json, sys
from pathlib import Path
import numpy as np
import onnxruntime as ort
from safetensors import safe_open
from safetensors.numpy import load_file

data = Path(sys.argv[1])
images = np.frombuffer((data / "t10k-images-idx3-ubyte").read_bytes()[16:], np.uint8)
labels = np.frombuffer((data / "t10k-labels-idx1-ubyte").read_bytes()[8:], np.uint8)
x0 = images.reshape(-1, 784).astype(np.float32) / 255.0
act = {"sigmoid": lambda z: 0.5 * (1.0 + np.tanh(0.5 * z)), "tanh": np.tanh, "relu": lambda z: np.maximum(z, 0.0)}
for run in sys.argv[2:]:
    path = str(Path(run) / "model.safetensors")
    weights = load_file(path)
    with safe_open(path, "np") as f:
        hidden = [a for a in f.metadata()["activations"].split(",") if a]
    x = x0.astype(np.float64)
    for i in range(len(hidden) + 1):
        x = x @ weights[f"layers.{i}.weight"].astype(np.float64).T + weights[f"layers.{i}.bias"]
        if i < len(hidden):
            x = act[hidden[i]](x)
    top2 = np.sort(x, axis=1)[:, -2:]
    ties = int(np.sum(top2[:, 1] - top2[:, 0] <= 1e-5 * (1.0 + np.abs(top2[:, 1]))))
    session = ort.InferenceSession(str(Path(run) / "model.onnx"), providers=["CPUExecutionProvider"])
    (logits,) = session.run(["logits"], {"pixels": x0})
    print(json.dumps({
        "numpy": float(np.mean(x.argmax(axis=1) == labels)),
        "onnx": float(np.mean(logits.argmax(axis=1) == labels)),
        "logit_diff": float(np.max(np.abs(logits - x)) / (1.0 + np.max(np.abs(x)))),
        "ties": ties,
    }))
"#;

fn ok(o: &std::process::Output, what: &str) -> String {
    assert!(o.status.success(), "{what}: exit {:?}\n{}", o.status.code(), stderr(o));
    stdout(o)
}

/// Three MNIST test digits as the PNGs a user would hand to `predict`.
fn digits(dir: &Path) -> Vec<String> {
    let raw = mnist_lab::data::load_raw(Dataset::Mnist, &mnist_dir(), false).unwrap();
    (0..3)
        .map(|i| {
            let pixels: Vec<u8> = raw.test_images[i * 784..(i + 1) * 784].iter().map(|p| 255 - p).collect();
            let path = dir.join(format!("digit-{i}.png"));
            image::GrayImage::from_raw(28, 28, pixels).unwrap().save(&path).unwrap();
            path.to_str().unwrap().to_string()
        })
        .collect()
}

fn check_sample(n: usize, seed: u64) {
    let tmp = tempfile::tempdir().unwrap();
    let images = digits(tmp.path());
    let configs = sample(n, seed);
    let mut runs: Vec<PathBuf> = Vec::new();
    for (k, text) in configs.iter().enumerate() {
        let config = tmp.path().join(format!("sample-{k}.toml"));
        std::fs::write(&config, text).unwrap();
        let run_dir = tmp.path().join(format!("run-{k}"));
        let d = run_dir.to_str().unwrap();
        ok(&run(&["train", config.to_str().unwrap(), "--out", d, "--quiet"]), &format!("train\n{text}"));
        ok(&run(&["export", d, "--format", "onnx"]), "export");

        // eval reads the weights back and must find what training reported.
        let eval: serde_json::Value = serde_json::from_str(&ok(&run(&["eval", d, "--json"]), "eval")).unwrap();
        let summary = summary(&run_dir);
        for key in ["test_accuracy", "test_loss"] {
            let (e, s) = (eval[key].as_f64().unwrap(), summary[key].as_f64().unwrap());
            assert!(
                (e - s).abs() <= 1e-9 * (1.0 + s.abs()),
                "sample {k}: eval's {key} {e} vs the summary's {s}\n{text}"
            );
        }

        // predict: the same image twice in one call, and again in another call, same answer.
        let mut args = vec!["predict", d, "--json", &images[0], &images[1], &images[2], &images[0]];
        let first = ok(&run(&args), "predict");
        let lines: Vec<serde_json::Value> = first.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 4, "{first}");
        assert_eq!(
            lines[0]["probabilities"], lines[3]["probabilities"],
            "sample {k}: predict differs within a call\n{text}"
        );
        assert_eq!(ok(&run(&args), "predict"), first, "sample {k}: predict differs between calls\n{text}");
        // Alone, the image goes through products of another shape: the same up to f32 rounding.
        args.truncate(4);
        let alone: serde_json::Value = serde_json::from_str(ok(&run(&args), "predict").trim()).unwrap();
        let probabilities = |v: &serde_json::Value| -> Vec<f64> {
            v["probabilities"].as_array().unwrap().iter().map(|p| p.as_f64().unwrap()).collect()
        };
        for (a, b) in probabilities(&alone).iter().zip(probabilities(&lines[0])) {
            assert!((a - b).abs() <= 1e-5, "sample {k}: predict gives {a} alone, {b} in a batch\n{text}");
        }
        runs.push(run_dir);
    }

    let mut args = vec!["-c".to_string(), FORWARDS.to_string(), mnist_dir().to_str().unwrap().to_string()];
    args.extend(runs.iter().map(|r| r.to_str().unwrap().to_string()));
    let o = python_with(&[py::NUMPY, py::SAFETENSORS, py::ONNXRUNTIME]).args(&args).output().unwrap();
    let out = ok(&o, "the NumPy and onnxruntime forwards");
    let results: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(results.len(), runs.len());
    for (k, (r, run_dir)) in results.iter().zip(&runs).enumerate() {
        let text = &configs[k];
        let ours = summary(run_dir)["test_accuracy"].as_f64().unwrap();
        // Near-ties may fall either way in f32; anything beyond them is a different network.
        let slack = (r["ties"].as_f64().unwrap() + 0.5) / 10_000.0;
        for key in ["numpy", "onnx"] {
            let theirs = r[key].as_f64().unwrap();
            assert!(
                (theirs - ours).abs() <= slack,
                "sample {k}: {key} accuracy {theirs} vs mnist-lab's {ours} ({} near-ties)\n{text}",
                r["ties"]
            );
        }
        let diff = r["logit_diff"].as_f64().unwrap();
        assert!(diff <= 1e-4, "sample {k}: onnxruntime's logits differ from NumPy's by {diff} (relative)\n{text}");
    }
}

#[test]
fn sample_covers_every_value_of_every_dimension() {
    let configs = sample(30, 1);
    let has = |needle: &str| configs.iter().any(|c| c.contains(needle));
    for init in INITS {
        assert!(has(&format!("init = \"{init}\"")), "{init}");
    }
    for a in ACTIVATIONS {
        assert!(has(&format!("activation = \"{a}\"")), "{a}");
    }
    for (output, loss) in HEADS {
        assert!(
            configs
                .iter()
                .any(|c| c.contains(&format!("output = \"{output}\"\n")) && c.contains(&format!("loss = \"{loss}\"")))
        );
    }
    for o in OPTIMIZERS {
        assert!(has(o), "{o}");
    }
    assert!(has("dropout = 0.4") && (has("dropout = 0 ") || has("dropout = 0,")) && has("max_norm = 2"));
    // ReLU with dropout after the first layer, where inference once dropped units.
    assert!(has("}, { units = 32, activation = \"relu\", dropout = 0.4"));
    // Every config the sampler writes is one the loader accepts.
    for c in &configs {
        formats::config::ExperimentConfig::from_toml(c, "sample").unwrap();
    }
}

#[test]
fn thirty_sampled_configs_agree_everywhere() {
    check_sample(30, 1);
}

/// CI's longer run (`cargo test --release --test suite -- --ignored differential::`).
#[test]
#[ignore]
fn a_hundred_and_twenty_sampled_configs_agree_everywhere() {
    check_sample(120, 2);
}
