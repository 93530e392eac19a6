//! Hostile paths and streams, driven through the binary: special files and other runs as
//! destinations, a closed or full stdout, huge or rotated or blank images, a huge data file,
//! history values near f64's maximum, numbers that only go wrong once converted.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// One finished `overfit` run (1 000 images, one epoch), shared by the tests of this file.
fn finished_run() -> &'static Path {
    static RUN: std::sync::OnceLock<(tempfile::TempDir, PathBuf)> = std::sync::OnceLock::new();
    &RUN.get_or_init(|| train_run(&["overfit", "--epochs", "1"])).1
}

/// A copy of a run directory's top-level files (what `report` and `export` read).
fn copy_run(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

fn fifo(path: &Path) {
    let o = Command::new("mkfifo").arg(path).output().unwrap();
    assert!(o.status.success(), "mkfifo: {}", stderr(&o));
}

/// Run `cmd` to its end, killed (and the test failed) after `limit`.
fn output_within(mut cmd: Command, limit: Duration) -> Output {
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > limit {
            child.kill().unwrap();
            panic!("still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// Run `cmd` to its end; its output and its peak resident memory in MiB (Linux' VmHWM, read
/// while it runs).
fn peak_rss_mib(mut cmd: Command) -> (Output, f64) {
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let status = format!("/proc/{}/status", child.id());
    let mut peak_kib = 0u64;
    while child.try_wait().unwrap().is_none() {
        let hwm = std::fs::read_to_string(&status)
            .ok()
            .and_then(|t| t.lines().find(|l| l.starts_with("VmHWM:"))?.split_whitespace().nth(1)?.parse::<u64>().ok());
        peak_kib = peak_kib.max(hwm.unwrap_or(0));
        std::thread::sleep(Duration::from_millis(5));
    }
    (child.wait_with_output().unwrap(), peak_kib as f64 / 1024.0)
}

#[test]
fn fifos_sockets_devices_and_folders_are_never_replaced() {
    use std::os::unix::fs::FileTypeExt;
    let run_dir = finished_run();
    let tmp = tempfile::tempdir().unwrap();
    let t = |name: &str| tmp.path().join(name);
    fifo(&t("pipe.safetensors"));
    fifo(&t("pipe.html"));
    let _socket = std::os::unix::net::UnixListener::bind(t("socket.safetensors")).unwrap();
    std::fs::create_dir(t("folder.html")).unwrap();
    std::os::unix::fs::symlink(t("pipe.safetensors"), t("to-pipe.safetensors")).unwrap();
    std::os::unix::fs::symlink(t("nowhere"), t("dangling.safetensors")).unwrap();

    let export = |to: &Path| run(&["export", s(run_dir), "--to", s(to)]);
    assert_user_error(&export(&t("pipe.safetensors")), 2, "is a FIFO (named pipe)");
    assert_user_error(&export(&t("socket.safetensors")), 2, "is a socket");
    assert_user_error(&export(&t("to-pipe.safetensors")), 2, "which is a FIFO");
    assert_user_error(&export(&t("dangling.safetensors")), 2, "symbolic link to nothing");
    // Other writers go through the same check, before any work (nothing on stdout yet).
    let o = run(&["report", s(run_dir), "--out", s(&t("pipe.html"))]);
    assert_user_error(&o, 2, "is a FIFO");
    assert!(o.stdout.is_empty());
    assert_user_error(&run(&["report", s(run_dir), "--out", s(&t("folder.html"))]), 2, "is a directory");
    assert_user_error(&run(&["bench", "--preset", "overfit", "--json", s(&t("pipe.html"))]), 2, "is a FIFO");
    let kinds = |name: &str| std::fs::symlink_metadata(t(name)).unwrap().file_type();
    assert!(kinds("pipe.safetensors").is_fifo() && kinds("pipe.html").is_fifo());
    assert!(kinds("socket.safetensors").is_socket() && kinds("folder.html").is_dir());
    assert!(kinds("to-pipe.safetensors").is_symlink() && kinds("dangling.safetensors").is_symlink());
    assert!(!t("nowhere").exists());

    // /dev/null (a device) is checked without a write: a failure here must not cost the machine its /dev/null.
    let err = mnist_lab::run::check_destination(Path::new("/dev/null"), None).unwrap_err();
    assert_eq!(formats::error::kind_of(&err), formats::error::Kind::Config);
    assert!(format!("{err}").contains("/dev/null is a device"), "{err}");
}

#[test]
fn a_symbolic_link_is_written_through_and_kept() {
    let run_dir = finished_run();
    let tmp = tempfile::tempdir().unwrap();
    let (target, link, plain) = (
        tmp.path().join("real.safetensors"),
        tmp.path().join("link.safetensors"),
        tmp.path().join("plain.safetensors"),
    );
    std::fs::write(&target, "old").unwrap();
    std::os::unix::fs::symlink(&target, &link).unwrap();
    for to in [&link, &plain] {
        let o = run(&["export", s(run_dir), "--to", s(to)]);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink(), "the link stays a link");
    // The tensors after the header (whose metadata order varies from one export to the next).
    let tensors = |p: &Path| {
        let bytes = std::fs::read(p).unwrap();
        let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        bytes[8 + n..].to_vec()
    };
    assert!(tensors(&target) == tensors(&plain), "the file it names got the export");
}

#[test]
fn no_writer_replaces_a_file_of_a_run() {
    let run_dir = finished_run();
    let tmp = tempfile::tempdir().unwrap();
    let other = tmp.path().join("other-run");
    copy_run(run_dir, &other);
    let before = |p: &Path| std::fs::read(p).unwrap();
    let (config, curves) = (before(&other.join("config.toml")), before(&other.join("curves.svg")));

    let o = run(&["export", s(run_dir), "--to", s(&other.join("config.toml"))]);
    assert_user_error(&o, 2, "inside the run directory");
    assert_user_error(&run(&["report", s(run_dir), "--out", s(&other.join("r.html"))]), 2, "inside the run directory");
    assert_user_error(
        &run(&["report", s(run_dir), "--plot", s(&other.join("curves.svg"))]),
        2,
        "inside the run directory",
    );
    let o = run(&["bench", "--preset", "overfit", "--json", s(&other.join("summary.json"))]);
    assert_user_error(&o, 2, "inside the run directory");
    let o = run(&["sweep", "collect", s(tmp.path()), "--out", s(&other.join("checkpoints/s.html"))]);
    assert_user_error(&o, 2, "inside the run directory");
    // A link outside the run that points into it is judged by where it points.
    let link = tmp.path().join("innocent.html");
    std::os::unix::fs::symlink(other.join("config.toml"), &link).unwrap();
    assert_user_error(&run(&["report", s(run_dir), "--out", s(&link)]), 2, "inside the run directory");
    assert_eq!(before(&other.join("config.toml")), config);
    assert_eq!(before(&other.join("curves.svg")), curves);
    assert!(!other.join("r.html").exists() && !other.join("checkpoints").exists());
}

#[test]
fn a_closed_stdout_ends_quietly_and_a_full_one_is_an_error() {
    let run_dir = finished_run();
    let tmp = tempfile::tempdir().unwrap();
    let digit = tmp.path().join("digit.png");
    image::GrayImage::from_fn(64, 64, |x, _| image::Luma([if (28..36).contains(&x) { 0 } else { 255 }]))
        .save(&digit)
        .unwrap();
    let g = tmp.path().join("grid.toml");
    std::fs::write(&g, "base = \"overfit\"\nseeds = [1, 2]\n").unwrap();
    let sweep = tmp.path().join("sweep");
    assert!(run(&["sweep", "plan", s(&g), "--out", s(&sweep)]).status.success());
    let r = s(run_dir);
    let commands: [&[&str]; 7] = [
        &["list"],
        &["list", "--names"],
        &["eval", r],
        &["predict", r, s(&digit), s(&digit)],
        &["report", r],
        &["devices"],
        &["sweep", "collect", s(&sweep)],
    ];
    for args in commands {
        // `| head` that already has its lines: nothing on stderr but what the command warns anyway.
        let o = bin().args(args).stdout(closed_pipe()).stderr(Stdio::piped()).output().unwrap();
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", stderr(&o));
        assert!(!stderr(&o).contains("error") && !stderr(&o).contains("panicked"), "{args:?}: {}", stderr(&o));
        // `> /dev/full`: exit 4, the error last (after any warning), no panic.
        let o = bin().args(args).stdout(full_device()).stderr(Stdio::piped()).output().unwrap();
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(4), "{args:?}: {err}");
        let last = err.lines().last().unwrap_or_default();
        assert!(last.starts_with("error: cannot write to stdout: No space left on device"), "{args:?}: {err}");
        assert!(!err.contains("panicked") && !err.contains("internal error"), "{args:?}: {err}");
    }
}

#[test]
fn a_closed_stderr_never_stops_a_command_that_writes_files() {
    let run_dir = finished_run();
    let tmp = tempfile::tempdir().unwrap();
    let g = tmp.path().join("grid.toml");
    std::fs::write(&g, "base = \"overfit\"\nseeds = [1, 2]\n").unwrap();
    let sweep = tmp.path().join("sweep");
    assert!(run(&["sweep", "plan", s(&g), "--out", s(&sweep)]).status.success());
    let (page, table) = (tmp.path().join("r.html"), tmp.path().join("sweep.md"));
    let commands: [(&[&str], PathBuf); 3] = [
        (&["report", s(run_dir), "--out", s(&page)], page.clone()),
        // Unfinished runs: a warning on stderr too.
        (&["sweep", "collect", s(&sweep), "--out", s(&table)], table.clone()),
        (&["sweep", "slurm", s(&sweep)], sweep.join("sweep.sbatch")),
    ];
    for (args, written) in commands {
        // `2>&1 | head -0`: both streams go to a reader that has gone.
        let o = bin().args(args).stdout(closed_pipe()).stderr(closed_pipe()).output().unwrap();
        assert_eq!(o.status.code(), Some(0), "{args:?}");
        assert!(written.is_file(), "{args:?} did not write {}", written.display());
    }
}

#[test]
fn training_with_a_closed_stdout_trains_on_and_a_full_one_says_so_at_the_end() {
    let tmp = tempfile::tempdir().unwrap();
    let (piped, full) = (tmp.path().join("piped"), tmp.path().join("full"));
    let train = |out: &Path| {
        let mut cmd = bin();
        cmd.args(["train", "overfit", "--epochs", "3", "--out", s(out)]).stderr(Stdio::piped());
        cmd
    };
    let o = train(&piped).stdout(closed_pipe()).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).is_empty(), "{}", stderr(&o));
    assert_eq!(summary(&piped)["epochs_run"], 3, "trained to the end");
    let o = train(&full).stdout(full_device()).output().unwrap();
    assert_user_error(&o, 4, "cannot write to stdout");
    assert_eq!(summary(&full)["epochs_run"], 3, "trained to the end");
}

/// PNG `bytes` of a gray image `w`×`h` with a dark vertical bar (a "1") on white.
fn png_with_bar(w: u32, h: u32) -> Vec<u8> {
    use image::ImageEncoder;
    let bar = (w / 2 - w / 40)..(w / 2 + w / 40);
    let (top, bottom) = (h / 5, h - h / 5);
    let mut rgba = vec![255u8; (w * h * 4) as usize];
    for y in top..bottom {
        for x in bar.clone() {
            let i = ((y * w + x) * 4) as usize;
            rgba[i..i + 3].fill(0);
        }
    }
    let mut png = Vec::new();
    image::codecs::png::PngEncoder::new(&mut png).write_image(&rgba, w, h, image::ColorType::Rgba8).unwrap();
    png
}

/// A PNG holding only a header that claims `w`×`h` (no pixel data).
fn png_header_only(w: u32, h: u32) -> Vec<u8> {
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut chunk = |kind: &[u8], data: &[u8]| {
        png.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut crc = flate2::Crc::new();
        crc.update(kind);
        crc.update(data);
        png.extend_from_slice(kind);
        png.extend_from_slice(data);
        png.extend_from_slice(&crc.sum().to_be_bytes());
    };
    let ihdr = [&w.to_be_bytes()[..], &h.to_be_bytes(), &[8, 6, 0, 0, 0]].concat();
    chunk(b"IHDR", &ihdr);
    // Decoders read the header up to the first pixel data: an empty zlib stream.
    chunk(b"IDAT", &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]);
    chunk(b"IEND", &[]);
    png
}

