//! TensorBoard event files, written by hand because no maintained Rust writer exists: Burn has no
//! TensorBoard support, `tensorboard-rs` is unmaintained (rust-protobuf 2), `tboard` needs protoc
//! at build time and `tfrecord` pulls in heavy build dependencies. The format is small and stable:
//! TFRecord framing (u64 length, masked CRC32C of the length, data, masked CRC32C of the data)
//! around `Event` protobufs. What this relies on:
//! - `prost` encodes the few messages needed, declared below with their field numbers from
//!   TensorFlow's `event.proto` and `summary.proto` (no protoc, no build script; unknown fields
//!   are simply absent, which protobuf readers accept);
//! - `crc32c` computes the Castagnoli CRC (hardware-accelerated where the CPU has it);
//! - `image` reads a PNG's header, to check its size and record its colour space;
//! - `gethostname` names the file the way TensorFlow does, which TensorBoard does not require
//!   (it only looks for `tfevents` in the name) but users recognise.
//!
//! Summaries use the classic value kinds, which both TensorBoard's UI and its `EventAccumulator`
//! read: scalars as `simple_value` (an f32), histograms as `HistogramProto`, images as
//! `Summary.Image`. An events file is an append-only log TensorBoard reads while it grows, so it
//! is written in place rather than atomically; a new file never replaces an existing one.
//!
//! Intended use, once per epoch (`flush` makes the epoch visible to a running TensorBoard).
//! Keras's callback writes train and validation curves to two directories under the same tags,
//! so TensorBoard overlays them in one chart; two writers do the same here:
//!
//! ```ignore
//! let mut train = EventWriter::create(&run_dir.join("tensorboard/train"))?;
//! let mut val = EventWriter::create(&run_dir.join("tensorboard/validation"))?;
//! for epoch in 1..=epochs {
//!     let step = epoch as i64;
//!     train.scalar("epoch_loss", step, train_loss)?;
//!     train.scalar("epoch_accuracy", step, train_accuracy)?;
//!     train.scalar("epoch_learning_rate", step, lr)?;
//!     val.scalar("epoch_loss", step, val_loss)?;
//!     val.scalar("epoch_accuracy", step, val_accuracy)?;
//!     for (name, weights, gradients) in &layers {
//!         train.histogram(&format!("{name}/weights"), step, weights)?;
//!         train.histogram(&format!("{name}/gradients"), step, gradients)?;
//!     }
//!     val.image("confusion_matrix", step, &png, width, height)?;
//!     train.flush()?;
//!     val.flush()?;
//! }
//! ```

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Cursor, ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, anyhow, bail};
use image::ImageDecoder;
use prost::Message;

/// The version string TensorFlow writes as the first event of every file.
const FILE_VERSION: &str = "brain.Event:2";

/// Equal-width buckets per histogram over [min, max], as `tf.summary.histogram` does by default.
pub const HISTOGRAM_BUCKETS: usize = 30;

/// The subset of TensorFlow's protobuf messages that the writer emits.
mod proto {
    /// `tensorflow.Event` (event.proto).
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Event {
        #[prost(double, tag = "1")]
        pub wall_time: f64,
        #[prost(int64, tag = "2")]
        pub step: i64,
        #[prost(oneof = "What", tags = "3, 5")]
        pub what: Option<What>,
    }

    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum What {
        #[prost(string, tag = "3")]
        FileVersion(String),
        #[prost(message, tag = "5")]
        Summary(Summary),
    }

    /// `tensorflow.Summary` (summary.proto).
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Summary {
        #[prost(message, repeated, tag = "1")]
        pub value: Vec<Value>,
    }

    /// `tensorflow.Summary.Value`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Value {
        #[prost(string, tag = "1")]
        pub tag: String,
        #[prost(oneof = "Kind", tags = "2, 4, 5")]
        pub kind: Option<Kind>,
    }

    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Kind {
        #[prost(float, tag = "2")]
        SimpleValue(f32),
        #[prost(message, tag = "4")]
        Image(Image),
        #[prost(message, tag = "5")]
        Histo(HistogramProto),
    }

    /// `tensorflow.Summary.Image`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Image {
        #[prost(int32, tag = "1")]
        pub height: i32,
        #[prost(int32, tag = "2")]
        pub width: i32,
        /// 1 grey, 2 grey + alpha, 3 RGB, 4 RGBA.
        #[prost(int32, tag = "3")]
        pub colorspace: i32,
        #[prost(bytes = "vec", tag = "4")]
        pub encoded_image_string: Vec<u8>,
    }

    /// `tensorflow.HistogramProto`: bucket `i` counts the values in
    /// [bucket_limit[i-1], bucket_limit[i]) (the first from min, the last up to max inclusive).
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct HistogramProto {
        #[prost(double, tag = "1")]
        pub min: f64,
        #[prost(double, tag = "2")]
        pub max: f64,
        #[prost(double, tag = "3")]
        pub num: f64,
        #[prost(double, tag = "4")]
        pub sum: f64,
        #[prost(double, tag = "5")]
        pub sum_squares: f64,
        #[prost(double, repeated, tag = "6")]
        pub bucket_limit: Vec<f64>,
        #[prost(double, repeated, tag = "7")]
        pub bucket: Vec<f64>,
    }
}

