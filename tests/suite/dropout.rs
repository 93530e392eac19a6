//! Dropout's mask: rate, scaling, reproducibility, and what the layer does to values and gradients.

use burn::nn::DropoutConfig;
use burn::tensor::{Device, Tensor};
use mnist_lab::model::dropout;
use mnist_lab::random;

#[test]
fn host_mask_keeps_the_right_share_scaled() {
    random::seed(7);
    let keep = 0.8;
    let mask = dropout::host_mask(100_001, keep);
    assert_eq!(mask.len(), 100_001);
    let scale = (1.0 / keep) as f32;
    assert!(mask.iter().all(|&v| v == 0.0 || v == scale), "only 0 and 1/keep");
    let kept = mask.iter().filter(|&&v| v != 0.0).count() as f64 / mask.len() as f64;
    // 4.7 standard deviations of a binomial share of 100 001 draws.
    assert!((kept - keep).abs() < 0.006, "kept share {kept}");
    let mean = mask.iter().map(|&v| v as f64).sum::<f64>() / mask.len() as f64;
    assert!((mean - 1.0).abs() < 0.008, "expectation preserved: {mean}");
}

#[test]
fn host_mask_repeats_after_reseeding() {
    random::seed(42);
    let a = dropout::host_mask(1000, 0.5);
    let b = dropout::host_mask(1000, 0.5);
    random::seed(42);
    let c = dropout::host_mask(1000, 0.5);
    assert_eq!(a, c, "same seed, same mask");
    assert_ne!(a, b, "the generator moves on between batches");
}

#[test]
fn host_mask_element_depends_on_key_and_position_only() {
    // Drawn in parallel chunks of 16 384 and vector-wide inside them: a longer mask from the same
    // key must start with the shorter one, whatever the chunking, vector body or loop tail.
    random::seed(3);
    let short = dropout::host_mask(1_003, 0.7);
    random::seed(3);
    let long = dropout::host_mask(50_000, 0.7);
    assert_eq!(short[..], long[..1_003]);
    // Neighbouring elements are not copies of each other (a broken counter would repeat them).
    let same = long.windows(2).filter(|w| w[0] == w[1]).count() as f64 / (long.len() - 1) as f64;
    let expected = 0.7f64.powi(2) + 0.3f64.powi(2);
    assert!((same - expected).abs() < 0.02, "neighbours agree {same}, independent draws {expected}");
}

#[test]
fn layer_masks_values_and_gradients_alike_and_a_frozen_one_is_the_identity() {
    let layer = DropoutConfig::new(0.5).init();
    let device = Device::default().autodiff();
    let x = Tensor::<2>::ones([64, 64], &device).require_grad();
    let y = dropout::forward(&layer, x.clone());
    let grads = (y.clone() * 3.0).sum().backward();
    let dx = x.grad(&grads).expect("gradient").to_data().try_to_vec::<f32>().unwrap();
    let y = y.inner().to_data().try_to_vec::<f32>().unwrap();
    assert!(y.iter().all(|&v| v == 0.0 || v == 2.0));
    let dropped = y.iter().filter(|&&v| v == 0.0).count();
    assert!((1700..2400).contains(&dropped), "about half of 4096 dropped: {dropped}");
    for (v, d) in y.iter().zip(&dx) {
        assert_eq!(*d, *v * 3.0, "a dropped unit gets no gradient, a kept one 3·(1/keep)");
    }
    let frozen = burn::module::Module::freeze(layer);
    let out = dropout::forward(&frozen, Tensor::<2>::ones([4, 4], &device)).inner().to_data();
    assert!(out.try_to_vec::<f32>().unwrap().iter().all(|&v| v == 1.0), "a frozen layer leaves values alone");
}
