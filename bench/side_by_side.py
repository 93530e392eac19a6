#!/usr/bin/env python3
"""Keras and mnist-lab side by side, interleaved: the ratio of their training-epoch times.

A shared or virtual machine drifts by tens of percent within minutes, so one Keras run followed
by one mnist-lab run can put the two in different weather. This script alternates them for
`--rounds` rounds (Keras first, then mnist-lab, each in its own process), prints every round and
the medians over rounds, and the ratio mnist-lab / Keras per network.

    cargo build --release
    python3 bench/side_by_side.py --rounds 4 --model monster

Needs what bench/keras_reference.py needs (bench/README.md, "Install").
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def run(cmd):
    """Runs one side quietly; on failure shows what it said and stops."""
    done = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if done.returncode != 0:
        sys.exit(f"error: {' '.join(cmd)} exited with {done.returncode}:\n{done.stderr}")


def first_result(path, key, value):
    results = json.load(open(path))["results"]
    return next(r for r in results if r[key] == value)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=4)
    p.add_argument("--model", choices=["baseline", "monster", "all"], default="all")
    p.add_argument("--bin", default=os.path.join(HERE, "..", "target", "release", "mnist-lab"),
                   help="the mnist-lab binary (default: target/release/mnist-lab)")
    p.add_argument("--backend", default="flex")
    p.add_argument("--data-dir", help="passed to both sides")
    args = p.parse_args()
    if not os.access(args.bin, os.X_OK):
        sys.exit(f"error: no mnist-lab binary at {args.bin}; run `cargo build --release` first")
    models = ["baseline", "monster"] if args.model == "all" else [args.model]
    data = ["--data-dir", args.data_dir] if args.data_dir else []
    times = {m: ([], []) for m in models}
    with tempfile.TemporaryDirectory() as tmp:
        keras_json, lab_json = os.path.join(tmp, "keras.json"), os.path.join(tmp, "lab.json")
        for r in range(1, args.rounds + 1):
            for m in models:
                # Defaults match: 1 warm-up epoch + 3 timed ones on each side.
                run([sys.executable, os.path.join(HERE, "keras_reference.py"), "--model", m,
                     "--epochs", "4", "--json", keras_json] + data)
                run([args.bin, "bench", "--backend", args.backend, "--preset", m, "--runs", "3",
                     "--json", lab_json] + data)
                k = first_result(keras_json, "model", m)["train_seconds"]
                t = first_result(lab_json, "preset", m)["train_seconds"]
                times[m][0].append(k)
                times[m][1].append(t)
                print(f"round {r} {m}: Keras {k:.2f} s, mnist-lab {t:.2f} s, ratio {t / k:.2f}", flush=True)
    print("\n| network | Keras epoch s (train), median | mnist-lab | ratio |\n|---|---|---|---|")
    for m, (k, t) in times.items():
        km, tm = statistics.median(k), statistics.median(t)
        print(f"| {m} | {km:.2f} | {tm:.2f} | {tm / km:.2f}× |")


if __name__ == "__main__":
    main()
