//! User images (PNG/JPEG of any size) → MNIST-style 28×28 inputs.
