//! `export --format web`: the draw-a-digit page. Its preprocessing is checked against golden
//! vectors that image_input.rs also has to reproduce, its forward pass against the library's on
//! real MNIST test digits, its drawing by pointer strokes — in a real headless Chromium
//! (tests/web/chromium.py provisions one from the npm registry and PyPI).

use std::path::{Path, PathBuf};

use burn::tensor::{Tensor, TensorData};
use formats::config::Output;
use mnist_lab::data::image_input::mnist_pixels;
use mnist_lab::run::RunDir;

use crate::common::*;

const GOLDEN_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden");
/// How far the page's preprocessing may stray from image_input.rs on a golden drawing (largest
/// absolute difference of the 784 values); both work in f32 step for step (see digit.html).
const PREPROCESS_TOLERANCE: f32 = 1e-6;
/// How far image_input.rs may stray from its own golden output (another platform's libm `sinf`
/// in the Lanczos kernel may round differently).
const GOLDEN_TOLERANCE: f32 = 1e-6;

// ---- Golden drawings -------------------------------------------------------------------------

/// A drawing: thick anti-aliased polylines of `ink` on `paper` (grey levels 0–255).
struct Drawing {
    name: &'static str,
    note: &'static str,
    size: (u32, u32),
    paper: u8,
    ink: u8,
    /// Pen width in pixels.
    pen: f32,
    /// Paper grain: ± this many grey levels in a fixed pattern.
    grain: i32,
    strokes: Vec<Vec<(f32, f32)>>,
}

fn drawings() -> Vec<Drawing> {
    let ellipse = (0..=48)
        .map(|i| {
            let a = i as f32 / 48.0 * std::f32::consts::TAU;
            (140.0 + 58.0 * a.cos(), 140.0 + 92.0 * a.sin())
        })
        .collect();
    vec![
        Drawing {
            name: "seven",
            note: "black pen on white, as the page's canvas draws: inverted, cropped, shrunk",
            size: (280, 280),
            paper: 255,
            ink: 0,
            pen: 20.0,
            grain: 0,
            strokes: vec![vec![(60.0, 62.0), (218.0, 58.0), (122.0, 236.0)], vec![(100.0, 150.0), (182.0, 148.0)]],
        },
        Drawing {
            name: "zero-white-on-black",
            note: "light ink on black: not inverted",
            size: (280, 280),
            paper: 0,
            ink: 255,
            pen: 18.0,
            grain: 0,
            strokes: vec![ellipse],
        },
        Drawing {
            name: "small-four",
            note: "a digit smaller than 20 px: enlarged (the Lanczos kernel at its own scale)",
            size: (280, 280),
            paper: 255,
            ink: 30,
            pen: 3.0,
            grain: 0,
            strokes: vec![vec![(209.0, 40.0), (199.5, 52.0), (214.0, 52.0)], vec![(209.0, 44.0), (209.0, 57.0)]],
        },
        Drawing {
            name: "one-on-grey-paper-at-the-edge",
            note: "dark grey on grainy light grey, touching the left edge: levels stretched, noise cut",
            size: (280, 280),
            paper: 190,
            ink: 70,
            pen: 16.0,
            grain: 6,
            strokes: vec![vec![(4.0, 30.0), (14.0, 140.0), (20.0, 250.0)]],
        },
        Drawing {
            name: "dash-wide-raster",
            note: "a wide raster and a flat stroke: the aspect ratio is kept",
            size: (300, 120),
            paper: 255,
            ink: 0,
            pen: 14.0,
            grain: 0,
            strokes: vec![vec![(40.0, 58.0), (260.0, 66.0)]],
        },
        Drawing {
            name: "faint",
            note: "too little contrast to be ink: all zeros",
            size: (64, 64),
            paper: 128,
            ink: 150,
            pen: 6.0,
            grain: 0,
            strokes: vec![vec![(32.0, 8.0), (32.0, 56.0)]],
        },
    ]
}

/// Distance from `p` to the segment `a`–`b`.
fn distance(p: (f32, f32), a: (f32, f32), b: (f32, f32)) -> f32 {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let len2 = dx * dx + dy * dy;
    let t = if len2 == 0.0 { 0.0 } else { (((p.0 - a.0) * dx + (p.1 - a.1) * dy) / len2).clamp(0.0, 1.0) };
    ((p.0 - a.0 - t * dx).powi(2) + (p.1 - a.1 - t * dy).powi(2)).sqrt()
}

