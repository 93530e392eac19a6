//! Stroke width, for `predict`: a digit written with a marker, or blurred by a camera, is thinned
//! (and one drawn with a fine pen thickened) to the stroke width of MNIST's digits before it is
//! shrunk to 28×28. A network trained on MNIST has seen few strokes much wider or thinner than
//! those, and reads a digit best at the width it learnt.
//!
//! The width is the ink's 2·area / perimeter (a stroke of length L and width w covers L·w pixels
//! inside a border ≈ 2L long), measured with the digit scaled so that its longer side is [`SIDE`]
//! pixels, and changed by grey-level erosion or dilation with a disc. Written here because the
//! `image` crate has no morphology, and the two loops are shorter than a dependency for them.

use image::imageops::{self, FilterType};
use image::{ImageBuffer, Luma};

pub type Gray = ImageBuffer<Luma<f32>, Vec<f32>>;

/// The digit's longer side while its strokes are measured and changed: 4× MNIST's 20-pixel box,
/// fine enough that a disc of one pixel changes the width by a quarter of an MNIST pixel.
pub const SIDE: u32 = 80;
/// MNIST's median stroke width at that scale: [`width`] of its training digits, each scaled 4×
/// (tests/suite/predict.rs recomputes it). About two pixels of a 28×28 digit.
pub const MNIST_WIDTH: f32 = 7.76;
/// Ink is what reaches half of full intensity.
const INK: f32 = 0.5;
/// The largest disc used: keeps the cost bounded on a filled blob, which has no strokes to fix.
const MAX_RADIUS: i32 = 16;

/// 2·area / perimeter of the pixels ≥ 0.5, in pixels; 0 without ink.
pub fn width(img: &Gray) -> f32 {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let ink = |x: usize, y: usize| img.as_raw()[y * w + x] >= INK;
    let (mut area, mut border) = (0usize, 0usize);
    for y in 0..h {
        for x in 0..w {
            if !ink(x, y) {
                continue;
            }
            area += 1;
            // Each side of an ink pixel that faces paper or the image's edge.
            border += usize::from(x == 0 || !ink(x - 1, y))
                + usize::from(x + 1 == w || !ink(x + 1, y))
                + usize::from(y == 0 || !ink(x, y - 1))
                + usize::from(y + 1 == h || !ink(x, y + 1));
        }
    }
    if border == 0 { 0.0 } else { 2.0 * area as f32 / border as f32 }
}

/// `crop` (the digit cropped to its ink, values in [0,1]) scaled so its longer side is [`SIDE`],
/// with its strokes brought to [`MNIST_WIDTH`], cropped to its ink again.
pub fn to_mnist_width(crop: &Gray) -> Gray {
    let longer = crop.width().max(crop.height()) as f32;
    let scale = SIDE as f32 / longer;
    let (sw, sh) = (
        ((crop.width() as f32 * scale).round() as u32).clamp(1, SIDE),
        ((crop.height() as f32 * scale).round() as u32).clamp(1, SIDE),
    );
    let scaled = imageops::resize(crop, sw, sh, FilterType::Triangle);
    // A margin of paper, so that dilation has room and erosion sees the edge as paper.
    let margin = MAX_RADIUS as u32;
    let mut canvas = Gray::new(sw + 2 * margin, sh + 2 * margin);
    imageops::replace(&mut canvas, &scaled, margin as i64, margin as i64);
    let r = ((width(&canvas) - MNIST_WIDTH) / 2.0).round() as i32;
    let changed = match r {
        0 => canvas,
        r if r > 0 => morph(&canvas, r.min(MAX_RADIUS), f32::min),
        r => morph(&canvas, (-r).min(MAX_RADIUS), f32::max),
    };
    // Erosion of a shape with no stroke narrower than the disc would leave nothing: keep it as is.
    match ink_box(&changed, INK) {
        Some(_) => crop_to(&changed),
        None => crop_to(&scaled),
    }
}

