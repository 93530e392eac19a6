//! IDX files: validate every header field ourselves, then let the `mnist` crate parse them.
//!
//! The `mnist` crate panics on a missing or malformed file, so nothing reaches it that has not
//! passed [`validate`]: a bad file becomes an `error:` naming the file and the field.

use std::path::Path;

use anyhow::Result;

use crate::error;

pub const IMAGE_MAGIC: u32 = 0x0000_0803;
pub const LABEL_MAGIC: u32 = 0x0000_0801;
pub const ROWS: usize = 28;
pub const COLS: usize = 28;
pub const PIXELS: usize = ROWS * COLS;
pub const CLASSES: usize = 10;
pub const TRAIN_LEN: usize = 60_000;
pub const TEST_LEN: usize = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdxKind {
    Images,
    Labels,
}

fn be_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(bytes[at..at + 4].try_into().expect("4 bytes"))
}

/// Check an IDX file's magic number, dimensions, item count and size (and label values).
pub fn validate_bytes(bytes: &[u8], kind: IdxKind, expected_count: usize, name: &str) -> Result<()> {
    let fail = |why: String| Err(error::data(format!("{name}: {why}")));
    let header = match kind {
        IdxKind::Images => 16,
        IdxKind::Labels => 8,
    };
    if bytes.len() < header {
        return fail(format!("truncated: {} bytes, shorter than the {header}-byte IDX header", bytes.len()));
    }
    let (magic_want, what) = match kind {
        IdxKind::Images => (IMAGE_MAGIC, "images"),
        IdxKind::Labels => (LABEL_MAGIC, "labels"),
    };
    let magic = be_u32(bytes, 0);
    if magic != magic_want {
        return fail(format!("wrong magic number 0x{magic:08x}, expected 0x{magic_want:08x} for IDX {what}"));
    }
    let count = be_u32(bytes, 4) as usize;
    if count != expected_count {
        return fail(format!("holds {count} {what}, expected {expected_count}"));
    }
    let item = match kind {
        IdxKind::Images => {
            let (rows, cols) = (be_u32(bytes, 8) as usize, be_u32(bytes, 12) as usize);
            if (rows, cols) != (ROWS, COLS) {
                return fail(format!("images are {rows}×{cols}, expected {ROWS}×{COLS}"));
            }
            PIXELS
        }
        IdxKind::Labels => 1,
    };
    let want = header + count * item;
    if bytes.len() < want {
        return fail(format!("truncated: {} bytes, expected {want}", bytes.len()));
    }
    if bytes.len() > want {
        return fail(format!("{} trailing bytes after the {count} {what}", bytes.len() - want));
    }
    if kind == IdxKind::Labels
        && let Some((i, &label)) = bytes[header..].iter().enumerate().find(|(_, l)| **l as usize >= CLASSES)
    {
        return fail(format!("label {i} is {label}, labels must be 0–9"));
    }
    Ok(())
}

pub fn validate(path: &Path, kind: IdxKind, expected_count: usize) -> Result<()> {
    let bytes = std::fs::read(path)
        .map_err(|e| error::data(format!("cannot read {}: {e}", path.display())))?;
    validate_bytes(&bytes, kind, expected_count, &path.display().to_string())
}

/// The four IDX files as the `mnist` crate returns them: pixels (0–255) and labels (0–9).
pub struct RawMnist {
    pub train_images: Vec<u8>,
    pub train_labels: Vec<u8>,
    pub test_images: Vec<u8>,
    pub test_labels: Vec<u8>,
}

/// Validate, then parse the four files `names` (train images, train labels, test images, test
/// labels) in `dir`.
pub fn load(dir: &Path, names: [&str; 4]) -> Result<RawMnist> {
    let plan = [
        (IdxKind::Images, TRAIN_LEN),
        (IdxKind::Labels, TRAIN_LEN),
        (IdxKind::Images, TEST_LEN),
        (IdxKind::Labels, TEST_LEN),
    ];
    for (name, (kind, count)) in names.iter().zip(plan) {
        validate(&dir.join(name), kind, count)?;
    }
    let base = dir
        .to_str()
        .ok_or_else(|| error::data(format!("data dir {} is not valid UTF-8", dir.display())))?;
    let m = mnist::MnistBuilder::new()
        .base_path(base)
        .training_images_filename(names[0])
        .training_labels_filename(names[1])
        .test_images_filename(names[2])
        .test_labels_filename(names[3])
        .label_format_digit()
        .training_set_length(TRAIN_LEN as u32)
        .validation_set_length(0)
        .test_set_length(TEST_LEN as u32)
        .finalize();
    Ok(RawMnist {
        train_images: m.trn_img,
        train_labels: m.trn_lbl,
        test_images: m.tst_img,
        test_labels: m.tst_lbl,
    })
}
