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

fn centre_of_mass(img: &[f32]) -> (f32, f32) {
    let mass: f32 = img.iter().sum();
    let x = img.iter().enumerate().map(|(i, v)| (i % COLS) as f32 * v).sum::<f32>() / mass;
    let y = img.iter().enumerate().map(|(i, v)| (i / COLS) as f32 * v).sum::<f32>() / mass;
    (x, y)
}

fn elastic(alpha: f64, sigma: f64) -> AugmentationConfig {
    AugmentationConfig { elastic_alpha: alpha, elastic_sigma: sigma, ..Default::default() }
}

#[test]
fn integer_shift_moves_pixels_exactly() {
    let mut out = vec![0f32; PIXELS];
    warp(&one_pixel(10, 10), Warp { dx: 2.0, dy: -3.0, ..Warp::IDENTITY }, &mut out);
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
    warp(&img, Warp { degrees: 90.0, ..Warp::IDENTITY }, &mut out);
    for (x, y) in [(13, 6), (14, 6), (13, 7), (14, 7)] {
        assert!(out[y * COLS + x] > 0.99, "({x},{y}) lit: {}", out[y * COLS + x]);
    }
}

#[test]
fn shear_leans_the_top_right_and_the_bottom_left() {
    // A vertical bar through the centre column; +30° of shear moves a row r pixels above the
    // centre tan(30°)·r to the right (and one below to the left), keeping the ink.
    let mut bar = vec![0u8; PIXELS];
    for y in 4..24 {
        bar[y * COLS + 13] = 255;
        bar[y * COLS + 14] = 255;
    }
    let mut out = vec![0f32; PIXELS];
    warp(&bar, Warp { shear: 30.0, ..Warp::IDENTITY }, &mut out);
    let t = 30f32.to_radians().tan();
    let row_centre = |y: usize| centre_of_mass(&out[y * COLS..(y + 1) * COLS]).0;
    for y in [5usize, 8, 19, 22] {
        let want = 13.5 + t * (13.5 - y as f32);
        assert!((row_centre(y) - want).abs() < 0.05, "row {y}: centre {} vs {want}", row_centre(y));
    }
    let (before, after) = (bar.iter().map(|&p| p as f32 / 255.0).sum::<f32>(), out.iter().sum::<f32>());
    assert!((before - after).abs() < 1e-3 * before, "ink {before} → {after}");
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
fn alpha_zero_is_the_identity_whatever_sigma() {
    let images: Vec<u8> = (0..PIXELS).map(|i| (i * 13 % 256) as u8).collect();
    for sigma in [0.5, 4.0, 20.0] {
        let mut aug = Augmenter::new(elastic(0.0, sigma), 5);
        let out = aug.batch(&images, &[0]);
        assert!(out.iter().zip(&images).all(|(o, &p)| (o - p as f32 / 255.0).abs() < 1e-6), "σ = {sigma}");
    }
}

#[test]
fn random_warps_stay_within_configured_ranges_and_are_seeded() {
    let cfg = AugmentationConfig { rotation: 10.0, shift: 2.0, zoom: 0.1, shear: 15.0, ..Default::default() };
    let (a, b, c) = (Augmenter::new(cfg.clone(), 7), Augmenter::new(cfg.clone(), 7), Augmenter::new(cfg, 8));
    let mut differ = 0;
    for i in 0..1000 {
        let w = a.warp_at(i);
        assert_eq!(w, b.warp_at(i));
        differ += (w != c.warp_at(i)) as usize;
        assert!(w.degrees.abs() <= 10.0 && w.dx.abs() <= 2.0 && w.dy.abs() <= 2.0 && w.shear.abs() <= 15.0);
        assert!((0.9..=1.1).contains(&w.scale));
    }
    assert_eq!(differ, 1000, "another seed draws other warps");
    // The draws cover their range: none stuck at one end.
    let degrees: Vec<f64> = (0..1000).map(|i| a.warp_at(i).degrees).collect();
    assert!(degrees.iter().any(|&d| d > 9.0) && degrees.iter().any(|&d| d < -9.0));
}

/// Pearson correlation of each displacement with its right-hand neighbour's, over `n` fields.
fn neighbour_correlation(aug: &Augmenter, n: u64) -> f64 {
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for i in 0..n {
        let f = aug.field_at(i);
        for grid in [&f.dx, &f.dy] {
            // Away from the border, where the zero padding thins the blur.
            for row in &grid[8..20] {
                for x in 8..19 {
                    a.push(row[x] as f64);
                    b.push(row[x + 1] as f64);
                }
            }
        }
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let (ma, mb) = (mean(&a), mean(&b));
    let cov: f64 = a.iter().zip(&b).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let (va, vb): (f64, f64) = (a.iter().map(|x| (x - ma).powi(2)).sum(), b.iter().map(|y| (y - mb).powi(2)).sum());
    cov / (va * vb).sqrt()
}

#[test]
fn the_field_is_smooth_for_a_wide_gaussian_and_rough_for_a_narrow_one() {
    // Blurred white noise: neighbours correlate by about exp(−1/(4σ²)): 0.98 for σ = 4; for
    // σ = 0.5 the discrete kernel (0.11, 0.79, 0.11) gives 0.26.
    let smooth = neighbour_correlation(&Augmenter::new(elastic(34.0, 4.0), 1), 200);
    let rough = neighbour_correlation(&Augmenter::new(elastic(34.0, 0.5), 1), 200);
    assert!(smooth > 0.95, "σ = 4: neighbour correlation {smooth}");
    assert!((0.15..0.4).contains(&rough), "σ = 0.5: neighbour correlation {rough}");
}

fn rms_displacement(aug: &Augmenter, n: u64) -> f64 {
    let mut sum = 0.0;
    for i in 0..n {
        let f = aug.field_at(i);
        for y in 0..ROWS {
            for x in 0..COLS {
                sum += (f.dx[y][x] as f64).powi(2) + (f.dy[y][x] as f64).powi(2);
            }
        }
    }
    (sum / (n as f64 * PIXELS as f64)).sqrt()
}

#[test]
fn the_displacement_grows_linearly_with_alpha() {
    let rms: Vec<f64> =
        [1.0, 8.0, 34.0].iter().map(|&a| rms_displacement(&Augmenter::new(elastic(a, 4.0), 3), 50)).collect();
    for (r, a) in rms.iter().zip([1.0, 8.0, 34.0]) {
        assert!((r / rms[0] - a).abs() < 1e-3 * a, "α = {a}: RMS {r} vs {} at α = 1", rms[0]);
    }
    // Uniform noise has variance 1/3; a normalised Gaussian of σ = 4 keeps 1/(4πσ²) of it in
    // the middle (less near the zero-padded border), per axis: ≈ 34·√(2/3/201) ≈ 1.96 px.
    assert!((1.2..2.1).contains(&rms[2]), "α = 34, σ = 4: RMS displacement {} px", rms[2]);
    assert_eq!(rms_displacement(&Augmenter::new(elastic(0.0, 4.0), 3), 5), 0.0);
}

#[test]
fn elastic_warps_are_seeded_per_image_position_and_move_ink() {
    let images: Vec<u8> = (0..3 * PIXELS).map(|i| if ((i % COLS) / 4).is_multiple_of(2) { 200 } else { 0 }).collect();
    let cfg = AugmentationConfig { rotation: 5.0, elastic_alpha: 34.0, ..Default::default() };
    let order = [2, 0, 1, 0];
    let a = Augmenter::new(cfg.clone(), 11).batch(&images, &order);
    // Same seed: the same images, whether drawn in one batch or in pieces.
    let mut pieces = Augmenter::new(cfg.clone(), 11);
    let mut b = pieces.batch(&images, &order[..1]);
    b.extend(pieces.batch(&images, &order[1..]));
    assert!(a == b);
    // Another seed, or another position for the same image, warps differently.
    let c = Augmenter::new(cfg, 12).batch(&images, &order);
    assert!(a != c);
    assert!(a[PIXELS..2 * PIXELS] != a[3 * PIXELS..]);
    let orig: Vec<f32> = images[..PIXELS].iter().map(|&p| p as f32 / 255.0).collect();
    let moved = a[PIXELS..2 * PIXELS].iter().zip(&orig).filter(|(x, y)| (*x - *y).abs() > 0.05).count();
    assert!(moved > 100, "only {moved} pixels changed");
}
