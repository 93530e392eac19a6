//! Regression tests for the fuzz targets in `fuzz/` (IDX parser, config loader).
//!
//! Hostile inputs must come back as a clean `Err` of the right kind, never a panic, an abort or
//! a stack overflow; accepted configs must survive `to_toml` unchanged. A crash that
//! `bash fuzz/run.sh` finds goes here as one more case, byte for byte.

use formats::config::ExperimentConfig;
use formats::error::{self, Kind};
use formats::idx::{self, IdxKind, validate_bytes};

// ---------------------------------------------------------------- IDX ----

fn be(v: u32) -> [u8; 4] {
    v.to_be_bytes()
}

fn images_header(count: u32, rows: u32, cols: u32) -> Vec<u8> {
    [be(idx::IMAGE_MAGIC), be(count), be(rows), be(cols)].concat()
}

fn labels_header(count: u32) -> Vec<u8> {
    [be(idx::LABEL_MAGIC), be(count)].concat()
}

/// `validate_bytes` rejects `bytes` as a data error naming the file.
#[track_caller]
fn idx_rejected(bytes: &[u8], kind: IdxKind, count: usize) -> String {
    let err = validate_bytes(bytes, kind, count, "fuzz.idx").expect_err("must be rejected");
    assert_eq!(error::kind_of(&err), Kind::Data, "{err:#}");
    let msg = format!("{err:#}");
    assert!(msg.starts_with("fuzz.idx: "), "names the file: {msg}");
    msg
}

#[test]
fn idx_well_formed_files_are_accepted() {
    let mut images = images_header(2, 28, 28);
    images.resize(16 + 2 * idx::PIXELS, 255);
    validate_bytes(&images, IdxKind::Images, 2, "ok").unwrap();
    let labels = [labels_header(3), vec![0, 5, 9]].concat();
    validate_bytes(&labels, IdxKind::Labels, 3, "ok").unwrap();
    validate_bytes(&images_header(0, 28, 28), IdxKind::Images, 0, "ok").unwrap();
    validate_bytes(&labels_header(0), IdxKind::Labels, 0, "ok").unwrap();
}

#[test]
fn idx_empty_and_short_inputs() {
    for count in [0, 1, idx::TRAIN_LEN, usize::MAX] {
        assert!(idx_rejected(&[], IdxKind::Images, count).contains("truncated: 0 bytes"));
        assert!(idx_rejected(&[], IdxKind::Labels, count).contains("truncated: 0 bytes"));
    }
    // Every prefix shorter than the header.
    let images = images_header(0, 28, 28);
    for n in 0..16 {
        assert!(idx_rejected(&images[..n], IdxKind::Images, 0).contains("truncated"));
    }
    let labels = labels_header(0);
    for n in 0..8 {
        assert!(idx_rejected(&labels[..n], IdxKind::Labels, 0).contains("truncated"));
    }
}

#[test]
fn idx_header_claiming_u32_max_items() {
    // The count matches what the caller expects, so only the size check stands between this
    // 8/16-byte file and a parser that would read 4 GiB (or 3 TiB) of items.
    let n = u32::MAX as usize;
    let msg = idx_rejected(&labels_header(u32::MAX), IdxKind::Labels, n);
    assert!(msg.contains("truncated: 8 bytes, expected 4294967303"), "{msg}");
    let msg = idx_rejected(&images_header(u32::MAX, 28, 28), IdxKind::Images, n);
    assert!(msg.contains(&format!("expected {}", 16 + n * idx::PIXELS)), "{msg}");
    // And the usual expected counts.
    for count in [idx::TRAIN_LEN, idx::TEST_LEN] {
        assert!(idx_rejected(&labels_header(u32::MAX), IdxKind::Labels, count).contains("holds 4294967295"));
        assert!(idx_rejected(&images_header(u32::MAX, 28, 28), IdxKind::Images, count).contains("holds 4294967295"));
    }
}

