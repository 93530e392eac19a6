#!/usr/bin/env python3
"""What `mnist-lab lecture` takes beside the same runs in Keras. Each round trains the lecture's plan
with mnist-lab (`lecture --seeds N --jobs J` into a fresh folder, wall time), then every run of that
plan in Keras 3 / TensorFlow, one after another as a student's scripts would run
(bench/keras_parity.py on each run's resolved config and seed, reshuffling every epoch as mnist-lab
does; wall time, and the seconds inside `fit`). Rounds alternate; medians are printed.

    python3 bench/lecture_timing.py --mnist-lab target/release/mnist-lab \\
        --keras-python /tmp/keras-venv/bin/python --seeds 1 --rounds 1 --out artifacts/lecture-timing

Resumable: a round's mnist-lab half, and each Keras run, already measured in OUT are kept (its
figures read back), so a stopped measurement goes on where it stopped. Prints the medians and writes
every figure to OUT/timing.json. Needs no package itself; `--keras-python` is a Python with
tensorflow-cpu (bench/keras_parity.py).
"""

import argparse
import json
import pathlib
import statistics
import subprocess
import sys
import time

from common import fail

HERE = pathlib.Path(__file__).resolve().parent


def lab_round(args, out):
    done_file = out.parent / "mnist-lab.json"
    if done_file.is_file():
        result = json.loads(done_file.read_text())
        return result, json.loads((out / "plan.json").read_text())
    if out.exists():
        # A lecture stopped mid-way resumes, which would not time a whole one: start it again.
        fail(f"{out} holds an unfinished lecture from a stopped measurement; remove it and run again", 2)
    cmd = [args.mnist_lab, "lecture", "--out", str(out), "--seeds", str(args.seeds), "--jobs", str(args.jobs)]
    if args.data_dir:
        cmd += ["--data-dir", args.data_dir]
    start = time.monotonic()
    done = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=False)
    wall = time.monotonic() - start
    if done.returncode != 0:
        fail(f"{' '.join(cmd)} exited with {done.returncode}:\n{done.stderr.strip()[-2000:]}", 4)
    plan = json.loads((out / "plan.json").read_text())
    fit = 0.0
    for run in plan["runs"]:
        summary = json.loads((out / run["run"] / "summary.json").read_text())
        fit += summary["train_seconds"]
    result = {"wall_seconds": wall, "train_seconds": fit, "runs": len(plan["runs"])}
    done_file.write_text(json.dumps(result) + "\n")
    return result, plan


def keras_round(args, out, plan):
    per_run = {}
    for run in plan["runs"]:
        result = out.parent / "keras" / f"{run['id']}.json"
        wall_file = result.with_suffix(".wall")
        name = "/".join(run["point"]) + f" seed {run['seed']}"
        if not (result.is_file() and wall_file.is_file()):
            result.parent.mkdir(parents=True, exist_ok=True)
            cmd = [args.keras_python, str(HERE / "keras_parity.py"), str(out / run["config"]), "--seeds",
                   str(run["seed"]), "--keras-shuffle", "reshuffle", "--quiet", "--json", str(result)]
            if args.data_dir:
                cmd += ["--data-dir", args.data_dir]
            t = time.monotonic()
            done = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=False)
            if done.returncode != 0:
                fail(f"{' '.join(cmd)} exited with {done.returncode}:\n{done.stderr.strip()[-2000:]}", 4)
            wall_file.write_text(f"{time.monotonic() - t}\n")
        seconds = sum(r["train_seconds"] for r in json.loads(result.read_text())["keras"]["runs"])
        per_run[name] = {"wall_seconds": float(wall_file.read_text()), "train_seconds": seconds}
        print(f"  keras {name}: {seconds:.0f} s in fit", file=sys.stderr)
    # Sums of the runs' figures (each a fresh Python, as one script per experiment would be).
    return {"wall_seconds": sum(r["wall_seconds"] for r in per_run.values()),
            "train_seconds": sum(r["train_seconds"] for r in per_run.values()),
            "runs": len(plan["runs"]), "per_run": per_run}


def minutes(s):
    return f"{int(s // 60)} min {round(s % 60):02d} s"


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--mnist-lab", required=True, metavar="BIN")
    p.add_argument("--keras-python", required=True, metavar="PYTHON", help="a Python with tensorflow-cpu")
    p.add_argument("--seeds", type=int, default=1, help="the lecture's --seeds (default 1)")
    p.add_argument("--jobs", type=int, default=2, help="the lecture's --jobs (default 2)")
    p.add_argument("--rounds", type=int, default=1, help="alternated rounds of both (default 1)")
    p.add_argument("--data-dir", help="mnist-lab's data directory (else $MNIST_LAB_DATA or its default)")
    p.add_argument("--out", default="artifacts/lecture-timing", help="where the rounds' runs and figures go "
                   "(default artifacts/lecture-timing)")
    args = p.parse_args()
    if args.seeds < 1 or args.jobs < 1 or args.rounds < 1:
        fail("--seeds, --jobs and --rounds are at least 1", 2)

    lab, keras = [], []
    for r in range(args.rounds):
        out = pathlib.Path(args.out) / f"round-{r + 1}" / "lecture"
        out.parent.mkdir(parents=True, exist_ok=True)
        result, plan = lab_round(args, out)
        lab.append(result)
        print(f"round {r + 1}: mnist-lab lecture {minutes(result['wall_seconds'])} "
              f"({result['runs']} runs)", file=sys.stderr)
        result = keras_round(args, out, plan)
        keras.append(result)
        print(f"round {r + 1}: Keras, the same runs one after another {minutes(result['wall_seconds'])}",
              file=sys.stderr)

    def median(rows, key):
        return statistics.median(row[key] for row in rows)

    print(f"mnist-lab lecture --seeds {args.seeds} --jobs {args.jobs}: {minutes(median(lab, 'wall_seconds'))} "
          f"(training {minutes(median(lab, 'train_seconds'))} summed over its runs)")
    print(f"Keras, the same {lab[0]['runs']} runs one after another: {minutes(median(keras, 'wall_seconds'))} "
          f"(in fit {minutes(median(keras, 'train_seconds'))})")
    (pathlib.Path(args.out) / "timing.json").write_text(
        json.dumps({"seeds": args.seeds, "jobs": args.jobs, "mnist_lab": lab, "keras": keras}, indent=1) + "\n")


if __name__ == "__main__":
    main()