#[test]
fn predict_reads_huge_images_in_bounded_memory_and_refuses_larger_ones() {
    let run_dir = finished_run();
    let tmp = tempfile::tempdir().unwrap();
    let big = tmp.path().join("big.png");
    std::fs::write(&big, png_with_bar(8000, 8000)).unwrap();
    let mut cmd = bin();
    cmd.args(["predict", s(run_dir), s(&big)]);
    let (o, peak) = peak_rss_mib(cmd);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).starts_with(s(&big)), "{}", stdout(&o));
    assert!(peak <= 600.0, "predict on an 8000×8000 PNG peaked at {peak:.0} MiB");

    let huge = tmp.path().join("huge.png");
    std::fs::write(&huge, png_header_only(22_000, 22_000)).unwrap();
    let start = Instant::now();
    assert_user_error(&run(&["predict", s(run_dir), s(&huge)]), 3, "a 22000×22000 image is more than");
    assert!(start.elapsed() < Duration::from_secs(30), "refused from the header, not decoded");
}

/// A JPEG of `img` with an EXIF APP1 segment saying `orientation` (1–8).
fn jpeg_with_orientation(img: &image::GrayImage, orientation: u16) -> Vec<u8> {
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 95).encode_image(img).unwrap();
    // TIFF header (big-endian), one IFD with one entry: Orientation (0x0112), SHORT, count 1.
    let mut tiff = b"MM\x00\x2a\x00\x00\x00\x08\x00\x01\x01\x12\x00\x03\x00\x00\x00\x01".to_vec();
    tiff.extend_from_slice(&orientation.to_be_bytes());
    tiff.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    let payload = [&b"Exif\x00\x00"[..], &tiff].concat();
    let mut app1 = vec![0xFF, 0xE1];
    app1.extend_from_slice(&((payload.len() + 2) as u16).to_be_bytes());
    app1.extend_from_slice(&payload);
    [&jpeg[..2], &app1, &jpeg[2..]].concat()
}