#[test]
fn idx_counts_whose_size_would_overflow() {
    // Counts the caller might pass whose byte size `count × 784 + 16` overflows usize: the
    // header (a u32) can never match them, so they are rejected before any arithmetic.
    for count in [usize::MAX, usize::MAX / idx::PIXELS + 1, usize::MAX - 15, 1 << 63] {
        idx_rejected(&images_header(u32::MAX, 28, 28), IdxKind::Images, count);
        idx_rejected(&labels_header(u32::MAX), IdxKind::Labels, count);
        let mut full = images_header(1, 28, 28);
        full.resize(16 + idx::PIXELS, 0);
        idx_rejected(&full, IdxKind::Images, count);
    }
}

#[test]
fn idx_huge_or_zero_dimensions() {
    for (rows, cols) in [(u32::MAX, u32::MAX), (0, 0), (0x1_0000, 0x1_0000), (28, 0), (784, 1), (1, 784)] {
        let mut bytes = images_header(1, rows, cols);
        bytes.resize(16 + idx::PIXELS, 0);
        let msg = idx_rejected(&bytes, IdxKind::Images, 1);
        assert!(msg.contains(&format!("images are {rows}×{cols}")), "{msg}");
    }
}

#[test]
fn idx_wrong_magic() {
    // Labels where images are expected and the other way round, and byte-swapped magics.
    idx_rejected(&[labels_header(0), vec![0; 8]].concat(), IdxKind::Images, 0);
    idx_rejected(&images_header(0, 28, 28), IdxKind::Labels, 0);
    for magic in [0x0308_0000u32, 0x0108_0000, 0x0000_0802, 0xFFFF_FFFF, 0] {
        let bytes = [be(magic), be(0), be(28), be(28)].concat();
        assert!(idx_rejected(&bytes, IdxKind::Images, 0).contains("wrong magic"));
        assert!(idx_rejected(&bytes[..8], IdxKind::Labels, 0).contains("wrong magic"));
    }
}

#[test]
fn idx_sizes_off_by_one_and_bad_labels() {
    let mut images = images_header(1, 28, 28);
    images.resize(16 + idx::PIXELS - 1, 0);
    assert!(idx_rejected(&images, IdxKind::Images, 1).contains("truncated"));
    images.resize(16 + idx::PIXELS + 1, 0);
    assert!(idx_rejected(&images, IdxKind::Images, 1).contains("1 trailing bytes"));

    let labels = [labels_header(2), vec![1]].concat();
    assert!(idx_rejected(&labels, IdxKind::Labels, 2).contains("truncated"));
    let labels = [labels_header(2), vec![1, 2, 3]].concat();
    assert!(idx_rejected(&labels, IdxKind::Labels, 2).contains("trailing"));
    for bad in [10u8, 11, 128, 255] {
        let labels = [labels_header(3), vec![0, 9, bad]].concat();
        let msg = idx_rejected(&labels, IdxKind::Labels, 3);
        assert!(msg.contains(&format!("label 2 is {bad}")), "{msg}");
    }
}

// ------------------------------------------------------------- config ----

/// Every section and every optional key, all valid.
const BASE: &str = r#"lesson = "fuzz regression base"

[data]
dataset = "mnist"
validation = 10000
train_limit = 5000

[model]
output = "softmax"
init = "normal"
init_std = 1.0

[[model.hidden]]
units = 30
activation = "sigmoid"
dropout = 0.0
max_norm = 3.0

[train]
epochs = 1
batch_size = 10
loss = "categorical-crossentropy"
seed = 42
l2 = 0.0
l1 = 0.0

[optimizer]
name = "rmsprop"
learning_rate = 0.001
momentum = 0.0
rho = 0.9
epsilon = 1e-7
centered = false

[schedule]
name = "reduce-on-plateau"
factor = 0.5
patience = 10
min_delta = 0.0
min_lr = 0.0

[early_stopping]
patience = 5
min_delta = 0.0

[augmentation]
rotation = 10.0
shift = 2.0
zoom = 0.1
shear = 15.0
elastic_alpha = 34.0
elastic_sigma = 4.0
"#;

/// BASE with Adam instead of RMSprop: the keys only Adam has.
const ADAM: &str =
    "[optimizer]\nname = \"adam\"\nlearning_rate = 0.001\nbeta_1 = 0.9\nbeta_2 = 0.999\nepsilon = 1e-7\n";

