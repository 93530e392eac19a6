//! Data augmentation: new training images by rotating, shifting and zooming existing ones.
//!
//! Each image gets its own random affine warp every time it is drawn, seeded, on training batches
//! only. The warp is an inverse map with bilinear sampling (the `image` crate has no affine warp;
//! this is the whole of it), done on the host while the device trains on the previous batch.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::idx::{COLS, PIXELS, ROWS};
use crate::config::AugmentationConfig;

pub struct Augmenter {
    cfg: AugmentationConfig,
    rng: StdRng,
}

/// One warp: rotation (degrees, counter-clockwise), shift (pixels, +x right, +y down), scale.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Warp {
    pub degrees: f64,
    pub dx: f64,
    pub dy: f64,
    pub scale: f64,
}

impl Augmenter {
    pub fn new(cfg: AugmentationConfig, seed: u64) -> Self {
        Self { cfg, rng: StdRng::seed_from_u64(seed) }
    }

    fn draw(&mut self) -> Warp {
        let mut sym = |r: f64| if r > 0.0 { self.rng.random_range(-r..=r) } else { 0.0 };
        Warp {
            degrees: sym(self.cfg.rotation),
            dx: sym(self.cfg.shift),
            dy: sym(self.cfg.shift),
            scale: 1.0 + sym(self.cfg.zoom),
        }
    }

    /// The images at `indices` of `images` (u8, 784 per image), each randomly warped, as [0,1] floats.
    pub fn batch(&mut self, images: &[u8], indices: &[i64]) -> Vec<f32> {
        let mut out = vec![0f32; indices.len() * PIXELS];
        for (dst, &i) in out.chunks_exact_mut(PIXELS).zip(indices) {
            let src = &images[i as usize * PIXELS..(i as usize + 1) * PIXELS];
            let w = self.draw();
            warp(src, w, dst);
        }
        out
    }
}

/// Write `src` warped by `w` into `dst` (both 28×28), pixels scaled to [0,1]; outside is black.
pub fn warp(src: &[u8], w: Warp, dst: &mut [f32]) {
    let (c_x, c_y) = ((COLS as f64 - 1.0) / 2.0, (ROWS as f64 - 1.0) / 2.0);
    // Inverse map: for each output pixel find where it came from. With y pointing down, a
    // counter-clockwise rotation on screen by θ maps the output back by +θ in these coordinates.
    let (sin, cos) = w.degrees.to_radians().sin_cos();
    let at = |x: isize, y: isize| -> f64 {
        if x < 0 || y < 0 || x >= COLS as isize || y >= ROWS as isize {
            0.0
        } else {
            src[y as usize * COLS + x as usize] as f64
        }
    };
    for y in 0..ROWS {
        for x in 0..COLS {
            let u = (x as f64 - c_x - w.dx) / w.scale;
            let v = (y as f64 - c_y - w.dy) / w.scale;
            let sx = cos * u - sin * v + c_x;
            let sy = sin * u + cos * v + c_y;
            let (x0, y0) = (sx.floor(), sy.floor());
            let (fx, fy) = (sx - x0, sy - y0);
            let (x0, y0) = (x0 as isize, y0 as isize);
            let value = at(x0, y0) * (1.0 - fx) * (1.0 - fy)
                + at(x0 + 1, y0) * fx * (1.0 - fy)
                + at(x0, y0 + 1) * (1.0 - fx) * fy
                + at(x0 + 1, y0 + 1) * fx * fy;
            dst[y * COLS + x] = (value / 255.0) as f32;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one_pixel(x: usize, y: usize) -> Vec<u8> {
        let mut img = vec![0u8; PIXELS];
        img[y * COLS + x] = 255;
        img
    }

    fn brightest(img: &[f32]) -> (usize, usize) {
        let i = (0..PIXELS).max_by(|&a, &b| img[a].total_cmp(&img[b])).unwrap();
        (i % COLS, i / COLS)
    }

    #[test]
    fn integer_shift_moves_pixels_exactly() {
        let mut out = vec![0f32; PIXELS];
        warp(&one_pixel(10, 10), Warp { degrees: 0.0, dx: 2.0, dy: -3.0, scale: 1.0 }, &mut out);
        assert_eq!(brightest(&out), (12, 7));
        assert!((out[7 * COLS + 12] - 1.0).abs() < 1e-6);
        assert!((out.iter().sum::<f32>() - 1.0).abs() < 1e-5, "mass is kept");
    }

    #[test]
    fn quarter_turn_is_counter_clockwise_about_the_centre() {
        // (20, 13.5) is 6.5 px right of the centre (13.5, 13.5); a counter-clockwise quarter turn
        // on screen (y down) takes it 6.5 px above the centre: (13.5, 7). Use a 2×2 block.
        let mut img = vec![0u8; PIXELS];
        for (x, y) in [(20, 13), (20, 14), (21, 13), (21, 14)] {
            img[y * COLS + x] = 255;
        }
        let mut out = vec![0f32; PIXELS];
        warp(&img, Warp { degrees: 90.0, dx: 0.0, dy: 0.0, scale: 1.0 }, &mut out);
        for (x, y) in [(13, 6), (14, 6), (13, 7), (14, 7)] {
            assert!(out[y * COLS + x] > 0.99, "({x},{y}) lit: {}", out[y * COLS + x]);
        }
    }

    #[test]
    fn identity_keeps_the_image_and_batches_follow_indices() {
        let images: Vec<u8> = (0..2 * PIXELS).map(|i| (i % 251) as u8).collect();
        let mut aug = Augmenter::new(AugmentationConfig::default(), 1);
        let out = aug.batch(&images, &[1, 0]);
        for (k, &i) in [1usize, 0].iter().enumerate() {
            for p in 0..PIXELS {
                assert!((out[k * PIXELS + p] - images[i * PIXELS + p] as f32 / 255.0).abs() < 1e-6);
            }
        }
    }

    #[test]
    fn random_warps_stay_within_configured_ranges_and_are_seeded() {
        let cfg = AugmentationConfig { rotation: 10.0, shift: 2.0, zoom: 0.1 };
        let mut a = Augmenter::new(cfg.clone(), 7);
        let mut b = Augmenter::new(cfg, 7);
        for _ in 0..1000 {
            let w = a.draw();
            assert_eq!(w, b.draw());
            assert!(w.degrees.abs() <= 10.0 && w.dx.abs() <= 2.0 && w.dy.abs() <= 2.0);
            assert!((0.9..=1.1).contains(&w.scale));
        }
    }
}
