"""What the bench scripts share: mnist-lab's data layout and its IDX reader (header checked as
mnist-lab checks it). The scripts run as `python3 bench/NAME.py`, so this folder is on their path."""

import os
import struct
import sys
from pathlib import Path

VALIDATION = 10_000  # the last training images, held out as mnist-lab does
FILES = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]


def fail(msg, code=2):
    print(f"error: {msg}", file=sys.stderr)
    sys.exit(code)


def data_dir(root, dataset):
    """mnist-lab's layout: ROOT/<dataset>/ (ROOT: --data-dir, $MNIST_LAB_DATA, ~/.cache/mnist-lab)."""
    root = Path(root or os.environ.get("MNIST_LAB_DATA") or Path.home() / ".cache" / "mnist-lab")
    for d in (root / dataset, root):  # ROOT itself may be the folder with the four files
        if all((d / f).is_file() for f in FILES):
            return d
    fail(f"{root / dataset} lacks the IDX files; run `mnist-lab data fetch --dataset {dataset}` first", 3)


def read_idx(path):
    """An IDX file as a uint8 array of its declared shape."""
    data = Path(path).read_bytes()
    zero, dtype, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype != 0x08:
        fail(f"{path}: not an unsigned-byte IDX file", 3)
    dims = struct.unpack(">" + "I" * ndim, data[4 : 4 + 4 * ndim])
    import numpy as np  # here, so that scripts needing only `fail` run on a bare python3

    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(dims)):
        fail(f"{path}: {body.size} bytes of data, header says {dims}", 3)
    return body.reshape(dims)


def default_data_dir():
    root = os.environ.get("MNIST_LAB_DATA") or os.path.join(os.path.expanduser("~"), ".cache", "mnist-lab")
    return os.path.join(root, "mnist")


def load(data_dir):
    """Pixels scaled to [0, 1] and one-hot targets, split train / validation / test like mnist-lab."""
    import numpy as np

    missing = [f for f in FILES if not os.path.isfile(os.path.join(data_dir, f))]
    if missing:
        sys.exit(f"error: {data_dir} lacks {', '.join(missing)}; run `mnist-lab data fetch` first")
    xtr, ytr, xte, yte = (read_idx(os.path.join(data_dir, f)) for f in FILES)
    prep = lambda x: x.reshape(len(x), 784).astype("float32") / 255.0  # noqa: E731
    onehot = lambda y: np.eye(10, dtype="float32")[y]  # noqa: E731
    cut = len(xtr) - VALIDATION
    return {
        "train": (prep(xtr[:cut]), onehot(ytr[:cut])),
        "valid": (prep(xtr[cut:]), onehot(ytr[cut:])),
        "test": (prep(xte), onehot(yte)),
    }