fn base(section: &str, key: &str) -> String {
    if section == "optimizer" && key.starts_with("beta") {
        let start = BASE.find("[optimizer]").unwrap();
        let end = BASE.find("[schedule]").unwrap();
        format!("{}{ADAM}\n{}", &BASE[..start], &BASE[end..])
    } else {
        BASE.to_string()
    }
}

/// BASE with `key = value` under `[section]` (`""` for the top level); `key` must be in BASE.
fn with(section: &str, key: &str, value: &str) -> String {
    let mut current = String::new();
    let mut replaced = false;
    let lines: Vec<String> = base(section, key)
        .lines()
        .map(|line| {
            if line.starts_with('[') {
                current = line.trim_matches(|c| c == '[' || c == ']').to_string();
            } else if current == section && line.starts_with(&format!("{key} = ")) {
                replaced = true;
                return format!("{key} = {value}");
            }
            line.to_string()
        })
        .collect();
    assert!(replaced, "BASE has no `{key}` in [{section}]");
    lines.join("\n")
}

/// `from_toml` rejects `text` as a config error; returns the whole message.
#[track_caller]
fn config_rejected(text: &str) -> String {
    let err = ExperimentConfig::from_toml(text, "fuzz.toml").expect_err("must be rejected");
    assert_eq!(error::kind_of(&err), Kind::Config, "{err:#}");
    format!("{err:#}")
}

/// `from_toml` accepts `text`, and the config reads back equal from `to_toml`.
#[track_caller]
fn config_round_trips(text: &str) -> ExperimentConfig {
    let cfg = ExperimentConfig::from_toml(text, "fuzz.toml").unwrap_or_else(|e| panic!("{e:#}"));
    let written = cfg.to_toml();
    let back = ExperimentConfig::from_toml(&written, "written").unwrap_or_else(|e| panic!("{e:#}\n{written}"));
    assert_eq!(back, cfg, "round trip changed the config:\n{written}");
    cfg
}

#[test]
fn config_base_is_valid_and_round_trips() {
    let cfg = config_round_trips(BASE);
    assert!(cfg.schedule.is_some() && cfg.early_stopping.is_some() && cfg.augmentation.is_some());
}

#[test]
fn config_empty_and_garbage_text() {
    for text in ["", " ", "\n\n", "#", "\u{feff}", "\0", "=", "[", "[[", "]]", "a", "a =", "\"", "'''"] {
        config_rejected(text);
    }
    config_rejected(&format!("{BASE}\0"));
    config_rejected(&BASE[..BASE.len() / 2]);
}

#[test]
fn config_nan_and_infinity_in_checked_float_fields_are_rejected() {
    let fields = [
        ("model", "init_std", "model.init_std"),
        ("model.hidden", "dropout", "model.hidden[0].dropout"),
        ("train", "l2", "train.l2"),
        ("train", "l1", "train.l1"),
        ("optimizer", "learning_rate", "optimizer.learning_rate"),
        ("optimizer", "momentum", "optimizer.momentum"),
        ("optimizer", "rho", "optimizer.rho"),
        ("optimizer", "beta_1", "optimizer.beta_1"),
        ("optimizer", "beta_2", "optimizer.beta_2"),
        ("optimizer", "epsilon", "optimizer.epsilon"),
        ("schedule", "factor", "schedule.factor"),
        ("augmentation", "rotation", "augmentation.rotation"),
        ("augmentation", "shift", "augmentation.shift"),
        ("augmentation", "zoom", "augmentation.zoom"),
        ("augmentation", "shear", "augmentation.shear"),
        ("augmentation", "elastic_alpha", "augmentation.elastic_alpha"),
        ("augmentation", "elastic_sigma", "augmentation.elastic_sigma"),
        ("model.hidden", "max_norm", "model.hidden[0].max_norm"),
    ];
    for value in ["nan", "+nan", "-nan", "inf", "+inf", "-inf"] {
        for (section, key, name) in fields {
            let msg = config_rejected(&with(section, key, value));
            assert!(msg.contains(&format!("`{name}`")), "{section}.{key} = {value}: {msg}");
        }
    }
    // Out of f64's range: not read as ±inf but refused by the TOML parser.
    for value in ["1e400", "-1e400", "1e999999999999999999999"] {
        for (section, key, _) in fields {
            config_rejected(&with(section, key, value));
        }
    }
}

