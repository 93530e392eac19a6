//! `export`: safetensors that plain NumPy can run, burnpack copies, and user mistakes.

use std::path::Path;

use crate::common::*;

/// A safetensors header: 8-byte little-endian length, then that much JSON.
fn header(path: &Path) -> serde_json::Value {
    let bytes = std::fs::read(path).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    serde_json::from_slice(&bytes[8..8 + n]).unwrap()
}

#[test]
fn safetensors_has_pytorch_layout_and_numpy_reproduces_the_test_accuracy() {
    // One epoch of the baseline (784-30σ-10σ); seconds on real MNIST.
    let (tmp, run_dir) = train_run(&["baseline", "--epochs", "1"]);
    let out = tmp.path().join("m.safetensors");
    let o = run(&["export", run_dir.to_str().unwrap(), "--format", "safetensors", "--to", out.to_str().unwrap()]);
    assert!(o.status.success(), "export failed:\n{}", stderr(&o));
    assert_eq!(stdout(&o).trim(), out.to_str().unwrap(), "prints the path it wrote");

    let h = header(&out);
    // nn.Linear's layout: weight [out, in], f32.
    let expected = [
        ("layers.0.weight", vec![30, 784]),
        ("layers.0.bias", vec![30]),
        ("layers.1.weight", vec![10, 30]),
        ("layers.1.bias", vec![10]),
    ];
    let names: Vec<&str> = h.as_object().unwrap().keys().map(|k| k.as_str()).filter(|k| *k != "__metadata__").collect();
    assert_eq!(names.len(), expected.len(), "exactly these tensors: {names:?}");
    for (name, shape) in &expected {
        assert_eq!(h[name]["shape"], serde_json::json!(shape), "{name} shape");
        assert_eq!(h[name]["dtype"], "F32", "{name} dtype");
    }
    let meta = &h["__metadata__"];
    assert_eq!(meta["format"], "mnist-lab");
    assert_eq!(meta["activations"], "sigmoid");
    assert_eq!(meta["output"], "sigmoid");
    let config = meta["config"].as_str().expect("config in metadata");
    let run_config = formats::config::ExperimentConfig::from_file(&run_dir.join("config.toml")).unwrap();
    assert_eq!(config, run_config.to_toml(), "metadata holds the resolved config");

    // Loading it back gives the very weights of model.bpk (the transpose round-trips).
    let run = mnist_lab::run::RunDir::open(&run_dir).unwrap();
    let device = mnist_lab::backend::select(None).unwrap().device;
    let from_bpk = run.load_model(&run_config, &device).unwrap();
    let from_st = mnist_lab::export::load_safetensors(std::fs::read(&out).unwrap(), &run_config, &device).unwrap();
    let floats = |t: burn::tensor::TensorData| t.try_into_vec::<f32>().unwrap();
    for (a, b) in from_bpk.layers.iter().zip(&from_st.layers) {
        assert_eq!(floats(a.weight.val().into_data()), floats(b.weight.val().into_data()));
        let (ab, bb) = (a.bias.as_ref().unwrap().val(), b.bias.as_ref().unwrap().val());
        assert_eq!(floats(ab.into_data()), floats(bb.into_data()));
    }

    // The documented NumPy path: the test accuracy matches what training reported.
    let data = mnist_dir();
    let py = python(&["scripts/numpy_forward.py", out.to_str().unwrap(), data.to_str().unwrap()]);
    let printed =
        py.lines().find_map(|l| l.strip_prefix("accuracy: ")).unwrap_or_else(|| panic!("no accuracy line in {py:?}"));
    let numpy_acc: f64 = printed.trim().parse().unwrap();
    let burn_acc = summary(&run_dir)["test_accuracy"].as_f64().unwrap();
    assert!((numpy_acc - burn_acc).abs() <= 0.001, "NumPy {numpy_acc} vs Burn {burn_acc}");
}

/// Run a script with the pinned NumPy and safetensors (provisioned on first use).
fn python(args: &[&str]) -> String {
    let o = python_with(&[py::NUMPY, py::SAFETENSORS]).args(args).output().unwrap();
    assert!(o.status.success(), "numpy_forward.py failed:\n{}", stderr(&o));
    stdout(&o)
}

#[test]
fn burnpack_export_copies_model_bpk() {
    let (tmp, run_dir) = train_run(&["baseline", "--epochs", "1"]);
    let original = std::fs::read(run_dir.join("model.bpk")).unwrap();

    let to = tmp.path().join("copy.bpk");
    let o = run(&["export", run_dir.to_str().unwrap(), "--format", "burnpack", "--to", to.to_str().unwrap()]);
    assert!(o.status.success(), "export failed:\n{}", stderr(&o));
    assert_eq!(stdout(&o).trim(), to.to_str().unwrap());
    assert_eq!(std::fs::read(&to).unwrap(), original, "a byte-for-byte copy");

    // Without --to the destination is the run's own model.bpk: left as it is.
    let o = run(&["export", run_dir.to_str().unwrap(), "--format", "burnpack"]);
    assert!(o.status.success(), "export failed:\n{}", stderr(&o));
    assert_eq!(stdout(&o).trim(), run_dir.join("model.bpk").to_str().unwrap());
    assert_eq!(std::fs::read(run_dir.join("model.bpk")).unwrap(), original);

    // Default safetensors destination is inside the run directory.
    let o = run(&["export", run_dir.to_str().unwrap(), "--format", "safetensors"]);
    assert!(o.status.success(), "export failed:\n{}", stderr(&o));
    assert!(run_dir.join("model.safetensors").is_file());
}

#[test]
fn export_mistakes_are_error_lines() {
    let tmp = tempfile::tempdir().unwrap();
    // Not a run directory: a config error (exit 2).
    let o = run(&["export", tmp.path().to_str().unwrap(), "--format", "safetensors"]);
    assert_user_error(&o, 2, "not a run directory");

    // Unwritable destination (its directory does not exist): a runtime error (exit 4).
    let (_run_tmp, run_dir) = train_run(&["baseline", "--epochs", "1"]);
    let to = tmp.path().join("no-such-dir").join("m.safetensors");
    let o = run(&["export", run_dir.to_str().unwrap(), "--to", to.to_str().unwrap()]);
    assert_user_error(&o, 4, "cannot write");

    // Safetensors onto the run's own model.bpk would destroy it: refused, the model untouched.
    let model = run_dir.join("model.bpk");
    let original = std::fs::read(&model).unwrap();
    let o = run(&["export", run_dir.to_str().unwrap(), "--to", model.to_str().unwrap()]);
    assert_user_error(&o, 2, "would replace it");
    assert_eq!(std::fs::read(&model).unwrap(), original);

    // Unknown format: clap's usage error, also exit 2.
    let o = run(&["export", run_dir.to_str().unwrap(), "--format", "tflite"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).starts_with("error:"), "{}", stderr(&o));
}
