//! A model's burnpack file (`model.bpk`, a checkpoint's `model.bpk` and `best.bpk`) held
//! against the network its config describes before Burn loads it: the header, the CBOR metadata
//! (read with `ciborium`, with burnpack's own limits), and for every tensor its name, type,
//! shape and byte range. A file that claims other tensors, shapes or ranges than the data it
//! holds is refused with what is wrong, never handed on.
//!
//! Burnpack's layout (burn-pack 0.22): a 10-byte header (magic "NRUB" as a little-endian u32,
//! version u16 = 1, metadata length u32), the metadata, then the data section from the next
//! 256-byte boundary; each tensor's `data_offsets` are relative to that section.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::config::ModelConfig;
use crate::idx::{CLASSES, PIXELS};

const MAGIC: u32 = 0x4255_524E;
const VERSION: u16 = 1;
const HEADER: usize = 10;
const ALIGNMENT: usize = 256;
/// Burnpack's own limits on its metadata.
const MAX_METADATA: usize = 100 << 20;
const MAX_DEPTH: usize = 128;

#[derive(Deserialize)]
struct Metadata {
    tensors: BTreeMap<String, Descriptor>,
}

#[derive(Deserialize)]
struct Descriptor {
    dtype: ciborium::Value,
    shape: Vec<u64>,
    data_offsets: (u64, u64),
}

/// Each tensor of the network of `model` as Burn records it: `layers.{i}.weight` [in, out] and
/// `layers.{i}.bias` [out].
pub fn expected(model: &ModelConfig) -> BTreeMap<String, Vec<u64>> {
    let mut out = BTreeMap::new();
    let mut n_in = PIXELS as u64;
    let widths = model.hidden.iter().map(|l| l.units as u64).chain([CLASSES as u64]);
    for (i, units) in widths.enumerate() {
        out.insert(format!("layers.{i}.weight"), vec![n_in, units]);
        out.insert(format!("layers.{i}.bias"), vec![units]);
        n_in = units;
    }
    out
}

/// That `bytes` is a burnpack of exactly the f32 tensors `want` (name → shape), each within the
/// data it holds; else what is wrong, in words.
pub fn check(bytes: &[u8], want: &BTreeMap<String, Vec<u64>>) -> Result<(), String> {
    if bytes.len() < HEADER {
        return Err(format!("{} bytes, shorter than a burnpack header", bytes.len()));
    }
    let word = |at: usize| u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    if word(0) != MAGIC {
        return Err("not a burnpack file (its first bytes are not Burn's)".into());
    }
    let version = u16::from_le_bytes([bytes[4], bytes[5]]);
    if version != VERSION {
        return Err(format!("burnpack version {version}, not {VERSION}"));
    }
    let len = word(6) as usize;
    if len > MAX_METADATA || len > bytes.len() - HEADER {
        return Err(format!("its metadata claims {len} bytes, more than the file holds"));
    }
    let metadata: Metadata = ciborium::de::from_reader_with_recursion_limit(&bytes[HEADER..HEADER + len], MAX_DEPTH)
        .map_err(|e| format!("its metadata does not read: {e}"))?;
    let data = (HEADER + len).div_ceil(ALIGNMENT) * ALIGNMENT;
    let data_len = bytes.len().saturating_sub(data) as u64;
    for name in want.keys() {
        if !metadata.tensors.contains_key(name) {
            return Err(format!("it has no {name}"));
        }
    }
    for (name, d) in &metadata.tensors {
        let shown: String = name.chars().take(60).collect();
        let Some(shape) = want.get(name) else {
            return Err(format!("it holds {shown:?}, which the network has not"));
        };
        if d.dtype != ciborium::Value::Text("F32".into()) {
            return Err(format!("{shown} is not float32"));
        }
        if &d.shape != shape {
            return Err(format!("{shown} has shape {:?}; the network's is {shape:?}", d.shape));
        }
        let (start, end) = d.data_offsets;
        let bytes_wanted = shape.iter().try_fold(4u64, |n, &k| n.checked_mul(k));
        if start > end || end > data_len || bytes_wanted != Some(end - start) {
            return Err(format!(
                "{shown} claims bytes {start}..{end} of the {data_len} its data section holds, for {} values",
                shape.iter().product::<u64>()
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> ModelConfig {
        toml::from_str("hidden = [{ units = 3, activation = \"relu\" }]\noutput = \"softmax\"\n").unwrap()
    }

    /// A burnpack of `tensors` (name, shape, values) laid out as burn-pack writes it.
    fn burnpack(tensors: &[(&str, Vec<u64>)]) -> Vec<u8> {
        let mut offset = 0u64;
        let mut map = Vec::new();
        for (name, shape) in tensors {
            let n = shape.iter().product::<u64>() * 4;
            let desc = ciborium::Value::Map(vec![
                ("dtype".into(), "F32".into()),
                ("shape".into(), ciborium::Value::Array(shape.iter().map(|&k| k.into()).collect())),
                ("data_offsets".into(), ciborium::Value::Array(vec![offset.into(), (offset + n).into()])),
            ]);
            map.push(((*name).into(), desc));
            offset += n;
        }
        let meta = ciborium::Value::Map(vec![("tensors".into(), ciborium::Value::Map(map))]);
        let mut cbor = Vec::new();
        ciborium::ser::into_writer(&meta, &mut cbor).unwrap();
        let mut out = MAGIC.to_le_bytes().to_vec();
        out.extend(VERSION.to_le_bytes());
        out.extend((cbor.len() as u32).to_le_bytes());
        out.extend(cbor);
        out.resize(out.len().div_ceil(ALIGNMENT) * ALIGNMENT + offset as usize, 0);
        out
    }

    #[test]
    fn the_network_of_the_config_is_taken_and_anything_else_named() {
        let want = expected(&model());
        let good: Vec<(&str, Vec<u64>)> = want.iter().map(|(n, s)| (n.as_str(), s.clone())).collect();
        assert_eq!(check(&burnpack(&good), &want), Ok(()));
        let mut wide = good.clone();
        wide[0].1 = vec![5];
        assert!(check(&burnpack(&wide), &want).unwrap_err().contains("has shape [5]"));
        let mut extra = good.clone();
        extra.push(("layers.9.weight", vec![1]));
        assert!(check(&burnpack(&extra), &want).unwrap_err().contains("which the network has not"));
        let bytes = burnpack(&good);
        let cut = &bytes[..bytes.len() - 4];
        assert!(check(cut, &want).unwrap_err().contains("claims bytes"), "{:?}", check(cut, &want));
        assert!(check(&bytes[..9], &want).unwrap_err().contains("shorter than a burnpack header"));
        let mut lying = bytes.clone();
        lying[6..10].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(check(&lying, &want).unwrap_err().contains("more than the file holds"));
    }
}
