//! `predict` on digits rendered from the MNIST test set the way a user would draw them:
//! scaled up, dark ink on a light background, saved as PNG.

use formats::config::Dataset;

use crate::common::*;

#[test]
fn predict_reads_rendered_test_digits() {
    let (tmp, run_dir) = train_run(&["monster", "--epochs", "2"]);

    let raw = mnist_lab::data::load_raw(Dataset::Mnist, &mnist_dir(), false).unwrap();
    let n = 40;
    let mut paths = Vec::new();
    for i in 0..n {
        let pixels: Vec<u8> = raw.test_images[i * 784..(i + 1) * 784].iter().map(|p| 255 - p).collect();
        let img = image::GrayImage::from_raw(28, 28, pixels).unwrap();
        let big = image::imageops::resize(&img, 140, 140, image::imageops::FilterType::Triangle);
        let path = tmp.path().join(format!("digit-{i}.png"));
        big.save(&path).unwrap();
        paths.push(path.to_str().unwrap().to_string());
    }
    let mut args = vec!["predict", run_dir.to_str().unwrap(), "--json"];
    args.extend(paths.iter().map(String::as_str));
    let o = run(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let lines: Vec<serde_json::Value> = stdout(&o).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), n);
    let mut right = 0;
    for (i, v) in lines.iter().enumerate() {
        let probs: Vec<f64> = v["probabilities"].as_array().unwrap().iter().map(|p| p.as_f64().unwrap()).collect();
        assert!((probs.iter().sum::<f64>() - 1.0).abs() < 1e-3, "probabilities sum to one");
        if v["digit"].as_u64().unwrap() == raw.test_labels[i] as u64 {
            right += 1;
        }
    }
    assert!(right >= n * 8 / 10, "{right} of {n} rendered digits recognised");

    // Plain text output names the file and the digit.
    let o = run(&["predict", run_dir.to_str().unwrap(), &paths[0]]);
    assert!(stdout(&o).starts_with(&paths[0]), "{}", stdout(&o));

    let missing = tmp.path().join("nope.png");
    assert_user_error(&run(&["predict", run_dir.to_str().unwrap(), missing.to_str().unwrap()]), 3, "nope.png");

    // One missing among good ones: the good ones are read, the missing one named, exit 3.
    let o = run(&["predict", run_dir.to_str().unwrap(), &paths[0], missing.to_str().unwrap(), &paths[1]]);
    assert_user_error(&o, 3, "nope.png");
    let printed = stdout(&o);
    let lines: Vec<&str> = printed.lines().map(|l| l.split(':').next().unwrap()).collect();
    assert_eq!(lines, [&paths[0], &paths[1]]);

    // A file name with terminal control characters reaches the terminal escaped.
    let hostile = tmp.path().join("digit\u{1b}[2J\u{7}.png");
    std::fs::copy(&paths[0], &hostile).unwrap();
    let o = run(&["predict", run_dir.to_str().unwrap(), hostile.to_str().unwrap(), missing.to_str().unwrap()]);
    let (out, err) = (stdout(&o), stderr(&o));
    assert!(out.contains("digit\\u{1b}[2J\\u{7}.png") && !out.contains('\u{1b}') && !out.contains('\u{7}'), "{out:?}");
    assert!(!err.contains('\u{1b}'), "{err:?}");
}

/// `stroke::MNIST_WIDTH` is what it says: the median stroke width of MNIST's training digits,
/// each scaled 4× (the digit's 20-pixel box to `stroke::SIDE`) and measured by `stroke::width`.
#[test]
fn mnist_width_is_the_median_of_mnist_training_digits() {
    use mnist_lab::data::stroke;
    let raw = mnist_lab::data::load_raw(Dataset::Mnist, &mnist_dir(), false).unwrap();
    let side = 28 * stroke::SIDE / 20;
    let mut widths: Vec<f32> = raw
        .train_images
        .chunks_exact(784)
        .take(5000)
        .map(|digit| {
            let img = stroke::Gray::from_fn(28, 28, |x, y| image::Luma([digit[(y * 28 + x) as usize] as f32 / 255.0]));
            stroke::width(&image::imageops::resize(&img, side, side, image::imageops::FilterType::Triangle))
        })
        .collect();
    widths.sort_by(f32::total_cmp);
    let median = widths[widths.len() / 2];
    assert!((median - stroke::MNIST_WIDTH).abs() < 0.1, "median {median}, MNIST_WIDTH {}", stroke::MNIST_WIDTH);
}
