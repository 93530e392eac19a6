//! IDX files: every header field validated, then the payload after the header is the data
//! (pixels 0–255 row by row, or labels 0–9). A bad file becomes an `error:` naming the file
//! and the field, never a panic.

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
    validate_header(bytes, bytes.len() as u64, kind, expected_count, name)?;
    let header = header_len(kind);
    if kind == IdxKind::Labels
        && let Some((i, &label)) = bytes[header..].iter().enumerate().find(|(_, l)| **l as usize >= CLASSES)
    {
        return Err(error::data(format!("{name}: label {i} is {label}, labels must be 0–9")));
    }
    Ok(())
}

/// The size an IDX file of `count` items of `kind` must have.
pub fn file_len(kind: IdxKind, count: usize) -> u64 {
    let item = match kind {
        IdxKind::Images => PIXELS,
        IdxKind::Labels => 1,
    };
    header_len(kind) as u64 + count as u64 * item as u64
}

/// Check the header (the file's first bytes, 16 are enough) against a file of `size` bytes:
/// magic number, item count, dimensions and total size, without reading the payload.
pub fn validate_header(header: &[u8], size: u64, kind: IdxKind, expected_count: usize, name: &str) -> Result<()> {
    let fail = |why: String| Err(error::data(format!("{name}: {why}")));
    let need = header_len(kind);
    if header.len() < need || size < need as u64 {
        return fail(format!("truncated: {size} bytes, shorter than the {need}-byte IDX header"));
    }
    let (magic_want, what) = match kind {
        IdxKind::Images => (IMAGE_MAGIC, "images"),
        IdxKind::Labels => (LABEL_MAGIC, "labels"),
    };
    let magic = be_u32(header, 0);
    if magic != magic_want {
        return fail(format!("wrong magic number 0x{magic:08x}, expected 0x{magic_want:08x} for IDX {what}"));
    }
    let count = be_u32(header, 4) as usize;
    if count != expected_count {
        return fail(format!("holds {count} {what}, expected {expected_count}"));
    }
    if kind == IdxKind::Images {
        let (rows, cols) = (be_u32(header, 8) as usize, be_u32(header, 12) as usize);
        if (rows, cols) != (ROWS, COLS) {
            return fail(format!("images are {rows}×{cols}, expected {ROWS}×{COLS}"));
        }
    }
    let want = file_len(kind, count);
    if size < want {
        return fail(format!("truncated: {size} bytes, expected {want}"));
    }
    if size > want {
        return fail(format!("{} trailing bytes after the {count} {what}", size - want));
    }
    Ok(())
}

/// The header length of `kind`: what [`validate_header`] needs to see.
pub fn header_len(kind: IdxKind) -> usize {
    match kind {
        IdxKind::Images => 16,
        IdxKind::Labels => 8,
    }
}

/// The four IDX files' payloads: pixels (0–255) and labels (0–9).
pub struct RawMnist {
    pub train_images: Vec<u8>,
    pub train_labels: Vec<u8>,
    pub test_images: Vec<u8>,
    pub test_labels: Vec<u8>,
}

/// Validate one file's bytes (`name` in errors) and keep what follows its header.
pub fn payload(mut bytes: Vec<u8>, kind: IdxKind, expected_count: usize, name: &str) -> Result<Vec<u8>> {
    validate_bytes(&bytes, kind, expected_count, name)?;
    bytes.drain(..header_len(kind));
    Ok(bytes)
}
