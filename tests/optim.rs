//! Optimizer steps against hand-computed values.

use burn::optim::Optimizer;
use burn::tensor::{Device, Tensor, TensorData, Tolerance};
use mnist_lab::train::optim::{Adadelta, AdadeltaState};

type Step = fn(&Adadelta, f64, Tensor<1>, Tensor<1>, AdadeltaState<1>) -> (Tensor<1>, Option<AdadeltaState<1>>);

/// Both implementations: the trait's `step` picks the host loop on CPU backends.
const PATHS: [(&str, Step); 2] = [("tensor ops", Adadelta::step_tensors), ("host loop", Adadelta::step_host)];

#[test]
fn adadelta_matches_hand_computed_steps() {
    // Reference computed in f64 with Keras' update rule (ρ = 0.95, ε = 1e-7, lr = 1):
    //   Eg ← ρEg + (1−ρ)g²;  Δ ← √(Ed+ε)/√(Eg+ε)·g;  Ed ← ρEd + (1−ρ)Δ²;  w ← w − lr·Δ
    // starting from w = [1, −2] with the three gradients below.
    let device = Device::default();
    let opt = Adadelta { rho: 0.95, epsilon: 1e-7 };
    let grads = [[0.5, -1.0], [0.25, 0.3], [-0.1, 0.2]];
    let expected = [[0.998585792, -1.998585788], [0.997672926, -1.999174135], [0.998073488, -1.999580607]];
    for (name, step) in PATHS {
        let mut w = Tensor::<1>::from_floats([1.0, -2.0], &device);
        let mut state = AdadeltaState { accum_grad: w.zeros_like(), accum_delta: w.zeros_like() };
        for (i, (g, want)) in grads.iter().zip(expected).enumerate() {
            let g = Tensor::<1>::from_floats(*g, &device);
            let (next, s) = step(&opt, 1.0, w, g, state);
            let got = next.to_data();
            assert!(
                got.as_slice::<f32>().unwrap().iter().zip(want).all(|(a, b)| (*a as f64 - b).abs() < 1e-6),
                "{name}, step {}: {got:?} vs {want:?}",
                i + 1
            );
            (w, state) = (next, s.expect("state"));
        }
    }
}

#[test]
fn adadelta_paths_agree_on_many_steps() {
    // The host loop and the tensor ops on 1 000 parameters over 50 steps of varied gradients.
    let device = Device::default();
    let opt = Adadelta { rho: 0.9, epsilon: 1e-6 };
    let n = 1000;
    let w0: Vec<f32> = (0..n).map(|i| ((i as f32) * 0.37).sin()).collect();
    let mut runs = Vec::new();
    for (_, step) in PATHS {
        let mut w = Tensor::<1>::from_floats(w0.as_slice(), &device);
        let mut state = AdadeltaState { accum_grad: w.zeros_like(), accum_delta: w.zeros_like() };
        for t in 0..50 {
            let g: Vec<f32> =
                (0..n).map(|i| ((i * 7 + t * 13) as f32 * 0.11).cos() * (1.0 + t as f32 / 10.0)).collect();
            let (next, s) = step(&opt, 0.5, w, Tensor::from_floats(g.as_slice(), &device), state);
            (w, state) = (next, s.expect("state"));
        }
        runs.push(w.to_data());
    }
    let moved = runs[0].as_slice::<f32>().unwrap().iter().zip(&w0).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
    assert!(moved > 1e-3, "the parameters moved ({moved})");
    runs[0].assert_approx_eq::<f32>(&runs[1], Tolerance::absolute(1e-6));
}

#[test]
fn adadelta_first_step_is_about_sqrt_eps() {
    // With empty accumulators the first step is √ε/√((1−ρ)g²+ε)·g ≈ √(ε/(1−ρ)) whatever g's
    // size: Adadelta's unit-correcting start. For g = 4: √(1e-7)/√(0.05·16 + 1e-7)·4.
    let device = Device::default();
    let opt = Adadelta { rho: 0.95, epsilon: 1e-7 };
    let (w, _) =
        opt.step(1.0, Tensor::<1>::from_floats([0.0], &device), Tensor::<1>::from_floats([4.0], &device), None);
    let want = -(1e-7f64).sqrt() / (0.05f64 * 16.0 + 1e-7).sqrt() * 4.0;
    w.to_data().assert_approx_eq::<f32>(&TensorData::from([want as f32]), Tolerance::absolute(1e-9));
}
