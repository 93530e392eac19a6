//! Optimizer steps against hand-computed values.

use burn::optim::Optimizer;
use burn::tensor::{Device, Tensor, TensorData, Tolerance};
use mnist_lab::train::optim::Adadelta;

#[test]
fn adadelta_matches_hand_computed_steps() {
    // Reference computed in f64 with Keras' update rule (ρ = 0.95, ε = 1e-7, lr = 1):
    //   Eg ← ρEg + (1−ρ)g²;  Δ ← √(Ed+ε)/√(Eg+ε)·g;  Ed ← ρEd + (1−ρ)Δ²;  w ← w − lr·Δ
    // starting from w = [1, −2] with the three gradients below.
    let device = Device::default();
    let opt = Adadelta { rho: 0.95, epsilon: 1e-7 };
    let grads = [[0.5, -1.0], [0.25, 0.3], [-0.1, 0.2]];
    let expected = [
        [0.998585792, -1.998585788],
        [0.997672926, -1.999174135],
        [0.998073488, -1.999580607],
    ];
    let mut w = Tensor::<1>::from_floats([1.0, -2.0], &device);
    let mut state = None;
    for (g, want) in grads.iter().zip(expected) {
        let g = Tensor::<1>::from_floats(*g, &device);
        let (next, s) = opt.step(1.0, w, g, state);
        next.to_data()
            .assert_approx_eq::<f32>(&TensorData::from(want), Tolerance::absolute(1e-6));
        w = next;
        state = s;
    }
}

#[test]
fn adadelta_first_step_is_about_sqrt_eps() {
    // With empty accumulators the first step is √ε/√((1−ρ)g²+ε)·g ≈ √(ε/(1−ρ)) whatever g's
    // size: Adadelta's unit-correcting start. For g = 4: √(1e-7)/√(0.05·16 + 1e-7)·4.
    let device = Device::default();
    let opt = Adadelta { rho: 0.95, epsilon: 1e-7 };
    let (w, _) = opt.step(1.0, Tensor::<1>::from_floats([0.0], &device), Tensor::<1>::from_floats([4.0], &device), None);
    let want = -(1e-7f64).sqrt() / (0.05f64 * 16.0 + 1e-7).sqrt() * 4.0;
    w.to_data().assert_approx_eq::<f32>(&TensorData::from([want as f32]), Tolerance::absolute(1e-9));
}
