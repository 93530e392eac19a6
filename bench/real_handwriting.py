#!/usr/bin/env python3
"""How well `mnist-lab predict` reads real handwriting that is not MNIST's.

The digits are scikit-learn's `load_digits` (shipped inside the scikit-learn wheel: 1 797 digits
written by 43 people, the test part of UCI's "Optical Recognition of Handwritten Digits",
CC BY 4.0), 8×8 pixels of ink counts 0–16. Each is turned into what a phone photo of a digit on
paper gives `predict`: dark ink on white (255 − 255·count/16), scaled up 8× with bicubic
interpolation (64×64, the blocks smoothed into strokes) and set on a white margin of 16 pixels
(96×96 PNG). `predict` then does what it does to any photo: inverts it, fits the ink into 20×20
and centres it by mass in 28×28.

    pip install scikit-learn==1.9.1 pillow==13.0.0
    python3 bench/real_handwriting.py artifacts/<run> [artifacts/<other run> …] [--mnist-lab BIN]
    python3 bench/real_handwriting.py --write DIR      # only write the PNGs and labels.csv

Prints, per run, the share of digits read correctly and the most common confusions.
"""

import argparse
import collections
import csv
import json
import os
import subprocess
import sys
import tempfile

SCALE = 8
MARGIN = 16


def write_digits(out_dir):
    """The PNGs and labels.csv (file,label) in out_dir; returns [(path, label)]."""
    import numpy as np
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    os.makedirs(out_dir, exist_ok=True)
    rows = []
    for i, (counts, label) in enumerate(zip(digits.images, digits.target)):
        paper = (255.0 - counts * (255.0 / 16.0)).clip(0, 255).astype(np.uint8)
        side = 8 * SCALE
        big = Image.fromarray(paper, mode="L").resize((side, side), Image.BICUBIC)
        photo = Image.new("L", (side + 2 * MARGIN, side + 2 * MARGIN), 255)
        photo.paste(big, (MARGIN, MARGIN))
        path = os.path.join(out_dir, f"digit-{i:04d}.png")
        photo.save(path)
        rows.append((path, int(label)))
    with open(os.path.join(out_dir, "labels.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["file", "label"])
        w.writerows((os.path.basename(p), l) for p, l in rows)
    return rows


def predict(mnist_lab, run_dir, rows, chunk=500):
    """`mnist-lab predict --json` over every image; returns the predicted digits in order."""
    digits = []
    for start in range(0, len(rows), chunk):
        paths = [p for p, _ in rows[start : start + chunk]]
        out = subprocess.run(
            [mnist_lab, "predict", run_dir, *paths, "--json"], check=True, capture_output=True, text=True
        ).stdout
        digits.extend(json.loads(line)["digit"] for line in out.splitlines() if line.startswith("{"))
    if len(digits) != len(rows):
        sys.exit(f"error: predict answered {len(digits)} of {len(rows)} images")
    return digits


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="*", help="run directories written by `mnist-lab train`")
    parser.add_argument("--mnist-lab", default="target/release/mnist-lab", help="the mnist-lab binary")
    parser.add_argument("--write", metavar="DIR", help="write the images and labels.csv into DIR and stop")
    parser.add_argument("--json", action="store_true", help="one JSON object per run instead of text")
    args = parser.parse_args()
    if args.write:
        rows = write_digits(args.write)
        print(f"wrote {len(rows)} digits to {args.write}")
        return
    if not args.runs:
        parser.error("name at least one run directory (or --write DIR)")
    with tempfile.TemporaryDirectory() as tmp:
        rows = write_digits(tmp)
        for run in args.runs:
            got = predict(args.mnist_lab, run, rows)
            right = sum(g == l for g, (_, l) in zip(got, rows))
            confusions = collections.Counter((l, g) for g, (_, l) in zip(got, rows) if g != l)
            if args.json:
                print(json.dumps({"run": run, "images": len(rows), "correct": right, "accuracy": right / len(rows)}))
            else:
                top = ", ".join(f"{l}→{g} ×{n}" for (l, g), n in confusions.most_common(5))
                print(f"{run}: {right}/{len(rows)} = {100 * right / len(rows):.1f} % read correctly; most confused: {top}")


if __name__ == "__main__":
    main()
