//! User images (PNG/JPEG of any size) → MNIST-style 28×28 inputs.
//!
//! MNIST digits are white on black, fitted into a 20×20 box (aspect kept, anti-aliased) and
//! placed in a 28×28 field so that their centre of mass is at the centre. A network trained on
//! them only works on user images prepared the same way, so this module repeats those steps,
//! and brings a marker's or a fine pen's strokes to the width of MNIST's ([`super::stroke`]).
//!
//! Files are read within bounded memory: the size is read from the header and a huge image is
//! refused before decoding; a large one is shrunk (area averaging, in its own pixel format)
//! before anything is converted to f32. Phone photos are turned upright by their EXIF
//! orientation, read with `kamadak-exif` (image 0.24 ignores it).

use std::fs::File;
use std::io::{BufRead, BufReader, Cursor, Read, Seek, SeekFrom};
use std::path::Path;

use anyhow::Result;
use formats::error;
use formats::idx::{COLS, PIXELS, ROWS};
use image::imageops::{self, FilterType};
use image::{DynamicImage, ImageBuffer, ImageError, Luma};

use super::stroke;

/// Longer side of the digit's box inside the 28×28 field, as in MNIST.
const BOX: f32 = 20.0;
/// Below this contrast (on a 0–1 scale) there is no ink, only paper and noise.
const MIN_CONTRAST: f32 = 0.1;
/// Share of the contrast treated as background noise (paper texture, JPEG artefacts).
const NOISE: f32 = 0.15;

/// Longest side an image is prepared at; larger ones are shrunk first.
const MAX_SIDE: u32 = 1024;
/// The largest image read at all (a 10 000 × 10 000 scan), checked from the file's header.
const MAX_PIXELS: u64 = 100_000_000;
/// What the decoder may allocate for the pixels: 8-bit RGBA at [`MAX_PIXELS`].
const MAX_DECODE_BYTES: u64 = 400 << 20;
/// The most read from a stream (which cannot seek, so is held in memory): as much as the
/// decoder may allocate, more than any compressed image within [`MAX_PIXELS`] needs.
const MAX_STREAM_BYTES: u64 = MAX_DECODE_BYTES;

/// Load a PNG/JPEG of any size or colour and convert it the way MNIST digits were made:
/// upright (EXIF orientation); grayscale; white digit on black (inverted when the border is
/// light); cropped to the ink; strokes brought to MNIST's width ([`stroke`]); scaled so the
/// longer side is 20 px; centred by centre of mass in 28×28. Values in [0,1], row-major; all
/// zeros when the image holds no ink ([`is_blank`]).
///
/// The file is opened once: a regular file is read through that handle (header, pixels, EXIF,
/// seeking back between them); anything else (`/dev/stdin`, `<(…)`, a FIFO) cannot seek and is
/// read into memory, up to [`MAX_STREAM_BYTES`].
pub fn load_digit(path: &Path) -> Result<[f32; PIXELS]> {
    let cannot = |e: &dyn std::fmt::Display| error::data(format!("cannot read {}: {e}", path.display()));
    let file = open_without_waiting(path).map_err(|e| cannot(&e))?;
    if file.metadata().is_ok_and(|m| m.is_file()) {
        return digit_from(&mut BufReader::new(file), path);
    }
    let mut bytes = Vec::new();
    file.take(MAX_STREAM_BYTES + 1).read_to_end(&mut bytes).map_err(|e| cannot(&e))?;
    if bytes.len() as u64 > MAX_STREAM_BYTES {
        return Err(error::data(format!(
            "{} is not a regular file and holds more than {} MiB, more than any image predict reads; \
             save it to a file and scale it down first",
            path.display(),
            MAX_STREAM_BYTES >> 20
        )));
    }
    digit_from(&mut Cursor::new(bytes), path)
}

/// `path` opened for reading; a FIFO that no process writes to is then read as empty (and
/// refused as no image) instead of blocking `open` until a writer comes.
fn open_without_waiting(path: &Path) -> std::io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK);
    }
    let file = options.open(path)?;
    #[cfg(unix)]
    {
        use std::os::fd::AsRawFd;
        // SAFETY: fcntl on the descriptor `file` owns, with integer arguments only.
        unsafe {
            let flags = libc::fcntl(file.as_raw_fd(), libc::F_GETFL);
            if flags >= 0 {
                libc::fcntl(file.as_raw_fd(), libc::F_SETFL, flags & !libc::O_NONBLOCK);
            }
        }
    }
    Ok(file)
}