#[test]
fn phone_photos_are_turned_upright_and_blank_pages_are_not_digits() {
    let run_dir = finished_run();
    let tmp = tempfile::tempdir().unwrap();
    let raw = mnist_lab::data::load_raw(formats::config::Dataset::Mnist, &mnist_dir(), false).unwrap();
    let predict = |paths: &[PathBuf]| {
        let mut args = vec!["predict".to_string(), s(run_dir).into(), "--json".into()];
        args.extend(paths.iter().map(|p| s(p).to_string()));
        let o = bin().args(&args).output().unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        stdout(&o)
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["digit"].clone())
            .collect::<Vec<_>>()
    };
    let (mut upright, mut turned, mut plain) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..8 {
        let pixels: Vec<u8> = raw.test_images[i * 784..(i + 1) * 784].iter().map(|p| 255 - p).collect();
        let img = image::GrayImage::from_raw(28, 28, pixels).unwrap();
        let img = image::imageops::resize(&img, 280, 280, image::imageops::FilterType::Triangle);
        // What a phone stores for a photo taken sideways: the pixels turned, and EXIF 6
        // ("turn 90° clockwise to show").
        let stored = image::imageops::rotate270(&img);
        for (kind, list, bytes) in [
            ("upright", &mut upright, jpeg_with_orientation(&img, 1)),
            ("turned", &mut turned, jpeg_with_orientation(&stored, 6)),
            ("plain", &mut plain, jpeg_with_orientation(&stored, 1)),
        ] {
            let path = tmp.path().join(format!("{kind}-{i}.jpg"));
            std::fs::write(&path, bytes).unwrap();
            list.push(path);
        }
    }
    let want = predict(&upright);
    assert_eq!(predict(&turned), want, "EXIF orientation honoured");
    assert_ne!(predict(&plain), want, "the test can tell: sideways pixels read differently");

    let blank = tmp.path().join("blank.png");
    image::GrayImage::from_pixel(300, 200, image::Luma([250])).save(&blank).unwrap();
    assert_user_error(&run(&["predict", s(run_dir), s(&blank)]), 3, "blank.png holds no ink");
    let o = run(&["predict", s(run_dir), s(&blank), s(&upright[0])]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).starts_with("warning:") && stderr(&o).contains("blank.png holds no ink"), "{}", stderr(&o));
    assert_eq!(stdout(&o).lines().count(), 1, "one prediction, for the digit: {}", stdout(&o));
}

