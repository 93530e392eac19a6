//! IDX validation on generated files and checksum handling in a scratch data directory.

use formats::config::Dataset;
use formats::idx::{IdxKind, validate_bytes};
use mnist_lab::data::fetch;

fn idx_images(count: u32, rows: u32, cols: u32, pixels: usize) -> Vec<u8> {
    let mut b = Vec::new();
    for v in [0x803u32, count, rows, cols] {
        b.extend_from_slice(&v.to_be_bytes());
    }
    b.extend(std::iter::repeat_n(7u8, pixels));
    b
}

fn idx_labels(labels: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&0x801u32.to_be_bytes());
    b.extend_from_slice(&(labels.len() as u32).to_be_bytes());
    b.extend_from_slice(labels);
    b
}

fn err(r: anyhow::Result<()>) -> String {
    format!("{:#}", r.expect_err("must be rejected"))
}

#[test]
fn good_files_pass() {
    validate_bytes(&idx_images(3, 28, 28, 3 * 784), IdxKind::Images, 3, "imgs").unwrap();
    validate_bytes(&idx_labels(&[0, 9, 5]), IdxKind::Labels, 3, "lbls").unwrap();
}

#[test]
fn corrupt_files_are_named_with_their_fault() {
    let truncated = idx_images(3, 28, 28, 2 * 784 + 100);
    let e = err(validate_bytes(&truncated, IdxKind::Images, 3, "imgs"));
    assert!(e.contains("imgs") && e.contains("truncated"), "{e}");

    let e = err(validate_bytes(&[0, 0, 8], IdxKind::Images, 3, "imgs"));
    assert!(e.contains("truncated") && e.contains("header"), "{e}");

    let e = err(validate_bytes(&idx_labels(&[1; 20]), IdxKind::Images, 3, "imgs"));
    assert!(e.contains("magic"), "{e}");

    let e = err(validate_bytes(&idx_images(3, 32, 32, 3 * 1024), IdxKind::Images, 3, "imgs"));
    assert!(e.contains("32×32"), "{e}");

    let e = err(validate_bytes(&idx_labels(&[1, 2]), IdxKind::Labels, 3, "lbls"));
    assert!(e.contains("holds 2 labels, expected 3"), "{e}");

    let e = err(validate_bytes(&idx_labels(&[1, 12, 3]), IdxKind::Labels, 3, "lbls"));
    assert!(e.contains("label 1 is 12"), "{e}");

    let mut trailing = idx_labels(&[1, 2, 3]);
    trailing.push(0);
    let e = err(validate_bytes(&trailing, IdxKind::Labels, 3, "lbls"));
    assert!(e.contains("trailing"), "{e}");
}

#[test]
fn checksum_mismatch_is_refused_offline_and_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    // A well-formed IDX labels file with the right count but the wrong content.
    let fake = idx_labels(&vec![3u8; 60_000]);
    std::fs::write(dir.path().join("train-labels-idx1-ubyte"), &fake).unwrap();
    let spec = fetch::files(Dataset::Mnist)[1];
    assert_ne!(fetch::sha256_hex(&fake), spec.sha256);
    // The other three files are missing, but the check walks the files in order: images first.
    let e = format!("{:#}", fetch::ensure(Dataset::Mnist, dir.path(), true).unwrap_err());
    assert!(e.contains("train-images-idx3-ubyte") && e.contains("--offline"), "{e}");

    // Put the real training images in place (from the shared data dir) so the labels are next.
    let real = mnist_lab::data::data_dir(None, Dataset::Mnist);
    mnist_lab::data::load_raw(Dataset::Mnist, &real, false).expect("real MNIST is available");
    std::fs::copy(real.join("train-images-idx3-ubyte"), dir.path().join("train-images-idx3-ubyte")).unwrap();
    let e = format!("{:#}", fetch::ensure(Dataset::Mnist, dir.path(), true).unwrap_err());
    assert!(e.contains("train-labels-idx1-ubyte") && e.contains("SHA-256 mismatch"), "{e}");
    // The corrupt file is left for the user to inspect, never silently trusted.
    assert_eq!(std::fs::read(dir.path().join("train-labels-idx1-ubyte")).unwrap(), fake);
}