/// Found by reasoning about the `config` fuzz target's round-trip property: these float fields
/// are not range-checked, so NaN is accepted — and a config holding NaN is not equal to itself
/// after `to_toml` (NaN ≠ NaN), infinity as `schedule.min_lr` makes the learning rate infinite at
/// the first reduction, and NaN/∞ as `min_delta` means no epoch ever counts as an improvement.
/// Fixed: `ExperimentConfig::validate` now requires finite values ≥ 0 here.
#[test]
fn config_nan_and_infinity_in_unchecked_float_fields_are_rejected() {
    for (section, key) in [("early_stopping", "min_delta"), ("schedule", "min_delta"), ("schedule", "min_lr")] {
        for value in ["nan", "-nan", "inf", "-inf", "-1.0"] {
            let msg = config_rejected(&with(section, key, value));
            assert!(msg.contains(&format!("`{section}.{key}`")), "{section}.{key} = {value}: {msg}");
        }
    }
}

#[test]
fn config_huge_numbers() {
    // Beyond i64: TOML itself has no such integer.
    for (section, key) in [("train", "epochs"), ("train", "seed"), ("data", "validation"), ("model.hidden", "units")] {
        for value in
            ["9223372036854775808", "18446744073709551616", "99999999999999999999999999999", "0x1_0000_0000_0000_0000"]
        {
            config_rejected(&with(section, key, value));
        }
    }
    // In range for TOML and usize, but not for the experiment.
    let max = "9223372036854775807";
    assert!(config_rejected(&with("data", "validation", max)).contains("`data.validation`"));
    assert!(config_rejected(&with("train", "batch_size", max)).contains("`train.batch_size`"));
    // Huge but meaningful: round trip unchanged.
    config_round_trips(&with("train", "seed", max));
    config_round_trips(&with("data", "train_limit", max));
    // Numbers the network cannot use: more epochs than any run, and values that become 0 or ∞
    // once rounded to f32, where training computes.
    assert!(config_rejected(&with("train", "epochs", max)).contains("`train.epochs`"));
    assert!(config_rejected(&with("optimizer", "learning_rate", "1.7976931348623157e308")).contains("learning_rate"));
    assert!(config_rejected(&with("optimizer", "epsilon", "5e-324")).contains("`optimizer.epsilon`"));
    assert!(config_rejected(&with("model", "init_std", "1e-310")).contains("`model.init_std`"));
    assert!(config_rejected(&with("optimizer", "rho", "0.99999999999")).contains("`optimizer.rho`"));
}

#[test]
fn config_negative_integers_for_unsigned_fields() {
    let fields = [
        ("data", "validation"),
        ("data", "train_limit"),
        ("model.hidden", "units"),
        ("train", "epochs"),
        ("train", "batch_size"),
        ("train", "seed"),
        ("schedule", "patience"),
        ("early_stopping", "patience"),
    ];
    for (section, key) in fields {
        for value in ["-1", "-0x1", "-9223372036854775808"] {
            config_rejected(&with(section, key, value));
        }
    }
}

#[test]
fn config_wrong_types() {
    for (section, key, value) in [
        ("train", "epochs", "1.5"),
        ("train", "epochs", "1e3"),
        ("train", "epochs", "\"10\""),
        ("train", "epochs", "true"),
        ("train", "epochs", "[]"),
        ("train", "epochs", "{}"),
        ("train", "epochs", "1979-05-27"),
        ("optimizer", "learning_rate", "\"fast\""),
        ("optimizer", "name", "\"SGD\""),
        ("optimizer", "name", "1"),
        ("model", "output", "[\"softmax\"]"),
        ("data", "dataset", "\"\""),
        ("", "lesson", "42"),
    ] {
        config_rejected(&with(section, key, value));
    }
}