#[test]
fn a_huge_data_file_is_judged_by_its_header_and_size_without_reading_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("mnist");
    std::fs::create_dir_all(&dir).unwrap();
    for name in ["train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"] {
        std::os::unix::fs::symlink(mnist_dir().join(name), dir.join(name)).unwrap();
    }
    // The right header, then 3 GB (sparse: it takes no disk).
    let images = dir.join("train-images-idx3-ubyte");
    let header = std::fs::read(mnist_dir().join("train-images-idx3-ubyte")).unwrap()[..16].to_vec();
    std::fs::write(&images, header).unwrap();
    std::fs::OpenOptions::new().write(true).open(&images).unwrap().set_len(3 << 30).unwrap();
    let mut cmd = bin();
    cmd.args(["data", "fetch", "--offline", "--data-dir", s(tmp.path())]);
    let start = Instant::now();
    let (o, peak) = peak_rss_mib(cmd);
    assert_user_error(&o, 3, "trailing bytes after the 60000 images");
    assert!(peak < 500.0, "read the 3 GB file: peak {peak:.0} MiB");
    assert!(start.elapsed() < Duration::from_secs(20), "took {:?}", start.elapsed());
}

#[test]
fn report_refuses_values_no_training_writes_and_never_hangs() {
    let run_dir = finished_run();
    let tmp = tempfile::tempdir().unwrap();
    let (good, huge, null) = (tmp.path().join("good"), tmp.path().join("huge"), tmp.path().join("null"));
    for d in [&good, &huge, &null] {
        copy_run(run_dir, d);
    }
    let history = std::fs::read_to_string(huge.join("history.csv")).unwrap();
    let mut lines: Vec<String> = history.lines().map(String::from).collect();
    let mut cells: Vec<&str> = lines[1].split(',').collect();
    cells[4] = "1.7e308"; // val_accuracy
    lines[1] = cells.join(",");
    std::fs::write(huge.join("history.csv"), lines.join("\n") + "\n").unwrap();
    // What an older version wrote for a NaN test loss.
    let summary = std::fs::read_to_string(null.join("summary.json")).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&summary).unwrap();
    v["test_loss"] = serde_json::Value::Null;
    std::fs::write(null.join("summary.json"), v.to_string()).unwrap();

    let report = |args: &[&str]| {
        let mut cmd = bin();
        cmd.arg("report").args(args);
        output_within(cmd, Duration::from_secs(60))
    };
    let html = tmp.path().join("out/report.html");
    assert_user_error(&report(&[s(&huge), "--out", s(&html)]), 3, "history.csv:2: val_accuracy is 1.7e308");
    assert_user_error(&report(&[s(&null)]), 3, "summary.json is not a valid summary");
    // Found in a folder, the unreadable runs are left out with a warning each; the rest is reported.
    let o = report(&[s(tmp.path()), "--out", s(&html)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("warning:") && err.contains("huge") && err.contains("null"), "{err}");
    assert_eq!(stdout(&o).lines().count(), 3, "header, rule, the good run: {}", stdout(&o));
    assert!(html.is_file());
}