/// The drawing as a grey raster, row-major.
fn render(d: &Drawing) -> Vec<u8> {
    let (w, h) = d.size;
    let mut raster = Vec::with_capacity((w * h) as usize);
    for y in 0..h {
        for x in 0..w {
            let p = (x as f32 + 0.5, y as f32 + 0.5);
            let dist = d
                .strokes
                .iter()
                .flat_map(|s| s.windows(2).map(move |seg| distance(p, seg[0], seg[1])))
                .fold(f32::INFINITY, f32::min);
            let cover = (d.pen / 2.0 + 0.5 - dist).clamp(0.0, 1.0);
            let grain = if d.grain == 0 { 0 } else { ((x * 7 + y * 13) % (2 * d.grain as u32 + 1)) as i32 - d.grain };
            let paper = (d.paper as i32 + grain).clamp(0, 255) as f32;
            raster.push((paper + (d.ink as f32 - paper) * cover).round() as u8);
        }
    }
    raster
}

fn golden_path(name: &str) -> PathBuf {
    Path::new(GOLDEN_DIR).join(format!("preprocess-{name}.json"))
}

fn mnist_of(raster: &[u8], (w, h): (u32, u32)) -> Vec<f32> {
    let img = image::GrayImage::from_raw(w, h, raster.to_vec()).unwrap();
    mnist_pixels(&image::DynamicImage::ImageLuma8(img)).to_vec()
}

fn floats(v: &serde_json::Value) -> Vec<f32> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect()
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

/// The golden files hold each drawing's raster and what image_input.rs makes of it; both the
/// page (in the browser test below) and image_input.rs (here) must keep giving those values.
/// `MNIST_LAB_BLESS=1` rewrites them after a deliberate change.
#[test]
fn golden_preprocessing_vectors_are_current() {
    let bless = std::env::var_os("MNIST_LAB_BLESS").is_some();
    for d in drawings() {
        let raster = render(&d);
        let pixels = mnist_of(&raster, d.size);
        let path = golden_path(d.name);
        if bless {
            let rows: Vec<String> =
                raster.chunks(d.size.0 as usize).map(|row| row.iter().map(|b| format!("{b:02x}")).collect()).collect();
            let json = serde_json::json!({
                "name": d.name, "note": d.note, "width": d.size.0, "height": d.size.1,
                "raster_hex": rows, "pixels": pixels,
            });
            std::fs::write(&path, format!("{json:#}\n")).unwrap();
            continue;
        }
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (MNIST_LAB_BLESS=1 writes it)", path.display()));
        let g: serde_json::Value = serde_json::from_str(&text).unwrap();
        let stored: Vec<u8> = g["raster_hex"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|row| {
                let row = row.as_str().unwrap();
                (0..row.len()).step_by(2).map(|i| u8::from_str_radix(&row[i..i + 2], 16).unwrap()).collect::<Vec<_>>()
            })
            .collect();
        assert_eq!((g["width"].as_u64(), g["height"].as_u64()), (Some(d.size.0 as u64), Some(d.size.1 as u64)));
        assert!(stored == raster, "{}: the stored raster is not this test's drawing", d.name);
        let expected = floats(&g["pixels"]);
        let diff = max_diff(&pixels, &expected);
        assert!(diff <= GOLDEN_TOLERANCE, "{}: image_input.rs now differs from the golden vector by {diff}", d.name);
    }
    // The set covers the paths through the preprocessing.
    let golden: Vec<Vec<f32>> = drawings().iter().map(|d| mnist_of(&render(d), d.size)).collect();
    assert!(golden.last().unwrap().iter().all(|&v| v == 0.0), "the faint drawing is blank");
    assert!(golden[..golden.len() - 1].iter().all(|p| p.iter().any(|&v| v > 0.9)), "the others have ink");
}

// ---- The page in a browser -------------------------------------------------------------------

/// `export RUN --format web` to RUN/digit.html, asserted to succeed.
fn export_page(run_dir: &Path) -> PathBuf {
    let o = run(&["export", run_dir.to_str().unwrap(), "--format", "web"]);
    assert!(o.status.success(), "export failed:\n{}", stderr(&o));
    let page = run_dir.join("digit.html");
    assert_eq!(stdout(&o).trim(), page.to_str().unwrap(), "prints the path it wrote");
    page
}

