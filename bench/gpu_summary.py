#!/usr/bin/env python3
"""Markdown tables from bench/gpu.sh's results: GPU medians and ratios, first epoch against steady
ones, CPU thread scaling, and what was skipped or failed.

    python3 bench/gpu_summary.py gpu-out/results.jsonl --env gpu-out/env.txt > summary.md
    python3 bench/gpu_summary.py gpu-out                # the folder works too

Every time is a training epoch after the warm-up (the median over a step's epochs, then the
median over the rounds that ran it), as `mnist-lab bench` and bench/torch_reference.py report it.
"""

import argparse
import json
import os
import re
import statistics
import sys

NETWORKS = ["baseline", "monster", "monster-adam"]


def network(result):
    """A result's network name: the preset, or monster-adam for the torch script's monster with Adam."""
    if "preset" in result:
        return result["preset"]
    if result["model"] == "monster" and result.get("optimizer") == "adam":
        return "monster-adam"
    return result["model"]


def side(record, result):
    """Which column a result belongs to: mnist-lab's backend, or PyTorch's device (and compile)."""
    if "backend" in result:
        return f"mnist-lab {result['backend']}"
    name = f"PyTorch {result['device']}"
    return name + " compiled" if result.get("compile") else name


def load(path):
    if os.path.isdir(path):
        path = os.path.join(path, "results.jsonl")
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def med(xs):
    return statistics.median(xs) if xs else None


def fmt(x, digits=2):
    return "–" if x is None else f"{x:.{digits}f}"


def ratio(a, b):
    return "–" if a is None or b is None or b <= 0 else f"{a / b:.2f}×"


