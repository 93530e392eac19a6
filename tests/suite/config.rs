//! Config loading: every preset is valid, mistakes name the key at fault.

use formats::config::ExperimentConfig;
use mnist_lab::presets::{PRESETS, resolve};

fn rejected(toml: &str) -> String {
    format!("{:#}", ExperimentConfig::from_toml(toml, "test.toml").expect_err("must be rejected"))
}

fn baseline_with(from: &str, to: &str) -> String {
    let text = PRESETS.iter().find(|(n, _)| *n == "baseline").unwrap().1;
    assert!(text.contains(from), "baseline.toml has {from:?}");
    text.replacen(from, to, 1)
}

#[test]
fn every_preset_parses_and_validates_and_has_a_lesson() {
    assert!(PRESETS.len() >= 2);
    for (name, _) in PRESETS {
        let (resolved, cfg) = resolve(name).unwrap();
        assert_eq!(&resolved, name);
        assert!(!cfg.lesson.is_empty(), "{name} states its lesson");
        // The resolved config written into run dirs reads back identically.
        assert_eq!(ExperimentConfig::from_toml(&cfg.to_toml(), name).unwrap(), cfg);
    }
}

#[test]
fn misspelled_key_is_named() {
    let e = rejected(&baseline_with("learning_rate", "lerning_rate"));
    assert!(e.contains("unknown field `lerning_rate`"), "{e}");
}

#[test]
fn out_of_range_values_are_named() {
    let e = rejected(&baseline_with("batch_size = 10", "batch_size = 0"));
    assert!(e.contains("train.batch_size"), "{e}");
    let e = rejected(&baseline_with("learning_rate = 3.0", "learning_rate = -1.0"));
    assert!(e.contains("optimizer.learning_rate") && e.contains("-1"), "{e}");
    let e = rejected(&baseline_with("activation = \"sigmoid\" }", "activation = \"sigmoid\", dropout = 1.5 }"));
    assert!(e.contains("model.hidden[0].dropout"), "{e}");
    let e = rejected(&baseline_with("hidden = [{ units = 30, activation = \"sigmoid\" }]", "hidden = []"));
    assert!(e.contains("model.hidden"), "{e}");
    let e = rejected(&baseline_with("batch_size = 10", "batch_size = 60000"));
    assert!(e.contains("train.batch_size") && e.contains("50000"), "{e}");
    let e = rejected(&baseline_with("\"mse\"", "\"categorical-crossentropy\""));
    assert!(e.contains("softmax"), "{e}");
    let e = rejected(&baseline_with("activation = \"sigmoid\" }", "activation = \"sigmoid\", max_norm = 0.0 }"));
    assert!(e.contains("model.hidden[0].max_norm"), "{e}");
}

#[test]
fn augmentation_ranges_are_named() {
    let augmented = |section: &str| format!("{}\n[augmentation]\n{section}\n", baseline_with("", ""));
    for (line, key) in [
        ("elastic_alpha = -1.0", "augmentation.elastic_alpha"),
        ("elastic_alpha = 1000.0", "augmentation.elastic_alpha"),
        ("elastic_alpha = 34.0\nelastic_sigma = 0.0", "augmentation.elastic_sigma"),
        ("elastic_sigma = 100.0", "augmentation.elastic_sigma"),
        ("shear = 90.0", "augmentation.shear"),
        ("shear = -5.0", "augmentation.shear"),
    ] {
        let e = rejected(&augmented(line));
        assert!(e.contains(&format!("`{key}`")), "{line}: {e}");
    }
    // Only α given: Simard et al.'s σ = 4.
    let cfg = ExperimentConfig::from_toml(&augmented("elastic_alpha = 34.0"), "test.toml").unwrap();
    let a = cfg.augmentation.unwrap();
    assert_eq!((a.elastic_alpha, a.elastic_sigma, a.rotation), (34.0, 4.0, 0.0));
}

#[test]
fn wrong_types_and_unknown_names_are_rejected() {
    let e = rejected(&baseline_with("epochs = 30", "epochs = \"thirty\""));
    assert!(e.contains("epochs") || e.contains("integer"), "{e}");
    let e = rejected(&baseline_with("\"sgd\"", "\"sgdd\""));
    assert!(e.contains("sgdd"), "{e}");
}

#[test]
fn unknown_preset_suggests_the_closest() {
    let e = format!("{:#}", resolve("basline").unwrap_err());
    assert!(e.contains("did you mean `baseline`"), "{e}");
    // A control character is named, not taken for a typo of a preset.
    let e = format!("{:#}", resolve("over\0fit").unwrap_err());
    assert!(e.contains("control character") && !e.contains("did you mean") && !e.contains('\0'), "{e}");
}

#[test]
fn a_key_of_another_optimizer_or_schedule_is_named() {
    let e = rejected(&baseline_with("learning_rate = 3.0", "learning_rate = 3.0\nbeta_1 = 0.9"));
    assert!(e.contains("beta_1") && e.contains("momentum"), "names the key and sgd's own keys: {e}");
    let e = rejected(&format!("{}\n[schedule]\nname = \"exponential\"\nevery = 3\n", baseline_with("", "")));
    assert!(e.contains("every"), "{e}");
    // Left out, each optimizer's keys take Keras' defaults.
    let cfg = ExperimentConfig::from_toml(
        &baseline_with("name = \"sgd\"\nlearning_rate = 3.0", "name = \"adagrad\""),
        "test.toml",
    )
    .unwrap();
    let want = formats::config::AdagradConfig { learning_rate: 0.001, initial_accumulator_value: 0.1, epsilon: 1e-7 };
    assert_eq!(cfg.optimizer, formats::config::OptimizerConfig::Adagrad(want));
}