/// The first `n` MNIST test digits as [0, 1] floats, with their labels.
fn test_digits(n: usize) -> (Vec<f32>, Vec<u8>) {
    let raw = mnist_lab::data::load_raw(formats::config::Dataset::Mnist, &mnist_dir(), false).unwrap();
    let pixels = raw.test_images[..n * 784].iter().map(|&p| p as f32 / 255.0).collect();
    (pixels, raw.test_labels[..n].to_vec())
}

/// What `mnist-lab predict` would say for each digit: the run's model through the library,
/// probabilities as predict prints them (sigmoid scores normalised to sum to one).
fn library_probabilities(run_dir: &Path, pixels: &[f32]) -> Vec<Vec<f32>> {
    let run = RunDir::open(run_dir).unwrap();
    let cfg = run.config().unwrap();
    let device = mnist_lab::backend::select(None).unwrap().device;
    let model = run.load_model(&cfg, &device).unwrap();
    let n = pixels.len() / 784;
    let x = Tensor::<2>::from_data(TensorData::new(pixels.to_vec(), [n, 784]), &device);
    let mut p = model.outputs(model.forward(x));
    if cfg.model.output == Output::Sigmoid {
        p = p.clone().div(p.sum_dim(1));
    }
    let flat = p.into_data().convert::<f32>().try_into_vec::<f32>().unwrap();
    flat.chunks(10).map(<[f32]>::to_vec).collect()
}

fn argmax(p: &[f32]) -> usize {
    (0..p.len()).fold(0, |best, d| if p[d] > p[best] { d } else { best })
}

/// A hidden tanh layer and a narrow ReLU one, so every activation the page knows is exercised.
const TANH_CONFIG: &str = r#"
lesson = "tanh then ReLU, softmax output (web page test)"
[data]
validation = 0
train_limit = 6000
[model]
hidden = [{ units = 64, activation = "tanh" }, { units = 32, activation = "relu" }]
output = "softmax"
init = "glorot-uniform"
[train]
epochs = 1
batch_size = 32
loss = "categorical-crossentropy"
[optimizer]
name = "sgd"
learning_rate = 0.1
"#;