/// Writes one TensorBoard events file. Dropping it flushes what is buffered (ignoring errors);
/// call [`EventWriter::flush`] to see them.
pub struct EventWriter {
    path: PathBuf,
    file: BufWriter<File>,
    /// Set once a write fails: the file may end in a partial record, and any record after it
    /// would be unreadable, so later writes are refused.
    failed: bool,
}

impl EventWriter {
    /// Create `dir` if needed and a new events file in it,
    /// `events.out.tfevents.<unix secs>.<hostname>.<pid>.<n>` (`n` counts the writers this process
    /// opened, from 0), starting with the `file_version` event.
    pub fn create(dir: &Path) -> Result<Self> {
        static OPENED: AtomicU64 = AtomicU64::new(0);
        fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let secs = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        let host: String = gethostname::gethostname()
            .to_string_lossy()
            .chars()
            .map(|c| if c.is_alphanumeric() || "-_.".contains(c) { c } else { '_' })
            .collect();
        let host = if host.is_empty() { "localhost".to_string() } else { host };
        let pid = std::process::id();
        // Never replace a file: a name already taken (another writer of this process or of a
        // process that had the same pid) moves on to the next number.
        let (path, file) = loop {
            let n = OPENED.fetch_add(1, Ordering::Relaxed);
            let path = dir.join(format!("events.out.tfevents.{secs}.{host}.{pid}.{n}"));
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(file) => break (path, file),
                Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
                Err(e) => {
                    return Err(e).with_context(|| format!("cannot create {}", path.display()));
                }
            }
        };
        let mut writer = Self { path, file: BufWriter::new(file), failed: false };
        writer.write_event(0, proto::What::FileVersion(FILE_VERSION.into()))?;
        writer.flush()?;
        Ok(writer)
    }

    /// The events file being written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A scalar, stored as TensorBoard stores them: an f32 (NaN and ±inf included).
    pub fn scalar(&mut self, tag: &str, step: i64, value: f64) -> Result<()> {
        self.write_value(step, tag, proto::Kind::SimpleValue(value as f32))
    }

    /// A histogram of `values` in [`HISTOGRAM_BUCKETS`] equal-width buckets over their range.
    /// NaN and ±inf are left out (they have no place on the axis; a diverged run shows in its
    /// loss scalar); with no finite value the histogram is empty (num 0, no buckets).
    pub fn histogram(&mut self, tag: &str, step: i64, values: &[f32]) -> Result<()> {
        self.write_value(step, tag, proto::Kind::Histo(histogram(values)))
    }

    /// A PNG image of `width` × `height` pixels (checked against the PNG's own header).
    pub fn image(&mut self, tag: &str, step: i64, png: &[u8], width: u32, height: u32) -> Result<()> {
        let refuse = |why: String| anyhow!("cannot write image {tag:?} to {}: {why}", self.path.display());
        let decoder =
            image::codecs::png::PngDecoder::new(Cursor::new(png)).map_err(|e| refuse(format!("not a PNG ({e})")))?;
        let (w, h) = decoder.dimensions();
        if (w, h) != (width, height) {
            return Err(refuse(format!("the PNG is {w}×{h} pixels, not {width}×{height}")));
        }
        let colorspace = match decoder.color_type().channel_count() {
            1 => 1,
            2 => 2,
            3 => 3,
            _ => 4,
        };
        let image = proto::Image {
            // PNG sizes stop at 2^31 - 1.
            height: i32::try_from(height).map_err(|e| refuse(e.to_string()))?,
            width: i32::try_from(width).map_err(|e| refuse(e.to_string()))?,
            colorspace,
            encoded_image_string: png.to_vec(),
        };
        self.write_value(step, tag, proto::Kind::Image(image))
    }

    /// Hand everything written so far to the file system and sync it to disk.
    pub fn flush(&mut self) -> Result<()> {
        self.check_usable()?;
        let result = self.file.flush().and_then(|()| self.file.get_ref().sync_data());
        self.record_failure(result)
    }

    fn write_value(&mut self, step: i64, tag: &str, kind: proto::Kind) -> Result<()> {
        let value = proto::Value { tag: tag.to_string(), kind: Some(kind) };
        self.write_event(step, proto::What::Summary(proto::Summary { value: vec![value] }))
    }

    fn write_event(&mut self, step: i64, what: proto::What) -> Result<()> {
        self.check_usable()?;
        let wall_time = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0);
        let event = proto::Event { wall_time, step, what: Some(what) };
        let record = frame(&event.encode_to_vec());
        let result = self.file.write_all(&record);
        self.record_failure(result)
    }

    fn check_usable(&self) -> Result<()> {
        if self.failed {
            bail!("cannot write {}: an earlier write to it failed", self.path.display());
        }
        Ok(())
    }

    fn record_failure(&mut self, result: std::io::Result<()>) -> Result<()> {
        self.failed |= result.is_err();
        result.with_context(|| format!("cannot write {}", self.path.display()))
    }
}

