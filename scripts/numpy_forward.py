#!/usr/bin/env python3
"""Run an mnist-lab model.safetensors on the MNIST test set with nothing but NumPy.

Usage: python3 scripts/numpy_forward.py MODEL.safetensors DATA_DIR
  DATA_DIR holds t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte (e.g. ~/.cache/mnist-lab/mnist).
Needs: pip install safetensors numpy

The file holds layers.{i}.weight [out, in] and layers.{i}.bias [out] (PyTorch's nn.Linear layout);
its metadata names the hidden activations ("activations", comma-separated) and the output ("output").
"""
import sys
from pathlib import Path

import numpy as np
from safetensors import safe_open
from safetensors.numpy import load_file

ACTIVATIONS = {
    "sigmoid": lambda z: 0.5 * (1.0 + np.tanh(0.5 * z)),  # = 1/(1+e^-z), without exp overflow
    "tanh": np.tanh,
    "relu": lambda z: np.maximum(z, 0.0),
}


def read_idx(path, header_bytes):
    # IDX: a big-endian header (magic, sizes) then unsigned bytes.
    return np.frombuffer(Path(path).read_bytes()[header_bytes:], dtype=np.uint8)


def main(model_path, data_dir):
    tensors = load_file(model_path)
    with safe_open(model_path, "np") as f:
        meta = f.metadata()
    hidden = meta["activations"].split(",") if meta["activations"] else []
    n_layers = len(hidden) + 1

    images = read_idx(Path(data_dir) / "t10k-images-idx3-ubyte", 16).reshape(-1, 784)
    labels = read_idx(Path(data_dir) / "t10k-labels-idx1-ubyte", 8)
    x = images.astype(np.float32) / 255.0

    for i in range(n_layers):
        x = x @ tensors[f"layers.{i}.weight"].T + tensors[f"layers.{i}.bias"]
        if i < len(hidden):
            x = ACTIVATIONS[hidden[i]](x)
    # The output activation (meta["output"]: sigmoid or softmax) is monotonic, so the
    # predicted class is the argmax of the last layer's pre-activations.
    accuracy = float(np.mean(x.argmax(axis=1) == labels))
    print(f"accuracy: {accuracy:.4f}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
