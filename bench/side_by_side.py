#!/usr/bin/env python3
"""mnist-lab and its peers side by side, interleaved: the ratio of their training-epoch times.

A shared or virtual machine drifts by tens of percent within minutes, so one Keras run followed
by one mnist-lab run can put the two in different weather. This script alternates them for
`--rounds` rounds: in every round and for every network, each chosen peer framework and then
mnist-lab, each in its own process, on the same IDX files and split. It prints every round, the
medians over rounds, and mnist-lab's ratio to each peer per network.

Peers (`--frameworks`, comma-separated; default `keras`):
  keras      Keras 3 on TensorFlow (bench/keras_reference.py)
  keras-jax  Keras 3 on JAX, jit-compiled (bench/keras_reference.py --backend jax)
  torch      PyTorch, eager, CPU (bench/torch_reference.py --device cpu)

    cargo build --release
    python3 bench/side_by_side.py --rounds 4 --model monster --frameworks keras,keras-jax,torch

Needs what the chosen peers need (bench/README.md, "Install").
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))

# name: (label in tables, script, extra arguments)
PEERS = {
    "keras": ("Keras/TF", "keras_reference.py", ["--backend", "tensorflow"]),
    "keras-jax": ("Keras/JAX", "keras_reference.py", ["--backend", "jax"]),
    "torch": ("PyTorch", "torch_reference.py", ["--device", "cpu"]),
}


def run(cmd, env=None):
    """Runs one side quietly; on failure shows what it said and stops."""
    done = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    if done.returncode != 0:
        sys.exit(f"error: {' '.join(cmd)} exited with {done.returncode}:\n{done.stderr}")


def first_result(path, key, value):
    with open(path) as f:
        results = json.load(f)["results"]
    return next(r for r in results if r[key] == value)


def python_for(name, choices):
    """The interpreter for a peer: `--python NAME=PATH` for it, else a plain `--python PATH`, else ours."""
    plain = sys.executable
    for c in choices:
        peer, sep, path = c.partition("=")
        if sep and peer == name:
            return path
        if not sep:
            plain = c
    return plain


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("--rounds", type=int, default=4)
    p.add_argument("--model", choices=["baseline", "monster", "all"], default="all")
    p.add_argument("--frameworks", default="keras",
                   help=f"peers to run beside mnist-lab, comma-separated: {', '.join(PEERS)} (default keras)")
    p.add_argument("--bin", default=os.path.join(HERE, "..", "target", "release", "mnist-lab"),
                   help="the mnist-lab binary (default: target/release/mnist-lab)")
    p.add_argument("--backend", default="flex", help="mnist-lab's backend (default flex)")
    p.add_argument("--data-dir", help="data root as mnist-lab takes it (holding mnist/); default: "
                   "$MNIST_LAB_DATA, else ~/.cache/mnist-lab")
    p.add_argument("--threads", type=int, default=0,
                   help="threads for every side: RAYON_NUM_THREADS for mnist-lab, --threads for the peers")
    p.add_argument("--python", action="append", default=[], metavar="[PEER=]PATH",
                   help="interpreter for the peers (repeatable, e.g. --python torch=/venv/bin/python; "
                   "default: this one)")
    p.add_argument("--json", help="also write every round's times and the medians here")
    args = p.parse_args()
    peers = [f.strip() for f in args.frameworks.split(",") if f.strip()]
    unknown = [f for f in peers if f not in PEERS]
    if unknown or not peers:
        p.error(f"--frameworks: unknown {', '.join(unknown) or '(none given)'}; choose from {', '.join(PEERS)}")
    if args.rounds < 1:
        p.error("--rounds must be at least 1")
    if not os.access(args.bin, os.X_OK):
        sys.exit(f"error: no mnist-lab binary at {args.bin}; run `cargo build --release` first")
    models = ["baseline", "monster"] if args.model == "all" else [args.model]
    lab_data = ["--data-dir", args.data_dir] if args.data_dir else []
    # The Python scripts take the folder of the IDX files itself.
    py_data = ["--data-dir", os.path.join(args.data_dir, "mnist")] if args.data_dir else []
    threads = ["--threads", str(args.threads)] if args.threads else []
    lab_env = dict(os.environ, **({"RAYON_NUM_THREADS": str(args.threads)} if args.threads else {}))

    sides = peers + ["mnist-lab"]
    label = {**{k: v[0] for k, v in PEERS.items()}, "mnist-lab": "mnist-lab"}
    times = {m: {s: [] for s in sides} for m in models}
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "result.json")
        for r in range(1, args.rounds + 1):
            for m in models:
                for peer in peers:
                    # Defaults match: 1 warm-up epoch + 3 timed ones on each side.
                    _, script, extra = PEERS[peer]
                    run([python_for(peer, args.python), os.path.join(HERE, script), "--model", m, "--epochs", "4",
                         "--json", out] + extra + threads + py_data)
                    times[m][peer].append(first_result(out, "model", m)["train_seconds"])
                run([args.bin, "bench", "--backend", args.backend, "--preset", m, "--runs", "3", "--json", out]
                    + lab_data, env=lab_env)
                t = first_result(out, "preset", m)["train_seconds"]
                times[m]["mnist-lab"].append(t)
                each = ", ".join(f"{label[s]} {times[m][s][-1]:.2f} s" for s in sides)
                ratios = ", ".join(f"/{label[s]} {t / times[m][s][-1]:.2f}" for s in peers)
                print(f"round {r} {m}: {each}; mnist-lab {ratios}", flush=True)

    medians = {m: {s: statistics.median(v) for s, v in per.items()} for m, per in times.items()}
    head = [f"{label[s]} epoch s (train), median" if i == 0 else label[s] for i, s in enumerate(sides)]
    head += [f"mnist-lab / {label[s]}" for s in peers]
    print(f"\n{args.rounds} rounds, mnist-lab backend {args.backend}"
          + (f", {args.threads} threads" if args.threads else "") + "\n")
    print("| network | " + " | ".join(head) + " |")
    print("|---" * (len(head) + 1) + "|")
    for m, med in medians.items():
        cells = [f"{med[s]:.2f}" for s in sides]
        for s in peers:  # ratio of the medians, and the range of the rounds' own ratios
            rs = [t / k for t, k in zip(times[m]["mnist-lab"], times[m][s], strict=True)]
            spread = f" ({min(rs):.2f}–{max(rs):.2f})" if len(rs) > 1 else ""
            cells.append(f"{med['mnist-lab'] / med[s]:.2f}×{spread}")
        print(f"| {m} | " + " | ".join(cells) + " |")
    if args.json:
        doc = {"settings": {"rounds": args.rounds, "backend": args.backend, "threads": args.threads or None,
                            "frameworks": peers},
               "train_seconds": times, "median_train_seconds": medians}
        tmp = f"{args.json}.tmp-{os.getpid()}"
        with open(tmp, "w") as f:
            json.dump(doc, f, indent=2)
            f.write("\n")
        os.replace(tmp, args.json)


if __name__ == "__main__":
    main()