/// The (tag, step) of every summary value in the events files directly in `dir` (none when
/// there is no `dir`): what earlier sessions of a run already logged, so that a resumed one
/// does not log a step twice. A file is read up to its first record that is cut off or damaged,
/// as TensorBoard reads it: a process killed while writing leaves a partial record at the end.
pub fn logged(dir: &Path) -> Result<HashSet<(String, i64)>> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(HashSet::new()),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", dir.display())),
    };
    let mut seen = HashSet::new();
    for entry in entries {
        let path = entry.with_context(|| format!("cannot read {}", dir.display()))?.path();
        let is_events = path.file_name().is_some_and(|n| n.to_string_lossy().contains("tfevents"));
        if !is_events || !path.is_file() {
            continue;
        }
        let bytes = formats::read::read(&path, formats::read::EVENTS)?;
        for event in records(&bytes).filter_map(|r| proto::Event::decode(r).ok()) {
            if let Some(proto::What::Summary(summary)) = event.what {
                seen.extend(summary.value.into_iter().map(|v| (v.tag, event.step)));
            }
        }
    }
    Ok(seen)
}

/// The records of a TFRecord file, up to the first one that is incomplete or fails its CRC.
fn records(mut bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    std::iter::from_fn(move || {
        let (len, rest) = bytes.split_first_chunk::<8>()?;
        let (len_crc, rest) = rest.split_first_chunk::<4>()?;
        if masked_crc(len) != u32::from_le_bytes(*len_crc) {
            return None;
        }
        let len = usize::try_from(u64::from_le_bytes(*len)).ok()?;
        let (data, rest) = rest.split_at_checked(len)?;
        let (data_crc, rest) = rest.split_first_chunk::<4>()?;
        if masked_crc(data) != u32::from_le_bytes(*data_crc) {
            return None;
        }
        bytes = rest;
        Some(data)
    })
}

/// TFRecord framing of one record.
fn frame(data: &[u8]) -> Vec<u8> {
    let len = (data.len() as u64).to_le_bytes();
    let mut record = Vec::with_capacity(data.len() + 16);
    record.extend_from_slice(&len);
    record.extend_from_slice(&masked_crc(&len).to_le_bytes());
    record.extend_from_slice(data);
    record.extend_from_slice(&masked_crc(data).to_le_bytes());
    record
}

/// TFRecord's masked CRC32C: rotated and offset, so that a CRC of data containing CRCs stays
/// well distributed.
fn masked_crc(bytes: &[u8]) -> u32 {
    crc32c::crc32c(bytes).rotate_right(15).wrapping_add(0xa282_ead8)
}

