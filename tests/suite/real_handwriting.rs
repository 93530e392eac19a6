//! `predict` on real handwriting from outside MNIST: scikit-learn's digits (43 writers), drawn as
//! dark ink on white paper by bench/real_handwriting.py, read by a briefly trained network.

use crate::common::{py, python_with, stderr, stdout, train_run};

#[test]
fn predict_reads_scikit_learn_handwriting_drawn_as_photos() {
    let tmp = tempfile::tempdir().unwrap();
    let images = tmp.path().join("digits");
    let o =
        python_with(&py::SKLEARN_DIGITS).args(["bench/real_handwriting.py", "--write"]).arg(&images).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let labels = std::fs::read_to_string(images.join("labels.csv")).unwrap();
    let rows: Vec<(String, u8)> = labels
        .lines()
        .skip(1)
        .map(|l| {
            let (file, label) = l.split_once(',').unwrap();
            (file.to_string(), label.parse().unwrap())
        })
        .collect();
    assert_eq!(rows.len(), 1797, "all of scikit-learn's digits");
    // The images are photos of paper: white background, dark ink.
    let first = image::open(images.join(&rows[0].0)).unwrap().to_luma8();
    assert_eq!(first.get_pixel(0, 0).0[0], 255);
    assert!(first.pixels().any(|p| p.0[0] < 40));

    let (_keep, run) = train_run(&["monster", "--epochs", "2"]);
    // Every fifth digit: 360 images, every writer's and every class.
    let sample: Vec<&(String, u8)> = rows.iter().step_by(5).collect();
    let mut args = vec!["predict".to_string(), run.display().to_string(), "--json".to_string()];
    args.extend(sample.iter().map(|(f, _)| images.join(f).display().to_string()));
    let o = crate::common::bin().args(&args).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let digits: Vec<u64> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["digit"].as_u64().unwrap())
        .collect();
    assert_eq!(digits.len(), sample.len());
    let right = digits.iter().zip(&sample).filter(|(d, (_, l))| **d == *l as u64).count();
    let accuracy = right as f64 / sample.len() as f64;
    // Chance is 10 %; a network that reads MNIST but not these (a broken inversion, crop or
    // centring) falls far below this.
    assert!(accuracy > 0.8, "read {right} of {} scikit-learn digits ({accuracy})", sample.len());
}
