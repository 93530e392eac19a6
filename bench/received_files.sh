#!/usr/bin/env bash
# What reading a received folder costs at scale, in seconds and peak memory:
#   - `sweep collect` of a 100 000-run plan none of whose runs has started;
#   - `lecture --report-only` of a lecture plan of 100 000 entries (62 experiments × 1 613 seeds),
#     none trained;
#   - `report RUN` and `report RUN --out r.html` of a run whose history.csv has 10⁶ rows.
#
#   bash bench/received_files.sh [path/to/mnist-lab]      # MNIST in $MNIST_LAB_DATA (the lecture probes it)
#
# Each is timed once with GNU time (wall seconds, peak RSS); the figures are in
# docs/troubleshooting.md#files-from-someone-else.
set -euo pipefail
bin="$(realpath "${1:-target/release/mnist-lab}")"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
timed() {
    local what="$1"
    shift
    /usr/bin/time -f "%e %M" -o t.txt "$@" >out.txt 2>err.txt || { tail -3 err.txt; exit 1; }
    read -r secs kb <t.txt
    printf '%-44s %8.2f s %8d MB\n' "$what" "$secs" $((kb / 1024))
}

# A grid of 50 000 learning rates × 2 seeds, planned by mnist-lab itself.
python3 -c 'print("base = \"overfit\"\nseeds = [1, 2]\n[grid]\n\"optimizer.learning_rate\" = [" + ", ".join(str(1e-4 + i * 1e-6) for i in range(50000)) + "]")' >grid.toml
timed "sweep plan, 100 000 runs" "$bin" sweep plan grid.toml --out sweep
timed "sweep collect, 100 000 runs none started" "$bin" sweep collect sweep

# The lecture's plan, its entries repeated over 1 613 seeds (ids made up: no run exists).
"$bin" lecture --out lecture --seeds 1 --plan-only >/dev/null
python3 - <<'PY'
import json
plan = json.load(open("lecture/plan.json"))
base = plan["runs"]
seeds = list(range(1, 1614))
runs = []
for s in seeds:
    for e in base:
        i = len(runs)
        id = f"{i:012x}"
        runs.append({"index": i, "id": id, "point": e["point"], "seed": s, "config": f"configs/{id}.toml", "run": f"runs/{id}"})
plan["seeds"], plan["runs"] = seeds, runs
json.dump(plan, open("lecture/plan.json", "w"))
print(f"lecture plan: {len(runs)} entries")
PY
timed "lecture --report-only, 100 006 entries" "$bin" lecture --out lecture --report-only

# A run whose history has a million epochs.
"$bin" train baseline --epochs 1 --set data.train_limit=200 --set data.validation=200 --out run --quiet >/dev/null
python3 - <<'PY'
import json
rows = ["epoch,train_loss,train_accuracy,val_loss,val_accuracy,learning_rate,seconds"]
rows += [f"{e},0.5,0.8,0.4,0.85,3,0.01" for e in range(1, 1_000_001)]
open("run/history.csv", "w").write("\n".join(rows) + "\n")
s = json.load(open("run/summary.json"))
s["epochs_run"], s["best_epoch"] = 1_000_000, 1
json.dump(s, open("run/summary.json", "w"))
PY
timed "report, a 10^6-row history" "$bin" report run
timed "report --out r.html, a 10^6-row history" "$bin" report run --out r.html
