//! `mnist-lab bench`: the table and the JSON carry every field, with positive numbers. No timing
//! thresholds: the numbers depend on the machine and its load.

use crate::common::*;
use mnist_lab::backend::BackendName;

/// A CPU backend compiled into this build (a GPU one may have no device on the test machine).
fn cpu_backend() -> &'static str {
    let compiled = mnist_lab::backend::compiled();
    compiled.iter().copied().find(|&b| b != BackendName::Wgpu).unwrap_or(compiled[0]).as_str()
}

#[test]
fn bench_baseline_prints_a_table_and_writes_json() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("b.json");
    let backend = cpu_backend();
    let o =
        run(&["bench", "--preset", "baseline", "--backend", backend, "--runs", "1", "--json", json.to_str().unwrap()]);
    assert!(o.status.success(), "bench failed:\n{}", stderr(&o));

    let out = stdout(&o);
    let header = "| backend | preset | load s | first epoch s | epoch s (train) | validation s | samples/s | peak MB | sgemm floor s | × floor | GFLOP/epoch | GFLOP/s | % of FMA peak |";
    assert!(out.contains(header), "table header missing:\n{out}");
    let row = out
        .lines()
        .find(|l| l.starts_with(&format!("| {backend} | baseline |")))
        .unwrap_or_else(|| panic!("no {backend}/baseline row:\n{out}"));
    let cells: Vec<&str> = row.trim_matches('|').split('|').map(str::trim).collect();
    assert_eq!(cells.len(), 13, "row {row:?}");
    for (i, cell) in cells[2..7].iter().enumerate() {
        let v: f64 = cell.parse().unwrap_or_else(|_| panic!("column {} is not a number: {row:?}", i + 2));
        assert!(v > 0.0, "column {} must be positive: {row:?}", i + 2);
    }
    if cfg!(target_os = "linux") {
        assert!(cells[7].parse::<f64>().is_ok_and(|mb| mb > 0.0), "peak MB on Linux: {row:?}");
    } else {
        assert_eq!(cells[7], "n/a");
    }
    // A CPU backend carries its machine's yardstick: the epoch's products alone, and the ratio.
    let floor: f64 = cells[8].parse().unwrap_or_else(|_| panic!("floor: {row:?}"));
    let ratio: f64 = cells[9].parse().unwrap_or_else(|_| panic!("× floor: {row:?}"));
    let train: f64 = cells[4].parse().unwrap();
    assert!(floor > 0.0 && floor < train, "the products alone take less than the epoch: {row:?}");

    // Distance to the real limit: the products' GFLOP over the epoch, against the FMA peak.
    let gflop: f64 = cells[10].parse().unwrap();
    let rate: f64 = cells[11].parse().unwrap();
    let of_peak: f64 = cells[12].trim_end_matches(" %").parse().unwrap_or_else(|_| panic!("% of peak: {row:?}"));
    assert!((gflop - 6.0 * 30.0 * 50_000.0 * 10.0 / 1e9 - 4.0 * 784.0 * 30.0 * 50_000.0 / 1e9).abs() < 0.06, "{row:?}");
    assert!(rate > 0.0 && (rate - gflop / train).abs() <= 0.06 * rate.max(1.0), "{row:?}");
    assert!(of_peak > 0.0 && of_peak <= 100.0, "no epoch beats the FMA peak: {row:?}");
    assert!(out.contains("FMA peak: "), "{out}");

    // Where the epoch went: four timed phases, the rest, each pass against the peak, the floor's share.
    let header = "| backend | preset | data s | forward s | forward % of peak | backward s | backward % of peak | optimizer s | other s | floor % of peak |";
    assert!(out.contains(header), "phase table header missing:\n{out}");
    let row = out
        .lines()
        .filter(|l| l.starts_with(&format!("| {backend} | baseline |")))
        .nth(1)
        .unwrap_or_else(|| panic!("no {backend}/baseline phase row:\n{out}"));
    let cells: Vec<&str> = row.trim_matches('|').split('|').map(str::trim).collect();
    assert_eq!(cells.len(), 10, "row {row:?}");
    let number = |i: usize| cells[i].parse::<f64>().unwrap_or_else(|_| panic!("column {i}: {row:?}"));
    let percent =
        |i: usize| cells[i].trim_end_matches(" %").parse::<f64>().unwrap_or_else(|_| panic!("column {i}: {row:?}"));
    for i in [2, 3, 5, 7] {
        assert!(number(i) > 0.0, "column {i} must be positive: {row:?}");
    }
    assert!(number(8) >= 0.0, "{row:?}");
    for i in [4, 6, 9] {
        assert!(percent(i) > 0.0 && percent(i) <= 100.0, "column {i} is a share of the peak: {row:?}");
    }
    assert!(percent(9) >= of_peak, "the products alone come at least as near the peak as the epoch: {row:?}");

    let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let peak = &doc["machine"]["fma_peak"];
    assert!(peak["gflops"].as_f64().is_some_and(|g| g > 0.0) && peak["isa"].is_string(), "{peak}");
    let machine = &doc["machine"];
    for key in ["cpu", "os", "date"] {
        assert!(machine[key].as_str().is_some_and(|s| !s.is_empty()), "machine.{key}: {machine}");
    }
    assert!(machine["cores"].as_u64().is_some_and(|n| n > 0), "machine.cores: {machine}");
    assert_eq!(machine["mnist_lab_version"], env!("CARGO_PKG_VERSION"));
    // The kernels that ran, as the header says them.
    let kernels = machine["kernels"].as_str().expect("machine.kernels");
    assert!(out.contains(&format!("kernels: {kernels}\n")), "{out}");
    assert!(["avx512+fma", "avx2+fma", "avx", "portable"].iter().any(|k| kernels.ends_with(k)), "{kernels}");
    assert_eq!(doc["settings"]["runs"], 1);
    assert_eq!(doc["failures"].as_array().map(Vec::len), Some(0));
    let results = doc["results"].as_array().expect("results");
    assert_eq!(results.len(), 1);
    let r = &results[0];
    assert_eq!(r["backend"], backend);
    assert_eq!(r["preset"], "baseline");
    assert_eq!(r["train_images"], 50_000);
    assert_eq!(r["validation_images"], 10_000);
    for key in [
        "load_seconds",
        "first_epoch_seconds",
        "epoch_seconds",
        "train_seconds",
        "validation_seconds",
        "samples_per_second",
        "test_accuracy",
        "floor_seconds",
        "gflop_per_epoch",
        "gflops",
        "percent_of_peak",
        "floor_percent_of_peak",
    ] {
        assert!(r[key].as_f64().is_some_and(|v| v > 0.0), "{key} must be positive: {r}");
    }
    let p = &r["phases"];
    let phase = |key: &str| p[key].as_f64().unwrap_or_else(|| panic!("phases.{key}: {p}"));
    let timed = ["data_seconds", "forward_seconds", "backward_seconds", "optimizer_seconds"];
    assert!(timed.iter().all(|k| phase(k) > 0.0) && phase("other_seconds") >= 0.0, "{p}");
    // Inside one epoch (one timed run): the phases are parts of it.
    assert!(timed.iter().map(|k| phase(k)).sum::<f64>() <= r["epoch_seconds"].as_f64().unwrap(), "{p} vs {r}");
    let (forward, backward) = (phase("forward_gflop"), phase("backward_gflop"));
    assert!((forward + backward - r["gflop_per_epoch"].as_f64().unwrap()).abs() < 1e-9, "{p}");
    assert!((forward - 2.0 * (784.0 * 30.0 + 300.0) * 50_000.0 / 1e9).abs() < 1e-9, "{p}");
    // The ratio printed is the epoch's training time over the floor (both unrounded).
    let (train, floor) = (r["train_seconds"].as_f64().unwrap(), r["floor_seconds"].as_f64().unwrap());
    assert!((ratio - train / floor).abs() <= 0.006, "× floor {ratio} vs {train} / {floor}");
    // Training time excludes the separately timed validation pass.
    assert!(r["train_seconds"].as_f64() < r["epoch_seconds"].as_f64(), "{r}");
    if cfg!(target_os = "linux") {
        assert!(r["peak_rss_mb"].as_f64().is_some_and(|v| v > 0.0), "peak_rss_mb: {r}");
    }
}

#[test]
fn bench_rejects_unknown_names_before_measuring() {
    assert_user_error(&run(&["bench", "--backend", "tpu", "--runs", "1"]), 2, "tpu");
    assert_user_error(&run(&["bench", "--preset", "basline", "--runs", "1"]), 2, "baseline");
}

#[test]
fn the_vector_level_can_be_capped_and_a_wrong_one_is_named() {
    let o = bin().args(["list", "--names"]).env("MNIST_LAB_SIMD", "avx9").output().unwrap();
    assert_user_error(&o, 2, "MNIST_LAB_SIMD=\"avx9\" is not a vector level");
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("b.json");
    let o = bin()
        .args(["bench", "--preset", "baseline", "--backend", "flex", "--runs", "1", "--json", json.to_str().unwrap()])
        .env("MNIST_LAB_SIMD", "portable")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert!(doc["machine"]["kernels"].as_str().unwrap().ends_with("portable"), "{}", doc["machine"]);
    assert_eq!(doc["machine"]["fma_peak"]["isa"], "portable");
}