#[test]
fn numbers_that_break_only_after_conversion_are_config_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    for (args, key) in [
        (&["--seed", "18446744073709551615"][..], "train.seed"),
        (&["--epochs", "9223372036854775808"][..], "train.epochs"),
    ] {
        let o = run(&[&["train", "softmax", "--out", s(&out)], args].concat());
        assert_user_error(&o, 2, key);
        assert!(!out.exists(), "nothing written, nothing claimed");
    }
    let text = mnist_lab::presets::PRESETS.iter().find(|(n, _)| *n == "adam").unwrap().1;
    for (from, to, key) in [
        ("units = 100", "units = 4611686018427387904", "model.hidden[0].units"),
        ("learning_rate = 0.001", "learning_rate = 0.001\nepsilon = 1e-50", "optimizer.epsilon"),
        ("learning_rate = 0.001", "learning_rate = 0.001\nbeta_2 = 0.99999999999", "optimizer.beta_2"),
    ] {
        let cfg = config_file(tmp.path(), "bad.toml", &text.replace(from, to));
        assert_user_error(&run(&["train", &cfg, "--out", s(&out)]), 2, key);
    }
    let o = bin().args(["list"]).env("RAYON_NUM_THREADS", "100000").output().unwrap();
    assert_user_error(&o, 2, "RAYON_NUM_THREADS=100000");
}