/// Grey-level erosion (`f32::min`) or dilation (`f32::max`) by a disc of radius `r`; outside
/// the image is paper (0).
fn morph(img: &Gray, r: i32, pick: fn(f32, f32) -> f32) -> Gray {
    let (w, h) = (img.width() as i32, img.height() as i32);
    let disc: Vec<(i32, i32)> = (-r..=r)
        .flat_map(|dy| (-r..=r).map(move |dx| (dx, dy)))
        .filter(|(dx, dy)| dx * dx + dy * dy <= r * r + r)
        .collect();
    let start = if pick(0.0, 1.0) == 0.0 { 1.0 } else { 0.0 };
    Gray::from_fn(w as u32, h as u32, |x, y| {
        let v = disc.iter().fold(start, |acc, (dx, dy)| {
            let (sx, sy) = (x as i32 + dx, y as i32 + dy);
            let inside = (0..w).contains(&sx) && (0..h).contains(&sy);
            pick(acc, if inside { img.get_pixel(sx as u32, sy as u32)[0] } else { 0.0 })
        });
        Luma([v])
    })
}

/// The smallest box (x0, y0, x1, y1), inclusive, holding every pixel above `t`.
fn ink_box(img: &Gray, t: f32) -> Option<(u32, u32, u32, u32)> {
    img.enumerate_pixels().filter(|(_, _, p)| p[0] > t).fold(None, |b, (x, y, _)| {
        let (x0, y0, x1, y1) = b.unwrap_or((x, y, x, y));
        Some((x0.min(x), y0.min(y), x1.max(x), y1.max(y)))
    })
}

/// `img` cropped to everything that is not paper.
fn crop_to(img: &Gray) -> Gray {
    match ink_box(img, 0.0) {
        Some((x0, y0, x1, y1)) => imageops::crop_imm(img, x0, y0, x1 - x0 + 1, y1 - y0 + 1).to_image(),
        None => img.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `len`×`thick` white bar on black, cropped (as image_input hands over a digit).
    fn bar(len: u32, thick: u32) -> Gray {
        Gray::from_pixel(len, thick, Luma([1.0]))
    }

    #[test]
    fn width_of_a_long_bar_is_its_thickness() {
        let mut canvas = Gray::new(120, 40);
        imageops::replace(&mut canvas, &bar(100, 6), 10, 17);
        let w = width(&canvas);
        assert!((w - 6.0 * 100.0 / 106.0).abs() < 1e-4, "{w}");
        assert_eq!(width(&Gray::new(10, 10)), 0.0);
    }

    #[test]
    fn thick_strokes_are_thinned_and_thin_ones_thickened_towards_mnist_width() {
        // An L of two strokes, 16 and 2 pixels wide at SIDE scale (a marker and a fine pen).
        for thick in [16u32, 2] {
            let mut l = Gray::new(SIDE, SIDE);
            imageops::replace(&mut l, &bar(thick, SIDE), 0, 0);
            imageops::replace(&mut l, &bar(SIDE, thick), 0, (SIDE - thick) as i64);
            let before = width(&l);
            let mut after = to_mnist_width(&l);
            after = {
                let mut c = Gray::new(after.width() + 4, after.height() + 4);
                imageops::replace(&mut c, &after, 2, 2);
                c
            };
            let w = width(&after);
            let (miss_before, miss_after) = ((before - MNIST_WIDTH).abs(), (w - MNIST_WIDTH).abs());
            assert!(miss_after < miss_before / 2.0 && miss_after < 2.0, "{thick}-pixel strokes: width {before} → {w}");
            assert!(after.width() <= SIDE + 4 + 2 * MAX_RADIUS as u32);
        }
    }

    #[test]
    fn strokes_of_mnist_width_are_left_alone() {
        let crop = bar(SIDE, 8);
        let out = to_mnist_width(&crop);
        assert_eq!(out.dimensions(), crop.dimensions());
        assert!(out.pixels().all(|p| (p[0] - 1.0).abs() < 1e-5));
    }

    #[test]
    fn a_filled_blob_is_never_erased() {
        let out = to_mnist_width(&Gray::from_pixel(30, 30, Luma([1.0])));
        assert!(out.pixels().any(|p| p[0] >= INK));
    }
}