fn histogram(values: &[f32]) -> proto::HistogramProto {
    let finite = || values.iter().filter(|v| v.is_finite()).map(|&v| f64::from(v));
    let (mut min, mut max, mut num, mut sum, mut sum_squares) = (f64::INFINITY, f64::NEG_INFINITY, 0.0, 0.0, 0.0);
    for v in finite() {
        min = min.min(v);
        max = max.max(v);
        num += 1.0;
        sum += v;
        sum_squares += v * v;
    }
    if num == 0.0 {
        return proto::HistogramProto::default();
    }
    // Right edges; the last is max itself, so the top value lands in the last bucket. All values
    // equal make one bucket.
    let bucket_limit: Vec<f64> = if min == max {
        vec![max]
    } else {
        let n = HISTOGRAM_BUCKETS as f64;
        (1..=HISTOGRAM_BUCKETS)
            .map(|i| if i == HISTOGRAM_BUCKETS { max } else { min + (max - min) * (i as f64 / n) })
            .collect()
    };
    let mut bucket = vec![0.0; bucket_limit.len()];
    let last = bucket.len() - 1;
    for v in finite() {
        // Place by the edges as written, so a reader re-bucketing by them agrees with the counts.
        bucket[bucket_limit.partition_point(|&limit| limit <= v).min(last)] += 1.0;
    }
    proto::HistogramProto { min, max, num, sum, sum_squares, bucket_limit, bucket }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32c_matches_known_vectors() {
        // The check value of CRC-32C, and the test vectors of RFC 3720, appendix B.4.
        assert_eq!(crc32c::crc32c(b"123456789"), 0xE306_9283);
        assert_eq!(crc32c::crc32c(&[0u8; 32]), 0x8A91_36AA);
        assert_eq!(crc32c::crc32c(&[0xFFu8; 32]), 0x62A8_AB43);
        let ascending: Vec<u8> = (0..32).collect();
        assert_eq!(crc32c::crc32c(&ascending), 0x46DD_794E);
        let descending: Vec<u8> = (0..32).rev().collect();
        assert_eq!(crc32c::crc32c(&descending), 0x113F_DB5C);
    }

    /// The two records of an events file that TensorFlow 2 wrote for
    /// `tf.summary.scalar("accuracy", 0.99, step=77)`, as quoted (from `xxd`) in the tests of
    /// TensorBoard's Rust data server: (length CRC, data, data CRC).
    const TENSORFLOW_RECORDS: [([u8; 4], &[u8], [u8; 4]); 2] = [
        (*b"\xa3\x7f\x4b\x22", b"\x09\x00\x00\x80\x38\x99\xd6\xd7\x41\x1a\x0dbrain.Event:2", *b"\x12\x4b\x36\xab"),
        (
            *b"\x24\x19\x56\xec",
            b"\x09\xc4\x05\xb7\x3d\x99\xd6\xd7\x41\x10\x4d\x2a\x25\x0a\x23\x0a\x08accuracy\
              \x42\x0a\x08\x01\x12\x00\x22\x04\xa4\x70\x7d\x3f\x4a\x0b\x0a\x09\x0a\x07scalars",
            *b"\xa5\x5b\x64\x33",
        ),
    ];

    #[test]
    fn frames_records_as_tensorflow_does() {
        for (length_crc, data, data_crc) in TENSORFLOW_RECORDS {
            let expected = [&(data.len() as u64).to_le_bytes()[..], &length_crc, data, &data_crc].concat();
            assert_eq!(frame(data), expected);
        }
    }

    #[test]
    fn encodes_the_file_version_event_as_tensorflow_does() {
        let (_, data, _) = TENSORFLOW_RECORDS[0];
        let wall_time = f64::from_le_bytes(data[1..9].try_into().unwrap());
        let event = proto::Event { wall_time, step: 0, what: Some(proto::What::FileVersion(FILE_VERSION.into())) };
        assert_eq!(event.encode_to_vec(), data);
    }

    #[test]
    fn histogram_counts_each_value_once_by_the_written_edges() {
        // 0, 1, …, 30: thirty buckets of width 1, the last closed ([29, 30]).
        let values: Vec<f32> = (0..=30).map(|i| i as f32).collect();
        let h = histogram(&values);
        assert_eq!((h.min, h.max, h.num, h.sum, h.sum_squares), (0.0, 30.0, 31.0, 465.0, 9455.0));
        assert_eq!(h.bucket_limit, (1..=30).map(f64::from).collect::<Vec<_>>());
        let mut expected = vec![1.0; 30];
        expected[29] = 2.0;
        assert_eq!(h.bucket, expected);
    }

    #[test]
    fn histogram_of_equal_values_is_one_bucket() {
        let h = histogram(&[0.25; 7]);
        assert_eq!((h.min, h.max, h.num), (0.25, 0.25, 7.0));
        assert_eq!((h.bucket_limit, h.bucket), (vec![0.25], vec![7.0]));
    }

    #[test]
    fn histogram_leaves_out_nan_and_infinities() {
        let h = histogram(&[f32::NAN, 1.0, f32::INFINITY, 2.0, f32::NEG_INFINITY]);
        assert_eq!((h.min, h.max, h.num, h.sum, h.sum_squares), (1.0, 2.0, 2.0, 3.0, 5.0));
        assert_eq!(h.bucket.iter().sum::<f64>(), 2.0);
        assert_eq!((h.bucket[0], h.bucket[29]), (1.0, 1.0));
        for nothing in [&[][..], &[f32::NAN, f32::INFINITY][..]] {
            let h = histogram(nothing);
            assert_eq!(h, proto::HistogramProto::default());
        }
    }

    #[test]
    fn histogram_spans_the_whole_f32_range() {
        let h = histogram(&[f32::MAX, -f32::MAX, 0.0]);
        assert!(h.bucket_limit.iter().all(|l| l.is_finite()));
        assert!(h.bucket_limit.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!((h.bucket[0], h.bucket[15], h.bucket[29]), (1.0, 1.0, 1.0));
        assert!(h.sum_squares.is_finite());
    }

    #[test]
    fn refuses_what_is_not_a_png_of_the_given_size() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = EventWriter::create(dir.path()).unwrap();
        let err = writer.image("m", 1, b"GIF89a", 1, 1).unwrap_err();
        assert!(format!("{err:#}").contains("not a PNG"), "{err:#}");
        let mut png = Vec::new();
        image::GrayImage::new(3, 2).write_to(&mut Cursor::new(&mut png), image::ImageOutputFormat::Png).unwrap();
        let err = writer.image("m", 1, &png, 2, 3).unwrap_err();
        assert!(format!("{err:#}").contains("3×2"), "{err:#}");
        // A refused image leaves the writer usable.
        writer.image("m", 1, &png, 3, 2).unwrap();
        writer.flush().unwrap();
    }

    #[test]
    fn cannot_create_names_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a-file");
        fs::write(&file, b"").unwrap();
        let err = EventWriter::create(&file.join("logs")).err().unwrap();
        assert!(format!("{err:#}").contains(&*file.join("logs").to_string_lossy()), "{err:#}");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_failed_write_is_an_error_with_the_path_and_stops_later_writes() {
        // /dev/full accepts the open and fails every write with "no space left on device".
        let path = PathBuf::from("/dev/full");
        let file = OpenOptions::new().write(true).open(&path).unwrap();
        let mut writer = EventWriter { path, file: BufWriter::new(file), failed: false };
        writer.scalar("loss", 1, 0.5).unwrap(); // buffered
        let err = writer.flush().unwrap_err();
        assert!(format!("{err:#}").contains("cannot write /dev/full"), "{err:#}");
        let err = writer.scalar("loss", 2, 0.25).unwrap_err();
        assert!(format!("{err:#}").contains("earlier write"), "{err:#}");
    }

    #[test]
    fn two_writers_in_one_directory_get_two_files() {
        let dir = tempfile::tempdir().unwrap();
        let a = EventWriter::create(dir.path()).unwrap();
        let b = EventWriter::create(dir.path()).unwrap();
        assert_ne!(a.path(), b.path());
        let name = a.path().file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.starts_with("events.out.tfevents."), "{name}");
        assert!(name.contains(&format!(".{}.", std::process::id())), "{name}");
        // Header only: the file_version record.
        assert_eq!(fs::read(a.path()).unwrap().len(), 8 + 4 + 24 + 4);
    }

    #[test]
    fn logged_reads_every_file_up_to_a_partial_record() {
        let dir = tempfile::tempdir().unwrap();
        assert!(logged(&dir.path().join("missing")).unwrap().is_empty());
        let mut a = EventWriter::create(dir.path()).unwrap();
        a.scalar("loss", 1, 0.5).unwrap();
        a.histogram("w", 1, &[1.0, 2.0]).unwrap();
        a.flush().unwrap();
        let mut b = EventWriter::create(dir.path()).unwrap();
        b.scalar("loss", 2, 0.25).unwrap();
        b.flush().unwrap();
        // Killed while writing step 3: a record cut short, then nothing.
        let value = proto::Value { tag: "loss".into(), kind: Some(proto::Kind::SimpleValue(0.125)) };
        let what = Some(proto::What::Summary(proto::Summary { value: vec![value] }));
        let cut = frame(&proto::Event { wall_time: 0.0, step: 3, what }.encode_to_vec());
        let mut bytes = fs::read(b.path()).unwrap();
        bytes.extend_from_slice(&cut[..cut.len() - 1]);
        fs::write(b.path(), bytes).unwrap();
        // Not an events file: not read.
        fs::write(dir.path().join("notes.txt"), b"loss 4").unwrap();
        let want: HashSet<(String, i64)> =
            [("loss", 1), ("w", 1), ("loss", 2)].into_iter().map(|(t, s)| (t.to_string(), s)).collect();
        assert_eq!(logged(dir.path()).unwrap(), want);
    }
}