#[test]
fn a_configs_preset_name_cannot_steer_the_run_outside_artifacts() {
    let tmp = tempfile::tempdir().unwrap();
    let escape = format!("mnist-lab-escape-{}", std::process::id());
    let text = mnist_lab::presets::PRESETS.iter().find(|(n, _)| *n == "overfit").unwrap().1;
    let cfg = config_file(tmp.path(), "c.toml", &format!("preset = \"/tmp/{escape}\"\n{text}"));
    let o = bin().args(["train", &cfg, "--epochs", "1", "--quiet"]).current_dir(tmp.path()).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let runs: Vec<String> = std::fs::read_dir(tmp.path().join("artifacts"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(runs.len() == 1 && runs[0].starts_with(&format!("tmp-{escape}-")), "{runs:?}");
    let outside: Vec<_> = std::fs::read_dir("/tmp")
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().starts_with(&escape))
        .collect();
    assert!(outside.is_empty(), "wrote outside artifacts/: {outside:?}");
}

#[test]
fn a_config_without_the_newer_augmentation_keys_keeps_its_sweep_id() {
    let tmp = tempfile::tempdir().unwrap();
    let base = small_config(1000, 100, "name = \"sgd\"\nlearning_rate = 0.1").replace("epochs = 3", "epochs = 1");
    let plan = |name: &str, augmentation: &str| {
        std::fs::write(tmp.path().join(format!("{name}.toml")), format!("{base}[augmentation]\n{augmentation}"))
            .unwrap();
        let g = tmp.path().join(format!("{name}-grid.toml"));
        std::fs::write(&g, format!("base = \"{name}.toml\"\nseeds = [1]\n")).unwrap();
        let out = tmp.path().join(name);
        let o = run(&["sweep", "plan", s(&g), "--out", s(&out)]);
        assert!(o.status.success(), "{}", stderr(&o));
        let plan: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("plan.json")).unwrap()).unwrap();
        let id = plan["runs"][0]["id"].as_str().unwrap().to_string();
        (
            id,
            std::fs::read_to_string(
                out.join("configs").join(format!("{}.toml", plan["runs"][0]["id"].as_str().unwrap())),
            )
            .unwrap(),
        )
    };
    let (id, text) = plan("aug", "rotation = 10\nshift = 2\nzoom = 0.1\n");
    for key in ["shear", "elastic_alpha", "elastic_sigma"] {
        assert!(!text.contains(key), "{key} at its default is written:\n{text}");
    }
    // The id mnist-lab gave this config before shear and elastic distortions existed: the plans
    // made then must still run.
    assert_eq!(id, "deee8d020d7b", "{text}");
    // Any other value is written, and read back the same.
    let (_, text) = plan("warp", "rotation = 10\nshear = 5\nelastic_alpha = 34\nelastic_sigma = 6\n");
    for line in ["shear = 5.0", "elastic_alpha = 34.0", "elastic_sigma = 6.0"] {
        assert!(text.contains(line), "{line} missing:\n{text}");
    }
}