#[test]
fn page_classifies_draws_and_stays_offline_in_headless_chromium() {
    // monster for the drawing (it reads a pen stroke as 1), baseline for sigmoid layers and a
    // sigmoid output, a tanh/ReLU net for the rest.
    let (_monster_tmp, monster) = train_run(&["monster", "--epochs", "2"]);
    let (_baseline_tmp, baseline) = train_run(&["baseline", "--epochs", "1"]);
    let config_tmp = tempfile::tempdir().unwrap();
    let config = config_tmp.path().join("tanh-relu.toml");
    std::fs::write(&config, TANH_CONFIG).unwrap();
    let (_tanh_tmp, tanh) = train_run(&[config.to_str().unwrap()]);
    let runs = [&monster, &baseline, &tanh];

    let n = 300;
    let (pixels, labels) = test_digits(n);
    let digits: Vec<&[f32]> = pixels.chunks(784).collect();
    let work = tempfile::tempdir().unwrap();
    let pages: Vec<serde_json::Value> =
        runs.iter().map(|run_dir| serde_json::json!({ "path": export_page(run_dir), "digits": digits })).collect();
    let golden: Vec<PathBuf> = drawings().iter().map(|d| golden_path(d.name)).collect();
    let screenshot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("digit-page.png");
    let _ = std::fs::remove_file(&screenshot);
    let job = serde_json::json!({
        "cache": Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser"),
        "profile": work.path().join("profile"),
        "pages": pages,
        "golden": golden,
        "draw_page": 0,
        "screenshot": screenshot,
    });
    let (job_path, out_path) = (work.path().join("job.json"), work.path().join("out.json"));
    std::fs::write(&job_path, job.to_string()).unwrap();
    let o = python_with(&[py::SELENIUM, py::CHROMEDRIVER, py::BROTLI])
        .args(["tests/web/drive_page.py", job_path.to_str().unwrap(), out_path.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "the browser run failed:\n{}\n{}", stdout(&o), stderr(&o));
    let out: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&out_path).unwrap()).unwrap();
    eprintln!("browser: {}", out["browser"]);

    // (1) classify() agrees with the library's prediction, page by page.
    for (run_dir, page) in runs.iter().zip(out["pages"].as_array().unwrap()) {
        let cfg = RunDir::open(run_dir).unwrap().config().unwrap();
        let expected = library_probabilities(run_dir, &pixels);
        let got = page["classified"].as_array().unwrap();
        assert_eq!(got.len(), n);
        let (mut agree, mut right, mut worst) = (0, 0, 0.0f32);
        for ((g, e), label) in got.iter().zip(&expected).zip(&labels) {
            let digit = g["digit"].as_u64().unwrap() as usize;
            let probs = floats(&g["probabilities"]);
            assert!((probs.iter().sum::<f32>() - 1.0).abs() < 1e-4, "probabilities sum to one");
            assert_eq!(digit, argmax(&probs), "digit is the most probable one");
            agree += usize::from(digit == argmax(e));
            right += usize::from(digit == *label as usize);
            worst = worst.max(max_diff(&probs, e));
        }
        eprintln!(
            "{}: page agrees with the library on {agree}/{n} test digits (largest probability difference {worst:.2e}); {right}/{n} right",
            cfg.preset
        );
        assert!(agree * 1000 >= n * 995, "{}: only {agree}/{n} agree", cfg.preset);
        assert!(worst < 1e-4, "{}: probabilities differ by {worst}", cfg.preset);
        // The page describes the network it runs.
        let model = &page["model"];
        let summary = summary(run_dir);
        assert_eq!(model["preset"], cfg.preset.as_str());
        assert_eq!(model["test_accuracy"].as_f64(), summary["test_accuracy"].as_f64());
        let mut sizes = vec![784];
        sizes.extend(cfg.model.hidden.iter().map(|l| l.units));
        sizes.push(10);
        assert_eq!(model["sizes"], serde_json::json!(sizes));
        // (3) Nothing but the page itself was requested; no script errors.
        let requests: Vec<&str> = page["requests"].as_array().unwrap().iter().map(|u| u.as_str().unwrap()).collect();
        assert_eq!(requests, [page["url"].as_str().unwrap()], "{}: requests", cfg.preset);
        assert_eq!(page["resources"], serde_json::json!([]), "{}: resource entries", cfg.preset);
        assert_eq!(page["errors"], serde_json::json!([]), "{}: console errors", cfg.preset);
    }

    // The page's preprocessing gives the golden vectors.
    for g in out["golden"].as_array().unwrap() {
        let path = g["path"].as_str().unwrap();
        let stored: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let diff = max_diff(&floats(&g["pixels"]), &floats(&stored["pixels"]));
        eprintln!("{}: page vs image_input.rs, largest difference {diff:e}", stored["name"]);
        assert!(diff <= PREPROCESS_TOLERANCE, "{path}: the page's preprocessing differs by {diff}");
    }

    // (2) A vertical pen stroke reads as 1 in #prediction; so do mouse and touch strokes; Clear clears.
    let draw = &out["draw"];
    eprintln!("drawn: {draw:#}");
    assert_eq!(draw["initial"], "–", "an empty pad predicts nothing");
    assert_eq!(draw["pen"], "1", "a vertical pen stroke");
    assert!(draw["pen_input_ink"].as_u64().unwrap() >= 20, "the 28×28 view shows the stroke");
    assert_eq!(draw["cleared"], "–");
    assert_eq!(draw["mouse"], "1", "a vertical mouse stroke");
    assert_eq!(draw["touch"], "1", "a vertical finger stroke");
    assert_eq!(draw["requests"], serde_json::json!([]), "drawing requests nothing");
    assert_eq!(draw["errors"], serde_json::json!([]), "no console errors while drawing");
    // The request log does record loads (so an empty one means something).
    let probe = &out["probe"];
    assert!(probe["requests"].as_array().unwrap().contains(&probe["url"]), "{probe}");

    // (4) The screenshot, with a drawn 7 (docs/digit-page.png is a copy of it).
    let png = std::fs::read(&screenshot).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let img = image::load_from_memory(&png).unwrap();
    assert_eq!((img.width(), img.height()), (1000, 840), "screenshot size");
    eprintln!("screenshot: {} (the 7 reads as {})", screenshot.display(), draw["seven"]);
}

// ---- The exporter ----------------------------------------------------------------------------