/// [`load_digit`] from an open file or the bytes of a stream, at its start.
fn digit_from<R: BufRead + Seek>(reader: &mut R, path: &Path) -> Result<[f32; PIXELS]> {
    let img = decode(reader, path)?;
    let img = if img.width().max(img.height()) > MAX_SIDE { img.thumbnail(MAX_SIDE, MAX_SIDE) } else { img };
    Ok(mnist_pixels(&upright(img, orientation(reader))))
}

/// Whether [`load_digit`] found no ink: a blank page, or too little contrast to tell a stroke
/// from the paper.
pub fn is_blank(pixels: &[f32; PIXELS]) -> bool {
    pixels.iter().all(|&v| v == 0.0)
}

/// Decode the image `reader` holds (read from `path`), refusing from its header an image too
/// large to decode in bounded memory.
fn decode<R: BufRead + Seek>(reader: &mut R, path: &Path) -> Result<DynamicImage> {
    let cannot = |e: &dyn std::fmt::Display| error::data(format!("cannot read {}: {e}", path.display()));
    let (w, h) = rewound(reader, path)?.into_dimensions().map_err(|e| cannot(&e))?;
    let too_large = |why: String| {
        error::data(format!(
            "{}: a {w}×{h} image {why}; scale it down first (a digit needs no more than 1000 px)",
            path.display()
        ))
    };
    if u64::from(w) * u64::from(h) > MAX_PIXELS {
        return Err(too_large(format!("is more than the {} megapixels predict reads", MAX_PIXELS / 1_000_000)));
    }
    let mut decoder = rewound(reader, path)?;
    let mut limits = image::io::Limits::default();
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    decoder.limits(limits);
    decoder.decode().map_err(|e| match e {
        ImageError::Limits(_) => {
            too_large(format!("at this colour depth needs more than {} MiB to decode", MAX_DECODE_BYTES >> 20))
        }
        e => cannot(&e),
    })
}

/// An image reader of `reader` from its start, its format guessed from its first bytes.
fn rewound<'a, R: BufRead + Seek>(reader: &'a mut R, path: &Path) -> Result<image::io::Reader<&'a mut R>> {
    let cannot = |e: std::io::Error| error::data(format!("cannot read {}: {e}", path.display()));
    reader.seek(SeekFrom::Start(0)).map_err(cannot)?;
    image::io::Reader::new(reader).with_guessed_format().map_err(cannot)
}

/// The EXIF orientation (1–8) of the image `reader` holds; 1 (as stored) when it has none.
fn orientation<R: BufRead + Seek>(reader: &mut R) -> u32 {
    if reader.seek(SeekFrom::Start(0)).is_err() {
        return 1;
    }
    let exif = exif::Reader::new().read_from_container(reader);
    exif.ok()
        .and_then(|e| e.get_field(exif::Tag::Orientation, exif::In::PRIMARY).and_then(|f| f.value.get_uint(0)))
        .unwrap_or(1)
}

/// `img` turned as EXIF `orientation` says it should be shown.
fn upright(img: DynamicImage, orientation: u32) -> DynamicImage {
    match orientation {
        2 => img.fliph(),
        3 => img.rotate180(),
        4 => img.flipv(),
        5 => img.rotate90().fliph(),
        6 => img.rotate90(),
        7 => img.rotate270().fliph(),
        8 => img.rotate270(),
        _ => img,
    }
}