#[test]
fn real_mnist_parses_with_expected_shapes_and_checksums() {
    let dir = mnist_lab::data::data_dir(None, Dataset::Mnist);
    let raw = mnist_lab::data::load_raw(Dataset::Mnist, &dir, false).unwrap();
    assert_eq!(raw.train_images.len(), 60_000 * 784);
    assert_eq!(raw.train_labels.len(), 60_000);
    assert_eq!(raw.test_images.len(), 10_000 * 784);
    assert_eq!(raw.test_labels.len(), 10_000);
    // Known facts of MNIST: the first training label is 5, the first test label is 7.
    assert_eq!((raw.train_labels[0], raw.test_labels[0]), (5, 7));
    for spec in fetch::files(Dataset::Mnist) {
        let bytes = std::fs::read(dir.join(spec.name)).unwrap();
        assert_eq!(fetch::sha256_hex(&bytes), spec.sha256, "{}", spec.name);
    }
}

/// Adapters whose buffers cannot hold the training pixels as f32 get them packed four to an
/// integer; both forms must give the network the very same batches.
#[test]
fn packed_pixels_unpack_to_the_float_ones() {
    use burn::tensor::{Device, Int, Tensor, TensorData};
    use mnist_lab::data::Split;

    let dir = mnist_lab::data::data_dir(None, Dataset::Mnist);
    let raw = mnist_lab::data::load_raw(Dataset::Mnist, &dir, false).expect("real MNIST");
    let n = 3000;
    let (images, labels) = (&raw.train_images[..n * 784], &raw.train_labels[..n]);
    let device = Device::default();
    let float = Split::float(images, labels, &device);
    let packed = Split::packed(images, labels, &device);
    assert!(packed.is_packed() && !float.is_packed());
    let read = |t: Tensor<2>| t.into_data().convert::<f32>().try_into_vec::<f32>().unwrap();
    let order: Vec<i64> = (0..n as i64).map(|i| (i * 7919) % n as i64).collect();
    let idx = || Tensor::<1, Int>::from_data(TensorData::new(order.clone(), [n]), &device);
    let (a, b) = (float.gather(idx()), packed.gather(idx()));
    let pixels = read(b.images.clone());
    assert_eq!(read(a.images), pixels);
    // Every byte value survives, the high ones (negative words) included.
    assert!(pixels.contains(&1.0) && pixels.iter().any(|&p| p > 0.0 && p < 0.01));
    assert_eq!(read(a.targets), read(b.targets));
    let ints = |t: Tensor<1, Int>| t.into_data().convert::<i64>().try_into_vec::<i64>().unwrap();
    assert_eq!(ints(a.labels), ints(b.labels));
    assert_eq!(read(float.rows(100, 350).images), read(packed.rows(100, 350).images));
}

/// Fashion-MNIST on a machine without Debian's dataset package: fetched from Debian's archive
/// (the .deb checked by SHA-256, each file by its own), and a clear error where no source works.
#[test]
fn fashion_mnist_comes_from_debians_archive_when_the_package_is_not_installed() {
    let tmp = tempfile::tempdir().unwrap();
    let no_package = tmp.path().join("no-system-datasets");
    let fetch = |data: &std::path::Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_mnist-lab"))
            .args(["data", "fetch", "--dataset", "fashion-mnist", "--data-dir"])
            .arg(data)
            .env("MNIST_LAB_SYSTEM_DATASETS", &no_package)
            .env_remove("MNIST_LAB_MIRROR")
            .output()
            .unwrap()
    };
    let o = fetch(&tmp.path().join("data"));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("fashion-mnist: 60000 training and 10000 test images verified")
    );
    // Every source out of reach: the error says what to install and where the files go.
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_mnist-lab"))
        .args(["data", "fetch", "--dataset", "fashion-mnist", "--data-dir"])
        .arg(tmp.path().join("unreachable"))
        .env("MNIST_LAB_SYSTEM_DATASETS", &no_package)
        .env("https_proxy", "http://127.0.0.1:9")
        .env("http_proxy", "http://127.0.0.1:9")
        .env("HTTPS_PROXY", "http://127.0.0.1:9")
        .env("HTTP_PROXY", "http://127.0.0.1:9")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert!(
        err.starts_with("error: could not download fashion-mnist")
            && err.contains("apt-get install dataset-fashion-mnist"),
        "{err}"
    );
    assert!(err.contains("train-images-idx3-ubyte") && err.contains("--offline"), "{err}");
}
