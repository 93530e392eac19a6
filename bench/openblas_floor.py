#!/usr/bin/env python3
"""The sgemm floor of `mnist-lab bench`, measured with OpenBLAS instead of the `gemm` crate.

Times the matrix products of one training epoch of a network, as src/bench/floor.rs does: per
batch and layer the forward product x·W, the weight gradient xᵀ·δ and, past the first layer, the
input gradient δ·Wᵀ, on numpy's bundled OpenBLAS with all its threads; median of five epochs'
worth (each timed over 40 batches and scaled up). Compare with the `sgemm floor s` column that
`mnist-lab bench` prints on the same machine, alternating the two.

    pip install numpy==2.4.6
    python3 bench/openblas_floor.py [--units 512 512] [--batch 128] [--images 50000]
"""

import argparse
import math
import statistics
import time

import numpy as np


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--units", type=int, nargs="+", default=[512, 512], help="hidden layer sizes (monster's)")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--images", type=int, default=50000, help="training images an epoch")
    args = p.parse_args()
    sizes = [784, *args.units, 10]
    rng = np.random.default_rng(0)
    mat = lambda r, c: rng.uniform(-0.5, 0.5, (r, c)).astype(np.float32)
    layers = [(mat(args.batch, i), mat(i, o), mat(args.batch, o)) for i, o in zip(sizes, sizes[1:])]

    def batch():
        for n, (x, w, d) in enumerate(layers):
            x @ w
            x.T @ d
            if n > 0:
                d @ w.T

    batches, sample = math.ceil(args.images / args.batch), 40
    for _ in range(5):
        batch()
    times = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(sample):
            batch()
        times.append((time.perf_counter() - start) * batches / sample)
    config = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
    print(f"{config['name']} {config.get('version', '')}: {statistics.median(times):.3f} s an epoch "
          f"(network 784-{'-'.join(map(str, args.units))}-10, batch {args.batch}, {args.images} images)")


if __name__ == "__main__":
    main()
