"""The README's presets table with error bars: every preset over several seeds with mnist-lab
(through `mnist-lab sweep`, one plan per preset) and, beside it, the same config in Keras 3
(bench/keras_parity.py, reshuffling every epoch as mnist-lab does). Resumable: finished sweep runs
and Keras presets already in OUT are not trained again.

    python3 bench/lecture_table.py --mnist-lab target/release/mnist-lab --out artifacts/lecture-table \\
        --seeds 1 2 3 4 5 --keras-python /tmp/keras-venv/bin/python --keras-seeds 1 2 3

Prints the Markdown table and writes it, with every number, to OUT/table.md and OUT/table.json.
"""

import argparse
import json
import math
import pathlib
import subprocess
import sys
import time


def mean_std(xs):
    n = len(xs)
    if n == 0:
        return math.nan, math.nan
    m = sum(xs) / n
    s = math.sqrt(sum((x - m) ** 2 for x in xs) / (n - 1)) if n > 1 else 0.0
    return m, s


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, **kw)


def ours(bin_, preset, seeds, out):
    """Train `preset` once per seed through a sweep; the runs' summaries and the seconds spent."""
    sweep = out / "sweeps" / preset
    grid = out / "grids" / f"{preset}.toml"
    grid.parent.mkdir(parents=True, exist_ok=True)
    grid.write_text(f'base = "{preset}"\nseeds = [{", ".join(map(str, seeds))}]\n')
    start = time.monotonic()
    if not (sweep / "plan.json").exists():
        run([bin_, "sweep", "plan", str(grid), "--out", str(sweep)], stdout=subprocess.DEVNULL)
    run([bin_, "sweep", "run", str(sweep), "--jobs", "1"], stdout=subprocess.DEVNULL)
    seconds = time.monotonic() - start
    plan = json.loads((sweep / "plan.json").read_text())
    runs = plan["runs"] if isinstance(plan, dict) else plan
    summaries = [json.loads((sweep / r["run"] / "summary.json").read_text()) for r in runs]
    return summaries, seconds


def keras(python, preset, seeds, out):
    """Keras' test accuracies for `preset` over `seeds` (cached in OUT/keras/PRESET.json)."""
    path = out / "keras" / f"{preset}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    if not path.exists():
        script = pathlib.Path(__file__).with_name("keras_parity.py")
        tmp = path.with_suffix(".tmp")
        run([python, str(script), preset, "--seeds", *map(str, seeds), "--keras-shuffle", "reshuffle",
             "--steps-per-execution", "100", "--quiet", "--json", str(tmp)], stdout=subprocess.DEVNULL)
        tmp.rename(path)
    seconds = time.monotonic() - start
    doc = json.loads(path.read_text())
    return [r["test_accuracy"] for r in doc["keras"]["runs"]], seconds


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mnist-lab", required=True)
    p.add_argument("--out", required=True, type=pathlib.Path)
    p.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3, 4, 5])
    p.add_argument("--keras-python", help="a python with tensorflow-cpu (no Keras column without it)")
    p.add_argument("--keras-seeds", nargs="+", type=int, default=[1, 2, 3])
    p.add_argument("--presets", nargs="*", help="default: every lecture preset, in `mnist-lab list` order")
    args = p.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    lessons = {}
    for line in subprocess.run([args.mnist_lab, "list"], check=True, capture_output=True, text=True).stdout.splitlines():
        parts = line.split(None, 1)
        if len(parts) == 2:
            lessons[parts[0]] = parts[1].strip()
    # The lecture's presets; the ones beyond it (simard, record) train for hours.
    names = args.presets or [n for n in subprocess.run([args.mnist_lab, "list", "--names"], check=True,
                                                       capture_output=True, text=True).stdout.split()
                             if not lessons.get(n, "").startswith("Beyond the lecture")]
    rows, totals = [], {"mnist_lab_seconds": 0.0, "keras_seconds": 0.0}
    for name in names:
        summaries, s_ours = ours(args.mnist_lab, name, args.seeds, args.out)
        totals["mnist_lab_seconds"] += s_ours
        acc = [s["test_accuracy"] for s in summaries]
        row = {
            "preset": name,
            "lesson": lessons.get(name, ""),
            "seeds": args.seeds,
            "test_accuracy": acc,
            "epochs_run": [s["epochs_run"] for s in summaries],
            "best_epoch": [s["best_epoch"] for s in summaries],
            "seconds_per_epoch": [s["seconds_per_epoch"] for s in summaries],
        }
        if args.keras_python:
            row["keras_seeds"] = args.keras_seeds
            row["keras_test_accuracy"], s_keras = keras(args.keras_python, name, args.keras_seeds, args.out)
            totals["keras_seconds"] += s_keras
        rows.append(row)
        print(f"{name}: done", file=sys.stderr)

    def pct(xs):
        m, s = mean_std(xs)
        return f"{100 * m:.2f} ± {100 * s:.2f}"

    def span(xs):
        lo, hi = min(xs), max(xs)
        return f"{lo}" if lo == hi else f"{lo}–{hi}"

    head = "| preset | lesson | epochs run | best epoch | test accuracy, mnist-lab |"
    rule = "|---|---|---:|---:|---:|"
    if args.keras_python:
        head += " Keras, same config | difference |"
        rule += "---:|---:|"
    head += " s / epoch |"
    rule += "---:|"
    lines = [head, rule]
    for r in rows:
        cells = [f"`{r['preset']}`", r["lesson"], span(r["epochs_run"]), span(r["best_epoch"]), pct(r["test_accuracy"])]
        if args.keras_python:
            diff = 100 * (mean_std(r["test_accuracy"])[0] - mean_std(r["keras_test_accuracy"])[0])
            cells += [pct(r["keras_test_accuracy"]), f"{diff:+.2f}"]
        cells.append(f"{mean_std(r['seconds_per_epoch'])[0]:.2f}")
        lines.append("| " + " | ".join(cells) + " |")
    table = "\n".join(lines) + "\n"
    (args.out / "table.md").write_text(table)
    (args.out / "table.json").write_text(json.dumps({"rows": rows, "totals": totals}, indent=1))
    print(table)
    print(f"mnist-lab: {totals['mnist_lab_seconds'] / 60:.1f} min; Keras: {totals['keras_seconds'] / 60:.1f} min")


main()