#[test]
fn config_deep_nesting_is_rejected_without_overflowing_the_stack() {
    // Run where the stack is as small as a test thread's default, and make the nesting far
    // deeper than any recursive parser or `Drop` could survive.
    const DEPTH: usize = 100_000;
    let cases = [
        format!("lesson = {}{}", "[".repeat(DEPTH), "]".repeat(DEPTH)),
        format!("lesson = {}1{}", "[".repeat(DEPTH), "]".repeat(DEPTH)),
        format!("lesson = {}", "[".repeat(DEPTH)),
        format!("lesson = {}{}", "{ a = ".repeat(DEPTH), "}".repeat(DEPTH)),
        format!("lesson = {}", "{ a = ".repeat(DEPTH)),
        format!("{BASE}\n[{}]\n", vec!["a"; DEPTH].join(".")),
        format!("{BASE}\n[[{}]]\n", vec!["a"; DEPTH].join(".")),
        format!("{} = 1\n{BASE}", vec!["a"; DEPTH].join(".")),
        format!("{BASE}\nx = {}{}", "[{ a = ".repeat(DEPTH / 2), "}]".repeat(DEPTH / 2)),
    ];
    for (i, text) in cases.into_iter().enumerate() {
        let result = std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(move || ExperimentConfig::from_toml(&text, "deep.toml").map(|_| ()).map_err(|e| format!("{e:#}")))
            .unwrap()
            .join()
            .unwrap_or_else(|_| panic!("case {i} panicked"));
        assert!(result.is_err(), "case {i} accepted");
    }
}

#[test]
fn config_duplicates_and_unknown_keys() {
    config_rejected(&format!("{BASE}\n[train]\nepochs = 2\n"));
    config_rejected(&format!("{BASE}\n[optimizer]\n"));
    config_rejected(&with("train", "epochs", "1\nepochs = 2"));
    config_rejected(&with("train", "epochs", "1\nepoch = 2"));
    config_rejected(&format!("{BASE}\n[extra]\n"));
    config_rejected(&format!("data.validation = 5\n{BASE}"));
    assert!(config_rejected(&with("", "lesson", "\"x\"\npreset = \"a\"\npreset = \"b\"")).contains("duplicate"));
}

#[test]
fn config_awkward_strings_round_trip() {
    for lesson in [
        r#""""#,
        r#""\u0000\u0001\u001f\u007f""#,
        r#""tab\there\r\nnew line \"quoted\" back\\slash""#,
        r#"'''a '' b "" c'''"#,
        r#""""three " "" quotes ''' """"#,
        r#""\uFEFF\u2028\u2029 ☃ 𝄞 \U0010FFFF""#,
        r#"'# not a comment = [not, a, table]'"#,
    ] {
        config_round_trips(&with("", "lesson", lesson));
        config_round_trips(&format!("preset = {lesson}\n{BASE}"));
    }
    let long = format!("\"{}\"", "x".repeat(1 << 20));
    config_round_trips(&with("", "lesson", &long));
}

#[test]
fn config_many_hidden_layers_round_trip() {
    let layers = |n| "[[model.hidden]]\nunits = 1\nactivation = \"relu\"\n".repeat(n);
    let text = BASE.replace("[train]", &format!("{}\n[train]", layers(63)));
    assert_eq!(config_round_trips(&text).model.hidden.len(), 64);
    // Ten thousand layers: an error naming the key, not a network that cannot be built.
    let text = BASE.replace("[train]", &format!("{}\n[train]", layers(10_000)));
    assert!(config_rejected(&text).contains("`model.hidden`"));
}

#[test]
fn config_float_edge_values_round_trip() {
    for value in ["0.0", "-0.0", "+0.0", "0.99999994", "1e-320", "5e-324"] {
        config_round_trips(&with("model.hidden", "dropout", value));
        config_round_trips(&with("optimizer", "momentum", value));
    }
    // Below 1 in f64 but 1 in f32, where training uses it: refused.
    assert!(config_rejected(&with("model.hidden", "dropout", "0.999999999999999889")).contains("dropout"));
}