def env_facts(env_path):
    """GPU, CPU, torch and mnist-lab's adapter, read from env.txt."""
    if not env_path or not os.path.isfile(env_path):
        return []
    with open(env_path) as f:
        text = f.read()
    facts = []
    for label, pattern in [
        ("GPU", r"^\|\s+\d+\s+(NVIDIA [^|]+?)\s{2,}"),
        ("driver", r"Driver Version:\s*([\d.]+)"),
        ("CPU", r"^Model name:\s*(.+)$"),
        ("CPUs", r"^CPU\(s\):\s*(\d+)"),
        ("python / torch", r"^== python\n([^=\n].*)$"),
        ("mnist-lab on", r"^train would run on: (.+)$"),
        ("mode", r"^== mode\n([^=\n].*)$"),
    ]:
        m = re.search(pattern, text, re.MULTILINE)
        if m:
            facts.append(f"{label}: {m.group(1).strip()}")
    return facts


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("results", help="results.jsonl from bench/gpu.sh, or the folder holding it")
    p.add_argument("--env", help="env.txt from bench/gpu.sh (default: beside the results)")
    args = p.parse_args()
    records = load(args.results)
    folder = args.results if os.path.isdir(args.results) else os.path.dirname(os.path.abspath(args.results))
    env = args.env or os.path.join(folder, "env.txt")

    # GPU rounds (keys lab:*, torch:*, torch-compile:*) and CPU scaling (cpu-lab:T, cpu-torch:T).
    gpu, cpu, first, problems = {}, {}, {}, []
    for rec in records:
        if rec["status"] != "ok":
            if rec["status"] == "skipped":
                problems.append(f"- `{rec['key']}` round {rec['round']}: skipped ({rec.get('why') or 'no time'})")
            else:
                last = f": `{rec['why']}`" if rec.get("why") else ""
                problems.append(f"- `{rec['key']}` round {rec['round']}: {rec['status']} (exit {rec.get('exit')}) "
                                f"after {rec['seconds']} s (timeout {rec['timeout']} s){last}")
        doc = rec.get("doc") or {}
        for failure in doc.get("failures", []):
            pair = f"{failure.get('backend')}/{failure.get('preset')}"
            problems.append(f"- `{rec['key']}`: {pair}: {failure.get('error')}")
        for result in doc.get("results", []):
            col, net = side(rec, result), network(result)
            if rec["key"].startswith("cpu-"):
                per_threads = cpu.setdefault(col.replace(" compiled", ""), {})
                per_threads.setdefault(rec["threads"], []).append(result["train_seconds"])
                continue
            gpu.setdefault(net, {}).setdefault(col, []).append(result["train_seconds"])
            f = first.setdefault((col, net), {"load": [], "first": [], "epoch": [], "train": [], "val": [], "acc": []})
            f["epoch"].append(result["epoch_seconds"])
            f["load"].append(result["load_seconds"])
            f["first"].append(result["first_epoch_seconds"])
            f["train"].append(result["train_seconds"])
            f["val"].append(result["validation_seconds"])
            f["acc"].append(result["test_accuracy"])

    facts = env_facts(env)
    if facts:
        print("\n".join(f"- {f}" for f in facts) + "\n")

    cols = sorted({c for per in gpu.values() for c in per}, key=lambda c: (not c.startswith("mnist-lab"), c))
    lab_cols = [c for c in cols if c.startswith("mnist-lab")]
    peer_cols = [c for c in cols if not c.startswith("mnist-lab")]
    if cols:
        print("### Training epoch (s, median over rounds) and mnist-lab's ratio\n")
        head = ["network"] + [f"{c} (rounds)" for c in cols] + [f"{lab} / {c}" for lab in lab_cols for c in peer_cols]
        print("| " + " | ".join(head) + " |")
        print("|---" * len(head) + "|")
        for net in [n for n in NETWORKS if n in gpu] + sorted(set(gpu) - set(NETWORKS)):
            per = gpu[net]
            cells = [net] + [f"{fmt(med(per.get(c, [])))} ({len(per.get(c, []))})" if c in per else "–" for c in cols]
            cells += [ratio(med(per.get(lab, [])), med(per.get(c, []))) for lab in lab_cols for c in peer_cols]
            print("| " + " | ".join(cells) + " |")
        print()

    if first:
        print("### First epoch against steady ones (s, medians over rounds; epochs include their validation pass)\n")
        print("| side | network | load | first epoch | steady epoch | first / steady | of which training "
              "| validation pass | test accuracy |")
        print("|---|---|---|---|---|---|---|---|---|")
        for (col, net), f in sorted(first.items(), key=lambda kv: (kv[0][1], kv[0][0])):
            print(f"| {col} | {net} | {fmt(med(f['load']))} | {fmt(med(f['first']))} | {fmt(med(f['epoch']))} "
                  f"| {ratio(med(f['first']), med(f['epoch']))} | {fmt(med(f['train']))} | {fmt(med(f['val']), 3)} "
                  f"| {med(f['acc']) * 100:.2f} % |")
        print()

    if cpu:
        sides = sorted(cpu, key=lambda c: (not c.startswith("mnist-lab"), c))
        threads = sorted({t for per in cpu.values() for t in per})
        print("### CPU thread scaling, monster (training epoch s; speed-up against 1 thread)\n")
        head = ["threads"] + [h for s in sides for h in (s, "speed-up")]
        if len(sides) == 2:
            head.append(f"{sides[0]} / {sides[1]}")
        print("| " + " | ".join(head) + " |")
        print("|---" * len(head) + "|")
        for t in threads:
            cells = [str(t)]
            for s in sides:
                x, one = med(cpu[s].get(t, [])), med(cpu[s].get(min(cpu[s]), []))
                cells += [fmt(x), ratio(one, x) if min(cpu[s]) == 1 else "–"]
            if len(sides) == 2:
                cells.append(ratio(med(cpu[sides[0]].get(t, [])), med(cpu[sides[1]].get(t, []))))
            print("| " + " | ".join(cells) + " |")
        print()

    if problems:
        print("### Skipped or failed steps\n")
        print("\n".join(problems))
        print()
    if not (gpu or cpu):
        sys.exit("error: no results in the file (every step skipped or failed?)")


if __name__ == "__main__":
    main()