/// Same as [`load_digit`] from an already-decoded image. A blank image gives all zeros.
pub fn mnist_pixels(img: &DynamicImage) -> [f32; PIXELS] {
    let (w, h) = (img.width() as usize, img.height() as usize);
    if w == 0 || h == 0 {
        return [0.0; PIXELS];
    }
    let rgba = img.to_rgba32f();
    let luma = |p: &image::Rgba<f32>| 0.2126 * p[0] + 0.7152 * p[1] + 0.0722 * p[2];

    // Transparent pixels are background, so the visible pixels are ink: put them on the
    // opposite shade (dark ink on white, light ink on black) so the stroke stays visible.
    let backdrop = if img.color().has_alpha() {
        let (sum, weight) = rgba.pixels().fold((0.0, 0.0), |(s, n), p| (s + p[3] * luma(p), n + p[3]));
        if weight > 0.0 && sum / weight > 0.5 { 0.0 } else { 1.0 }
    } else {
        1.0
    };
    let mut gray: Vec<f32> = rgba.pixels().map(|p| p[3] * luma(p) + (1.0 - p[3]) * backdrop).collect();

    // The border is mostly background: a light one means dark ink on light paper, so invert.
    let border: Vec<usize> =
        (0..w).flat_map(|x| [x, (h - 1) * w + x]).chain((0..h).flat_map(|y| [y * w, y * w + w - 1])).collect();
    let mean = |v: &[f32]| border.iter().map(|&i| v[i]).sum::<f32>() / border.len() as f32;
    if mean(&gray) > 0.5 {
        gray.iter_mut().for_each(|v| *v = 1.0 - *v);
    }

    // Stretch levels so the background becomes exactly 0 and the strongest ink 1, like MNIST;
    // this also rescues grey paper and faint pencil.
    let bg = mean(&gray);
    let peak = gray.iter().copied().fold(0.0f32, f32::max);
    if peak - bg < MIN_CONTRAST {
        return [0.0; PIXELS];
    }
    let lo = bg + NOISE * (peak - bg);
    gray.iter_mut().for_each(|v| *v = ((*v - lo) / (peak - lo)).clamp(0.0, 1.0));

    // Bounding box of the ink.
    let (mut x0, mut y0, mut x1, mut y1) = (w, h, 0, 0);
    for (i, _) in gray.iter().enumerate().filter(|(_, v)| **v > 0.0) {
        let (x, y) = (i % w, i / w);
        (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x), y1.max(y));
    }
    let (cw, ch) = (x1 - x0 + 1, y1 - y0 + 1);
    let crop: Vec<f32> = (y0..=y1).flat_map(|y| gray[y * w + x0..=y * w + x1].iter().copied()).collect();
    let crop = ImageBuffer::<Luma<f32>, _>::from_raw(cw as u32, ch as u32, crop).expect("crop size");
    let crop = stroke::to_mnist_width(&crop);
    let (cw, ch) = (crop.width() as usize, crop.height() as usize);

    // Longer side to 20 px; Lanczos anti-aliases when shrinking big photos (output is clamped to [0,1]).
    let scale = BOX / cw.max(ch) as f32;
    let (sw, sh) = (
        ((cw as f32 * scale).round() as u32).clamp(1, BOX as u32),
        ((ch as f32 * scale).round() as u32).clamp(1, BOX as u32),
    );
    let small = imageops::resize(&crop, sw, sh, FilterType::Lanczos3);

    // Shift so the centre of mass lands on (14,14), clamped so the digit stays inside.
    let (mut mass, mut mx, mut my) = (0.0f32, 0.0f32, 0.0f32);
    for (x, y, p) in small.enumerate_pixels() {
        mass += p[0];
        mx += p[0] * x as f32;
        my += p[0] * y as f32;
    }
    if mass <= 0.0 {
        return [0.0; PIXELS];
    }
    // A symmetric digit's centre falls on a half pixel, where a rounding difference of 1e-6 (the
    // draw-a-digit page's arithmetic against this) would decide the side: moved off the tie.
    const TIE: f32 = 1.0 / 64.0;
    let offset = |centre: f32, size: u32, field: usize| {
        ((field / 2) as f32 - centre + TIE).round().clamp(0.0, (field - size as usize) as f32) as usize
    };
    let (ox, oy) = (offset(mx / mass, sw, COLS), offset(my / mass, sh, ROWS));

    let mut out = [0.0; PIXELS];
    for (x, y, p) in small.enumerate_pixels() {
        out[(oy + y as usize) * COLS + ox + x as usize] = p[0];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{GrayImage, Rgba, RgbaImage};

    fn centre_of_mass(px: &[f32; PIXELS]) -> (f32, f32) {
        let mass: f32 = px.iter().sum();
        let (mut x, mut y) = (0.0, 0.0);
        for (i, v) in px.iter().enumerate() {
            x += v * (i % COLS) as f32;
            y += v * (i / COLS) as f32;
        }
        (x / mass, y / mass)
    }

    /// (min row, max row, min col, max col) of pixels above `t`.
    fn bbox(px: &[f32; PIXELS], t: f32) -> (usize, usize, usize, usize) {
        let ink: Vec<usize> = (0..PIXELS).filter(|&i| px[i] > t).collect();
        let rows = ink.iter().map(|i| i / COLS);
        let cols = ink.iter().map(|i| i % COLS);
        (rows.clone().min().unwrap(), rows.max().unwrap(), cols.clone().min().unwrap(), cols.max().unwrap())
    }

    fn in_range(px: &[f32; PIXELS]) -> bool {
        px.iter().all(|v| (0.0..=1.0).contains(v))
    }

    #[test]
    fn dark_bar_on_white_is_inverted_scaled_and_centred() {
        // 200×120 white page, black bar 16 px wide and 90 px tall, well off-centre.
        let img = GrayImage::from_fn(200, 120, |x, y| {
            Luma([if (20..36).contains(&x) && (15..105).contains(&y) { 0 } else { 255 }])
        });
        let px = mnist_pixels(&DynamicImage::ImageLuma8(img));
        assert!(in_range(&px));
        let (cx, cy) = centre_of_mass(&px);
        assert!((cx - 14.0).abs() <= 1.0 && (cy - 14.0).abs() <= 1.0, "centre ({cx}, {cy})");
        let (r0, r1, c0, c1) = bbox(&px, 0.1);
        assert!((19..=21).contains(&(r1 - r0 + 1)), "height {}", r1 - r0 + 1);
        assert!((3..=5).contains(&(c1 - c0 + 1)), "width {}", c1 - c0 + 1);
        assert!(px[0] == 0.0 && px[PIXELS - 1] == 0.0 && px[14 * COLS + 2] == 0.0);
        assert!(px[14 * COLS + 14] > 0.9, "bar stays bright: {}", px[14 * COLS + 14]);
    }

    #[test]
    fn white_on_black_is_not_inverted() {
        // MNIST-like already: a white blob near the middle of a black 28×28 field.
        let img = GrayImage::from_fn(28, 28, |x, y| {
            let d2 = (x as i32 - 13).pow(2) + (y as i32 - 15).pow(2);
            Luma([if d2 <= 36 { 255 } else { 0 }])
        });
        let px = mnist_pixels(&DynamicImage::ImageLuma8(img));
        assert!(in_range(&px));
        assert!(px[14 * COLS + 14] > 0.9, "blob stays white");
        assert_eq!(px[0], 0.0, "background stays black");
        let mean = px.iter().sum::<f32>() / PIXELS as f32;
        assert!(mean < 0.5, "mostly black, mean {mean}");
        let (cx, cy) = centre_of_mass(&px);
        assert!((cx - 14.0).abs() <= 1.0 && (cy - 14.0).abs() <= 1.0, "centre ({cx}, {cy})");
    }

    #[test]
    fn transparent_background_is_background() {
        // Common PNG export: transparent black everywhere, opaque ink on the strokes.
        for ink in [[0, 0, 0, 255], [255, 255, 255, 255], [30, 60, 200, 255]] {
            let img = RgbaImage::from_fn(100, 80, |x, y| {
                if (40..60).contains(&x) && (10..70).contains(&y) { Rgba(ink) } else { Rgba([0, 0, 0, 0]) }
            });
            let px = mnist_pixels(&DynamicImage::ImageRgba8(img));
            assert!(in_range(&px));
            assert_eq!(px[0], 0.0, "ink {ink:?}: background black");
            assert!(px[14 * COLS + 14] > 0.9, "ink {ink:?}: stroke white");
            let (r0, r1, ..) = bbox(&px, 0.1);
            assert!((19..=21).contains(&(r1 - r0 + 1)), "ink {ink:?}: height {}", r1 - r0 + 1);
        }
    }

    #[test]
    fn blank_images_give_zeros() {
        for img in [
            DynamicImage::ImageLuma8(GrayImage::from_pixel(50, 40, Luma([255]))),
            DynamicImage::ImageLuma8(GrayImage::from_pixel(50, 40, Luma([0]))),
            DynamicImage::ImageLuma8(GrayImage::from_pixel(1, 1, Luma([128]))),
            DynamicImage::ImageRgba8(RgbaImage::from_pixel(30, 30, Rgba([0, 0, 0, 0]))),
            DynamicImage::ImageLuma8(GrayImage::new(0, 0)),
        ] {
            assert!(mnist_pixels(&img).iter().all(|&v| v == 0.0));
        }
    }

    #[test]
    fn load_digit_reads_png_and_names_missing_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("digit.png");
        let img = RgbaImage::from_fn(64, 64, |x, y| {
            let ink = (28..36).contains(&x) && (8..56).contains(&y);
            Rgba(if ink { [0, 0, 0, 255] } else { [250, 250, 240, 255] })
        });
        img.save(&path).unwrap();
        let px = load_digit(&path).unwrap();
        assert_eq!(px, mnist_pixels(&DynamicImage::ImageRgba8(img)));
        assert!(px[14 * COLS + 14] > 0.9 && px[0] == 0.0);

        let missing = dir.path().join("no-such-digit.png");
        let err = load_digit(&missing).unwrap_err();
        assert!(format!("{err:#}").contains("no-such-digit.png"), "{err:#}");
        assert_eq!(error::kind_of(&err), error::Kind::Data);

        let junk = dir.path().join("junk.png");
        std::fs::write(&junk, b"not a png").unwrap();
        let err = load_digit(&junk).unwrap_err();
        assert!(format!("{err:#}").contains("junk.png"), "{err:#}");
    }
}
