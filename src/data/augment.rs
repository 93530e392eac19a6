//! Data augmentation: new training images by warping existing ones. An affine map (rotation,
//! shift, zoom, shear) and Simard, Steinkraus & Platt's elastic distortion (2003) — a random
//! displacement field, uniform in [−1, 1] per pixel and axis, smoothed by a Gaussian of σ and
//! scaled by α — add up to one displacement per output pixel, so each image is resampled once,
//! bilinearly.
//!
//! Every image's randomness is a function of the epoch's seed and the image's position in the
//! epoch alone (a counter-based generator), so images can be warped in any order, on any thread
//! and ahead of time (`super::prefetch`) with the same result. Written by hand: the `image`
//! crate has no displacement-field warp, and on 28×28 the Gaussian is two small matrix
//! products per field, laid out here so that they vectorise.

use formats::config::AugmentationConfig;
use formats::idx::{COLS, PIXELS, ROWS};
use rayon::prelude::*;

use crate::random::draw;

/// Rows of the fields and the blur matrix are padded to 32 floats: whole vector registers.
const LANES: usize = 32;
/// A 28-row grid, each row padded to [`LANES`] (the padding stays zero).
type Grid = [[f32; LANES]; ROWS];
/// The source image on a zero canvas with a 2-pixel border, so that sampling never branches.
const BORDER: usize = 2;
const CANVAS: usize = COLS + 2 * BORDER;
/// The canvas, and room for the reads right of and below its last index.
const CANVAS_LEN: usize = CANVAS * CANVAS + CANVAS + 1;

/// Draws and applies the warps of one epoch.
#[derive(Clone)]
pub struct Augmenter {
    cfg: AugmentationConfig,
    key: u64,
    /// The Gaussian as a 28×28 matrix (zero outside the image, as if padded with zeros); `None`
    /// without elastic distortion.
    blur: Option<Box<Grid>>,
    /// Images handed out by [`Augmenter::batch`] so far: the next one's position.
    drawn: u64,
}

/// One affine warp: rotation (degrees, counter-clockwise), shift (pixels, +x right, +y down),
/// scale, and horizontal shear (degrees; + makes vertical strokes lean right).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Warp {
    pub degrees: f64,
    pub dx: f64,
    pub dy: f64,
    pub scale: f64,
    pub shear: f64,
}

impl Warp {
    pub const IDENTITY: Warp = Warp { degrees: 0.0, dx: 0.0, dy: 0.0, scale: 1.0, shear: 0.0 };
}

/// An elastic displacement per output pixel, in pixels: `dx[y][x]`, `dy[y][x]`.
#[derive(Clone)]
pub struct Field {
    pub dx: Grid,
    pub dy: Grid,
}

impl Field {
    fn zero() -> Self {
        Self { dx: [[0.0; LANES]; ROWS], dy: [[0.0; LANES]; ROWS] }
    }
}

impl Augmenter {
    /// The warps of the epoch whose augmentation seed is `seed`.
    pub fn new(cfg: AugmentationConfig, seed: u64) -> Self {
        let blur = (cfg.elastic_alpha > 0.0).then(|| gaussian_matrix(cfg.elastic_sigma));
        Self { key: draw(seed, u64::MAX), cfg, blur, drawn: 0 }
    }

    /// The affine warp of the image at `position` in the epoch.
    pub fn warp_at(&self, position: u64) -> Warp {
        let key = draw(self.key, position);
        // Uniform in [−r, r): the top 53 bits of a draw as a fraction.
        let sym = |i: u64, r: f64| if r > 0.0 { r * ((draw(key, i) >> 11) as f64 * 2f64.powi(-52) - 1.0) } else { 0.0 };
        let c = &self.cfg;
        Warp {
            degrees: sym(0, c.rotation),
            dx: sym(1, c.shift),
            dy: sym(2, c.shift),
            scale: 1.0 + sym(3, c.zoom),
            shear: sym(4, c.shear),
        }
    }

    /// The elastic displacement field of the image at `position`: α·G∗U per axis, U uniform in
    /// [−1, 1) per pixel, G the normalised Gaussian of σ. Zero when α = 0.
    pub fn field_at(&self, position: u64) -> Field {
        let mut field = Field::zero();
        if let Some(blur) = &self.blur {
            let key = draw(self.key, position);
            elastic(key, self.cfg.elastic_alpha as f32, blur, &mut Field::zero(), &mut field);
        }
        field
    }