#[test]
fn web_export_embeds_the_weights_and_refuses_the_runs_own_files() {
    let (tmp, run_dir) = train_run(&["baseline", "--epochs", "1"]);
    let page = export_page(&run_dir);
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(!html.contains("{{"), "every placeholder filled");
    for remote in ["http://", "https://", "//cdn", "@import", "url("] {
        assert!(!html.contains(remote), "the page refers to {remote}");
    }

    // The embedded weights are the model's, in Burn's [in, out] layout, little-endian f32.
    let between = |start: &str| {
        let at = html.find(start).unwrap() + start.len();
        &html[at..at + html[at..].find("</script>").unwrap()]
    };
    let meta: serde_json::Value =
        serde_json::from_str(between(r#"<script id="model" type="application/json">"#)).unwrap();
    assert_eq!(meta["sizes"], serde_json::json!([784, 30, 10]));
    assert_eq!(meta["activations"], serde_json::json!(["sigmoid"]));
    assert_eq!(meta["output"], "sigmoid");
    assert_eq!(meta["preset"], "baseline");
    assert_eq!(meta["test_accuracy"].as_f64(), summary(&run_dir)["test_accuracy"].as_f64());
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(between(r#"<script id="weights" type="application/octet-stream">"#).trim())
        .unwrap();
    let embedded: Vec<f32> = bytes.chunks(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect();
    let dir = RunDir::open(&run_dir).unwrap();
    let cfg = dir.config().unwrap();
    let model = dir.load_model(&cfg, &mnist_lab::backend::select(None).unwrap().device).unwrap();
    let mut expected = Vec::new();
    for layer in &model.layers {
        expected.extend(layer.weight.val().into_data().try_into_vec::<f32>().unwrap());
        expected.extend(layer.bias.as_ref().unwrap().val().into_data().try_into_vec::<f32>().unwrap());
    }
    assert_eq!(embedded, expected);

    // --to a directory writes digit.html there; --to a file writes that file.
    let o = run(&["export", run_dir.to_str().unwrap(), "--format", "web", "--to", tmp.path().to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(tmp.path().join("digit.html")).unwrap(), html);
    let named = tmp.path().join("lecture.html");
    let o = run(&["export", run_dir.to_str().unwrap(), "--format", "web", "--to", named.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(&named).unwrap(), html);

    // Without summary.json the page says no accuracy; still a page.
    std::fs::rename(run_dir.join("summary.json"), tmp.path().join("summary.json")).unwrap();
    let o = run(&["export", run_dir.to_str().unwrap(), "--format", "web", "--to", named.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(std::fs::read_to_string(&named).unwrap().contains(r#""test_accuracy":null"#));
    std::fs::rename(tmp.path().join("summary.json"), run_dir.join("summary.json")).unwrap();

    // Onto the run's own files: refused, nothing touched.
    std::fs::create_dir_all(run_dir.join("checkpoints")).unwrap();
    for own in [
        "config.toml",
        "model.bpk",
        "summary.json",
        "history.csv",
        "model.safetensors",
        "curves.png",
        "checkpoints/page.html",
    ] {
        let path = run_dir.join(own);
        let before = std::fs::read(&path).ok();
        let o = run(&["export", run_dir.to_str().unwrap(), "--format", "web", "--to", path.to_str().unwrap()]);
        assert_user_error(&o, 2, "exporting there would replace it");
        assert_eq!(std::fs::read(&path).ok(), before, "{own} untouched");
    }
    // Also through another spelling of the same path.
    let sneaky = run_dir.join("checkpoints").join("..").join("config.toml");
    let o = run(&["export", run_dir.to_str().unwrap(), "--format", "web", "--to", sneaky.to_str().unwrap()]);
    assert_user_error(&o, 2, "config.toml");

    // An unwritable destination: a runtime error.
    let o = run(&[
        "export",
        run_dir.to_str().unwrap(),
        "--format",
        "web",
        "--to",
        tmp.path().join("no/such/dir/p.html").to_str().unwrap(),
    ]);
    assert_user_error(&o, 4, "cannot write");

    // A Fashion-MNIST run has no digits to draw.
    let fashion = tmp.path().join("fashion");
    std::fs::create_dir(&fashion).unwrap();
    for f in ["model.bpk", "summary.json"] {
        std::fs::copy(run_dir.join(f), fashion.join(f)).unwrap();
    }
    let config = std::fs::read_to_string(run_dir.join("config.toml")).unwrap();
    assert!(config.contains(r#"dataset = "mnist""#), "{config}");
    std::fs::write(fashion.join("config.toml"), config.replace(r#"dataset = "mnist""#, r#"dataset = "fashion-mnist""#))
        .unwrap();
    let o = run(&["export", fashion.to_str().unwrap(), "--format", "web"]);
    assert_user_error(&o, 2, "fashion-mnist");
    assert!(!fashion.join("digit.html").exists());
}

/// `window.mnistLab.classify` from the console or another script: what is not 784 numbers in
/// [0, 1] throws a TypeError or RangeError saying what is wrong, instead of returning a digit
/// computed from garbage; arrays and typed arrays of such numbers still give a digit.
#[test]
fn classify_throws_on_what_is_not_784_numbers_in_0_1() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = config_file(tmp.path(), "small.toml", &small_config(1000, 100, "name = \"sgd\"\nlearning_rate = 0.1"));
    let (_run_tmp, run_dir) = train_run(&[&cfg, "--epochs", "1"]);
    let page = export_page(&run_dir);
    // (argument, None for a digit or Some((error name, part of its message))).
    let calls: Vec<(&str, Option<(&str, &str)>)> = vec![
        ("new Array(784).fill(0.5)", None),
        ("new Float32Array(784)", None),
        ("new Array(784).fill(-0)", None),
        ("Array.from({ length: 784 }, (_, i) => i % 2)", None),
        ("new Array(784).fill(NaN)", Some(("RangeError", "value 0 is NaN"))),
        ("Object.assign(new Array(784).fill(0), { 300: NaN })", Some(("RangeError", "value 300 is NaN"))),
        ("new Float64Array(784).fill(NaN)", Some(("RangeError", "value 0 is NaN"))),
        ("new Array(784).fill(Infinity)", Some(("RangeError", "value 0 is Infinity"))),
        ("new Array(784).fill(1.5)", Some(("RangeError", "value 0 is 1.5"))),
        ("new Uint8Array(784).fill(255)", Some(("RangeError", "value 0 is 255"))),
        ("new Array(784).fill(-0.25)", Some(("RangeError", "value 0 is -0.25"))),
        ("new Array(784).fill('0.5')", Some(("TypeError", "value 0 is a string"))),
        ("new Array(784).fill(true)", Some(("TypeError", "value 0 is a boolean"))),
        ("new Array(784)", Some(("TypeError", "value 0 is undefined"))),
        ("'0'.repeat(784)", Some(("TypeError", "got a string"))),
        ("{ length: 784 }", Some(("TypeError", "got an object"))),
        ("null", Some(("TypeError", "got null"))),
        ("undefined", Some(("TypeError", "got undefined"))),
        ("42", Some(("TypeError", "got 42"))),
        ("new Array(783).fill(0)", Some(("RangeError", "784 values, got 783"))),
        ("[]", Some(("RangeError", "784 values, got 0"))),
    ];
    let work = tempfile::tempdir().unwrap();
    let job = serde_json::json!({
        "cache": Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser"),
        "profile": work.path().join("profile"),
        "pages": [{ "path": page, "digits": [], "calls": calls.iter().map(|c| c.0).collect::<Vec<_>>() }],
    });
    let (job_path, out_path) = (work.path().join("job.json"), work.path().join("out.json"));
    std::fs::write(&job_path, job.to_string()).unwrap();
    let o = python_with(&[py::SELENIUM, py::CHROMEDRIVER, py::BROTLI])
        .args(["tests/web/drive_page.py", job_path.to_str().unwrap(), out_path.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "the browser run failed:\n{}\n{}", stdout(&o), stderr(&o));
    let out: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&out_path).unwrap()).unwrap();
    let page = &out["pages"][0];
    let got = page["calls"].as_array().unwrap();
    assert_eq!(got.len(), calls.len());
    for ((argument, want), got) in calls.iter().zip(got) {
        match want {
            None => assert!(got["digit"].as_u64().is_some_and(|d| d < 10), "classify({argument}): {got}"),
            Some((name, needle)) => {
                let message = got["message"].as_str().unwrap_or_default();
                assert_eq!(got["error"], *name, "classify({argument}): {got}");
                assert!(
                    message.starts_with("classify needs") && message.contains(needle),
                    "classify({argument}): {got}"
                );
            }
        }
    }
    assert_eq!(page["errors"], serde_json::json!([]), "console errors");
}
