//! Weights for other programs: safetensors in PyTorch's layout.