    /// Warp `src` (u8, 784 pixels), the image at `position` in the epoch, into `dst` as [0, 1]
    /// floats.
    pub fn image(&self, src: &[u8], position: u64, dst: &mut [f32]) {
        self.fill(src, &[0], position, dst);
    }

    /// The images at `indices` of `images` (u8, 784 per image), warped as the next
    /// `indices.len()` positions of the epoch, as [0, 1] floats (split across the thread pool).
    pub fn batch(&mut self, images: &[u8], indices: &[i64]) -> Vec<f32> {
        let first = self.drawn;
        self.drawn += indices.len() as u64;
        let mut out = vec![0f32; indices.len() * PIXELS];
        out.par_chunks_mut(16 * PIXELS).zip(indices.par_chunks(16)).enumerate().for_each(|(c, (dst, idx))| {
            self.fill(images, idx, first + 16 * c as u64, dst);
        });
        out
    }

    /// The images at `indices` warped as positions `first..` of the epoch, into `out`, on this
    /// thread; with AVX-512 or AVX2 where the CPU has them.
    pub fn fill(&self, images: &[u8], indices: &[i64], first: u64, out: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        match crate::cpu::simd() {
            // SAFETY: `simd()` found AVX-512 F and DQ on this CPU.
            crate::cpu::Simd::Avx512 => return unsafe { self.fill_avx512(images, indices, first, out) },
            // SAFETY: `simd()` found AVX2 and FMA on this CPU.
            crate::cpu::Simd::Avx2Fma => return unsafe { self.fill_avx2(images, indices, first, out) },
            crate::cpu::Simd::Avx | crate::cpu::Simd::Portable => {}
        }
        self.fill_any(images, indices, first, out)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512dq")]
    unsafe fn fill_avx512(&self, images: &[u8], indices: &[i64], first: u64, out: &mut [f32]) {
        self.fill_any(images, indices, first, out)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn fill_avx2(&self, images: &[u8], indices: &[i64], first: u64, out: &mut [f32]) {
        self.fill_any(images, indices, first, out)
    }

    #[inline(always)]
    fn fill_any(&self, images: &[u8], indices: &[i64], first: u64, out: &mut [f32]) {
        // Scratch space shared by the images: every use overwrites what it reads (the canvas's
        // zero border is never written).
        let (mut field, mut noise, mut canvas) = (Field::zero(), Field::zero(), [0f32; CANVAS_LEN]);
        for (k, (dst, &i)) in out.chunks_exact_mut(PIXELS).zip(indices).enumerate() {
            let src = &images[i as usize * PIXELS..(i as usize + 1) * PIXELS];
            let position = first + k as u64;
            if let Some(blur) = &self.blur {
                // Draws 0..5 of the image's key went to the affine warp; the noise takes 8 on.
                let key = draw(self.key, position);
                elastic(key, self.cfg.elastic_alpha as f32, blur, &mut noise, &mut field);
            }
            resample(src, self.warp_at(position), &field, &mut canvas, dst);
        }
    }
}

/// Write `src` warped by `w` alone (no elastic field) into `dst` (both 28×28), pixels scaled to
/// [0, 1]; outside is black.
pub fn warp(src: &[u8], w: Warp, dst: &mut [f32]) {
    resample(src, w, &Field::zero(), &mut [0f32; CANVAS_LEN], dst);
}

/// The 28×28 matrix B with B[i][j] = g(i − j), g the Gaussian of `sigma` truncated at 4σ (as
/// SciPy's `gaussian_filter`) and normalised; B·U·B blurs U as a zero-padded image.
fn gaussian_matrix(sigma: f64) -> Box<Grid> {
    let radius = (4.0 * sigma).ceil() as i64;
    let g = |d: i64| (-(d * d) as f64 / (2.0 * sigma * sigma)).exp();
    let total: f64 = (-radius..=radius).map(g).sum();
    let mut b = Box::new([[0f32; LANES]; ROWS]);
    for (i, row) in b.iter_mut().enumerate() {
        for (j, v) in row.iter_mut().take(COLS).enumerate() {
            let d = i as i64 - j as i64;
            if d.abs() <= radius {
                *v = (g(d) / total) as f32;
            }
        }
    }
    b
}

/// B·(αU)·B for two noise grids U (x and y) drawn from `key`, into `field` (`noise`: scratch).
#[inline(always)]
fn elastic(key: u64, alpha: f32, blur: &Grid, noise: &mut Field, field: &mut Field) {
    // One 64-bit draw per pixel: its top 24 bits give the x noise, the next 24 the y noise, each
    // uniform in [−α, α).
    let scale = alpha / 8_388_608.0;
    let unit = |bits: u64| (bits & 0xFF_FFFF) as f32 * scale - alpha;
    for (y, (rx, ry)) in noise.dx.iter_mut().zip(&mut noise.dy).enumerate() {
        for x in 0..COLS {
            let d = draw(key, (8 + y * COLS + x) as u64);
            (rx[x], ry[x]) = (unit(d >> 40), unit(d >> 16));
        }
    }
    // U·B into `noise` itself would overwrite what it still reads: go through `field`.
    product(&noise.dx, blur, &mut field.dx);
    product(blur, &field.dx, &mut noise.dx);
    product(&noise.dy, blur, &mut field.dy);
    product(blur, &field.dy, &mut noise.dy);
    std::mem::swap(noise, field);
}

/// out = a·m, a's 28 columns by m's rows: each output row a sum of scaled rows of m, two output
/// rows at a time so that their sums stay in vector registers.
#[inline(always)]
fn product(a: &Grid, m: &Grid, out: &mut Grid) {
    for (a2, o2) in a.chunks_exact(2).zip(out.chunks_exact_mut(2)) {
        let (mut s0, mut s1) = ([0f32; LANES], [0f32; LANES]);
        for (k, m_row) in m.iter().enumerate() {
            let (c0, c1) = (a2[0][k], a2[1][k]);
            for j in 0..LANES {
                s0[j] += c0 * m_row[j];
                s1[j] += c1 * m_row[j];
            }
        }
        (o2[0], o2[1]) = (s0, s1);
    }
}

/// `dst`(x, y) = `src` bilinearly sampled at A⁻¹(x, y) + field(x, y): the inverse of the affine
/// warp `w` about the image centre, plus the elastic displacement.
#[inline(always)]
fn resample(src: &[u8], w: Warp, field: &Field, canvas: &mut [f32; CANVAS_LEN], dst: &mut [f32]) {
    for (y, row) in src.chunks_exact(COLS).enumerate() {
        let at = (y + BORDER) * CANVAS + BORDER;
        canvas[at..at + COLS].iter_mut().zip(row).for_each(|(c, &p)| *c = p as f32 * (1.0 / 255.0));
    }
    let (c_x, c_y) = ((COLS as f32 - 1.0) / 2.0, (ROWS as f32 - 1.0) / 2.0);
    // Inverse map: for each output pixel find where it came from. With y pointing down, a
    // counter-clockwise rotation on screen by θ maps the output back by +θ in these coordinates;
    // then the shear x' = x − t·y (t = tan φ) is undone, then the scale.
    let (sin, cos) = w.degrees.to_radians().sin_cos();
    let t = w.shear.to_radians().tan();
    let m = [(cos + t * sin) / w.scale, (t * cos - sin) / w.scale, sin / w.scale, cos / w.scale].map(|v| v as f32);
    let (dx, dy) = (w.dx as f32, w.dy as f32);
    // Canvas coordinates, clamped into the border (anything beyond it reads the zero border),
    // where they are at least 0.5: truncation is the floor there.
    let (lo, hi) = (0.5f32, (COLS + 2 * BORDER) as f32 - 1.5);
    let (mut corner, mut fx, mut fy) = ([0i32; LANES], [0f32; LANES], [0f32; LANES]);
    for (y, out) in dst.chunks_exact_mut(COLS).enumerate() {
        let v = y as f32 - c_y - dy;
        // Where each pixel of the row comes from: whole rows at a time, in vector registers.
        for x in 0..LANES {
            let u = x as f32 - c_x - dx;
            let sx = (c_x + BORDER as f32 + m[0] * u + m[1] * v + field.dx[y][x]).clamp(lo, hi);
            let sy = (c_y + BORDER as f32 + m[2] * u + m[3] * v + field.dy[y][x]).clamp(lo, hi);
            let (x0, y0) = (sx as i32, sy as i32);
            (fx[x], fy[x]) = (sx - x0 as f32, sy - y0 as f32);
            corner[x] = y0 * CANVAS as i32 + x0;
        }
        for x in 0..COLS {
            // The mask keeps the four reads provably inside the canvas (they are anyway).
            let i = corner[x] as usize & (CANVAS * CANVAS - 1);
            let top = canvas[i] + fx[x] * (canvas[i + 1] - canvas[i]);
            let bottom = canvas[i + CANVAS] + fx[x] * (canvas[i + CANVAS + 1] - canvas[i + CANVAS]);
            out[x] = top + fy[x] * (bottom - top);
        }
    }
}

#[cfg(test)]
mod tests;