#[test]
fn predict_reads_an_image_from_a_pipe() {
    use std::io::Write;
    let run_dir = finished_run();
    let tmp = tempfile::tempdir().unwrap();
    let raw = mnist_lab::data::load_raw(formats::config::Dataset::Mnist, &mnist_dir(), false).unwrap();
    let pixels: Vec<u8> = raw.test_images[..784].iter().map(|p| 255 - p).collect();
    let img = image::GrayImage::from_raw(28, 28, pixels).unwrap();
    let img = image::imageops::resize(&img, 280, 280, image::imageops::FilterType::Triangle);
    // Sideways pixels and EXIF 6: read as from a file only when the EXIF is read from the pipe
    // too (without it the same pixels read differently).
    let turned = jpeg_with_orientation(&image::imageops::rotate270(&img), 6);
    let (from_file, sideways) = (tmp.path().join("turned.jpg"), tmp.path().join("sideways.jpg"));
    std::fs::write(&from_file, &turned).unwrap();
    std::fs::write(&sideways, jpeg_with_orientation(&image::imageops::rotate270(&img), 1)).unwrap();
    // `cat photo.jpg | mnist-lab predict RUN /dev/stdin`: `stdin` is written by a thread.
    let through_pipe = |bytes: Box<dyn FnOnce(&mut std::process::ChildStdin) + Send>| {
        let mut child = bin()
            .args(["predict", s(run_dir), "--json", "/dev/stdin"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let writer = std::thread::spawn(move || bytes(&mut stdin));
        let o = child.wait_with_output().unwrap();
        writer.join().unwrap();
        o
    };
    let without_path = |o: &Output| {
        assert!(o.status.success(), "{}", stderr(o));
        let mut v: serde_json::Value = serde_json::from_str(stdout(o).trim()).unwrap();
        v.as_object_mut().unwrap().remove("image");
        v
    };
    let o = through_pipe(Box::new(move |w| w.write_all(&turned).unwrap()));
    let want = without_path(&run(&["predict", s(run_dir), "--json", s(&from_file)]));
    assert_eq!(without_path(&o), want);
    assert_ne!(without_path(&run(&["predict", s(run_dir), "--json", s(&sideways)])), want, "the test can tell");

    // A stream is held in memory, so it has a cap: one error line beyond it.
    let o = through_pipe(Box::new(|w| {
        let chunk = vec![0u8; 1 << 20];
        for _ in 0..=400 {
            if w.write_all(&chunk).is_err() {
                break; // predict stopped reading
            }
        }
    }));
    assert_user_error(&o, 3, "is not a regular file and holds more than 400 MiB");
    assert_eq!(stderr(&o).lines().count(), 1, "{}", stderr(&o));
}
