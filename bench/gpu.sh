#!/usr/bin/env bash
# mnist-lab against PyTorch on a GPU machine, in one go and within a fixed time: mnist-lab's wgpu
# backend against PyTorch on CUDA (eager; torch.compile once), rounds interleaved, then CPU thread
# scaling of mnist-lab's flex backend beside PyTorch on the CPU. Needs the kit from
# bench/gpu-kit.sh (binaries, data, loaders, scripts), python3 with torch; no network, no Rust.
#
#   bash gpu-kit/bench/gpu.sh          # from the repo root, gpu-kit/ beside it
#
# Writes to $OUT (default ./gpu-out): env.txt (machine, driver, adapters), log.txt (every step's
# output), results.jsonl (one line per step: its command, exit status, duration and the JSON the
# step wrote) and summary.md (bench/gpu_summary.py's tables).
#
# Every step runs under `timeout` in a section with a deadline, and only when its expected
# duration (its last run's, else a guess) fits what is left, so a hang costs one step's budget.
#
# Environment:
#   GPU_BENCH_BUDGET=450       seconds for everything (sections: setup, GPU rounds, CPU, summary)
#   GPU_BENCH_CPU_SECONDS=100  of which the CPU thread-scaling section gets this much at the end
#   GPU_BENCH_ROUNDS=4         at most this many GPU rounds (fewer when time runs out)
#   GPU_BENCH_THREADS="1 2 4 8 16"
#   GPU_BENCH_DEVICE=cuda      cpu: a rehearsal without a GPU (flex for wgpu, torch on the CPU,
#                              no loader unpacking); with GPU_BENCH_TRAIN_LIMIT=N (train on N images)
#   GPU_KIT=gpu-kit  PYTHON=python3
set -uo pipefail

kit=$(cd "${GPU_KIT:-gpu-kit}" 2>/dev/null && pwd) || { echo "error: no kit at ${GPU_KIT:-gpu-kit} (bash bench/gpu-kit.sh)" >&2; exit 2; }
out=${OUT:-$PWD/gpu-out}
device=${GPU_BENCH_DEVICE:-cuda}
budget=${GPU_BENCH_BUDGET:-450}
cpu_seconds=${GPU_BENCH_CPU_SECONDS:-100}
max_rounds=${GPU_BENCH_ROUNDS:-4}
threads_list=${GPU_BENCH_THREADS:-1 2 4 8 16}
limit=${GPU_BENCH_TRAIN_LIMIT:-}
py=${PYTHON:-python3}
[[ $device == cuda || $device == cpu ]] || { echo "error: GPU_BENCH_DEVICE must be cuda or cpu" >&2; exit 2; }

t0=$SECONDS
cpu_end=$((t0 + budget - 10))          # the summary's own few seconds after it
gpu_end=$((cpu_end - cpu_seconds))
mkdir -p "$out"
log=$out/log.txt env_txt=$out/env.txt results=$out/results.jsonl
: >"$log"
: >"$results"
work=$(mktemp -d "${TMPDIR:-/tmp}/gpu-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
export PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1

say() { printf '[%4ds] %s\n' $((SECONDS - t0)) "$*" | tee -a "$log" >&2; }

# --- unpack -----------------------------------------------------------------------------------
mkdir -p "$work/bin" "$work/data/mnist" "$work/cfg"
unxz_to() { # FILE.xz DEST; Python's lzma where a slim image has no xz
    if command -v xz >/dev/null; then xz -dc "$1" >"$2"; else
        python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' "$1" "$2"
    fi
}
for f in "$kit"/data/mnist/*.xz; do unxz_to "$f" "$work/data/mnist/$(basename "$f" .xz)"; done
for b in "$kit"/bin/*.xz; do
    unxz_to "$b" "$work/bin/$(basename "$b" .xz)" && chmod +x "$work/bin/$(basename "$b" .xz)"
done
flex=$work/bin/mnist-lab-flex wgpu=$work/bin/mnist-lab-wgpu
data=$work/data

if [[ $device == cuda ]]; then
    lab=$wgpu lab_backend=wgpu
    # Container images often lack the Vulkan/EGL loaders (the kit brings Debian's), and mount the
    # NVIDIA driver under /usr/local/nvidia, outside the loaders' search paths.
    if ! ldconfig -p | grep -q 'libvulkan.so.1'; then
        for f in "$kit"/gl/*.deb; do dpkg -x "$f" /; done
        ldconfig
    fi
    nv=/usr/local/nvidia/share
    [[ -z ${VK_DRIVER_FILES:-} && -f $nv/vulkan/icd.d/nvidia_icd.json ]] && export VK_DRIVER_FILES=$nv/vulkan/icd.d/nvidia_icd.json
    [[ -z ${__EGL_VENDOR_LIBRARY_FILENAMES:-} && -f $nv/glvnd/egl_vendor.d/10_nvidia.json ]] &&
        export __EGL_VENDOR_LIBRARY_FILENAMES=$nv/glvnd/egl_vendor.d/10_nvidia.json
else
    lab=$flex lab_backend=flex
fi

# Presets: the embedded ones, or copies limited to $limit training images for a quick rehearsal;
# monster-adam is monster with Adam at lr 0.001 (Keras' defaults otherwise), as bench/README.md.
for p in baseline monster; do
    if [[ -n $limit ]]; then
        if grep -q '^\[data\]' "$kit/configs/$p.toml"; then
            sed "s/^\[data\]/[data]\ntrain_limit = $limit/" "$kit/configs/$p.toml" >"$work/cfg/$p.toml"
        else
            { cat "$kit/configs/$p.toml"; printf '\n[data]\ntrain_limit = %s\n' "$limit"; } >"$work/cfg/$p.toml"
        fi
    fi
done
src=$kit/configs/monster.toml
[[ -n $limit ]] && src=$work/cfg/monster.toml
sed 's/name = "adadelta"/name = "adam"/; s/learning_rate = 1.0/learning_rate = 0.001/; /^rho/d' "$src" >"$work/cfg/monster-adam.toml"
preset() { if [[ $1 == monster-adam || -n $limit ]]; then echo "$work/cfg/$1.toml"; else echo "$1"; fi; }
torch_limit=()
[[ -n $limit ]] && torch_limit=(--train-limit "$limit")

# --- the machine ------------------------------------------------------------------------------
{
    echo "== date"; date -u +%Y-%m-%dT%H:%M:%SZ
    echo "== mode"; echo "device=$device budget=${budget}s cpu_seconds=$cpu_seconds threads=[$threads_list] train_limit=${limit:-none}"
    echo "== uname"; uname -a
    echo "== lscpu"; lscpu 2>&1 | grep -E '^(Model name|CPU\(s\)|Thread|Core|Socket|NUMA node\(s\)|L3|Flags)' | cut -c1-300
    echo "== memory"; free -g 2>&1 | head -2
    echo "== nvidia-smi"; timeout 20 nvidia-smi 2>&1
    timeout 20 nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,power.limit --format=csv 2>&1
    echo "== vulkan"; ldconfig -p | grep -E 'libvulkan|libEGL' ; echo "VK_DRIVER_FILES=${VK_DRIVER_FILES:-}"
    echo "== python"; timeout 60 "$py" -c 'import sys, torch; print(sys.version.split()[0], "torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")' 2>&1
    echo "== mnist-lab devices"; timeout 30 "$lab" devices 2>&1; echo "exit $?"
    echo "== kit"; cat "$kit/MANIFEST"
} >"$env_txt" 2>&1
cat "$env_txt" >>"$log"
say "setup done; $(grep -m1 '^train would run on' "$env_txt" || echo 'mnist-lab devices printed no choice')"
lab_ok=1 lab_why=
if [[ ! -x $lab ]]; then
    lab_ok=0 lab_why="the kit has no $(basename "$lab") (packed with --no-wgpu?)"
elif [[ $device == cuda ]] && ! timeout 30 "$lab" devices --backend wgpu >>"$log" 2>&1; then
    lab_ok=0 lab_why="mnist-lab finds no usable wgpu adapter (env.txt, log.txt)"
fi
((lab_ok)) || say "$lab_why: mnist-lab's GPU steps are skipped"

# --- steps ------------------------------------------------------------------------------------
declare -A took   # key → seconds its last run took
# step KEY ROUND THREADS TIMEOUT GUESS DEADLINE COMMAND…   (the command writes $work/step.json)
step() {
    local key=$1 round=$2 threads=$3 want=$4 guess=$5 until=$6
    shift 6
    local left=$((until - SECONDS)) need=${took[$key]:-$guess} rc status
    if ((left < need || left < 5)); then
        say "skip $key (round $round): ${left}s left in its section, it needs ~${need}s"
        record "$key" "$round" "$threads" skipped "" 0 "$want" "${left}s left, needs ~${need}s" "$@"
        return
    fi
    local limit_s=$((want < left ? want : left))
    rm -f "$work/step.json"
    say "run  $key (round $round${threads:+, $threads threads}, timeout ${limit_s}s): $*"
    local start=$SECONDS
    timeout -k 10 "$limit_s" "$@" 2>&1 | tee -a "$log" >"$work/step.log"
    rc=${PIPESTATUS[0]}
    local dur=$((SECONDS - start)) why=
    # A failure's last words (an `error:` line, a Python exception) go into its record.
    ((rc != 0)) && why=$(grep -v '^[[:space:]]*$' "$work/step.log" | tail -1 | cut -c1-300)
    took[$key]=$((dur + 3))
    case $rc in
        0) status=ok ;;
        124 | 137) status=timeout ;;
        *) status=failed ;;
    esac
    say "done $key: $status (exit $rc) in ${dur}s"
    record "$key" "$round" "$threads" "$status" "$rc" "$dur" "$limit_s" "$why" "$@"
}
# One JSON line per step, with the JSON document the step wrote (if any).
record() { # KEY ROUND THREADS STATUS EXIT SECONDS TIMEOUT WHY COMMAND…
    local key=$1 round=$2 threads=$3 status=$4 rc=$5 dur=$6 limit_s=$7 why=$8
    shift 8
    python3 - "$key" "$round" "$threads" "$status" "$rc" "$dur" "$limit_s" "$why" "$work/step.json" "$@" >>"$results" <<'EOF'
import json, os, sys
key, rnd, threads, status, rc, dur, limit_s, why, doc_path, *cmd = sys.argv[1:]
doc = None
if status != "skipped" and os.path.isfile(doc_path):
    try:
        doc = json.load(open(doc_path))
    except ValueError as e:
        doc = {"unreadable": str(e)}
print(json.dumps({"key": key, "round": int(rnd), "threads": int(threads) if threads else None, "status": status,
                  "exit": int(rc) if rc else None, "seconds": int(dur), "timeout": int(limit_s),
                  "why": why or None, "command": cmd, "doc": doc}))
EOF
}

lab_step() { # ROUND PRESET TIMEOUT GUESS DEADLINE
    local round=$1 p=$2
    if ((!lab_ok)); then
        record "lab:$p" "$round" "" skipped "" 0 0 "$lab_why"
        return
    fi
    step "lab:$p" "$round" "" "$3" "$4" "$5" \
        "$lab" bench --backend "$lab_backend" --preset "$(preset "$p")" --runs 3 --data-dir "$data" --json "$work/step.json"
}
torch_step() { # ROUND MODEL TIMEOUT GUESS DEADLINE [--compile]
    local round=$1 m=$2 tag=torch
    [[ ${6:-} == --compile ]] && tag=torch-compile
    step "$tag:$m" "$round" "" "$3" "$4" "$5" \
        "$py" "$kit/bench/torch_reference.py" --device "$device" --model "$m" --epochs 4 --data-dir "$data/mnist" \
        "${torch_limit[@]}" --json "$work/step.json" ${6:+"$6"}
}

# --- GPU rounds: one network at a time, mnist-lab then PyTorch, so both see the same weather ----
# Guesses (seconds, used until a step has run once): mnist-lab's baseline is 5 000 small steps an
# epoch, launch-bound on a GPU; torch.compile compiles for a minute or more on a cold cache.
round=1
while ((round <= max_rounds)); do
    if ((round > 1 && gpu_end - SECONDS < ${took[lab:monster]:-30} + ${took[torch:monster]:-15})); then
        break
    fi
    say "== GPU round $round"
    lab_step "$round" monster 120 30 "$gpu_end"
    torch_step "$round" monster 90 20 "$gpu_end"
    torch_step "$round" monster-adam 90 20 "$gpu_end"
    ((round == 1)) && lab_step "$round" monster-adam 120 30 "$gpu_end"
    lab_step "$round" baseline 200 80 "$gpu_end"
    torch_step "$round" baseline 90 25 "$gpu_end"
    ((round == 1)) && torch_step "$round" monster 180 60 "$gpu_end" --compile
    ((round == 2)) && torch_step "$round" baseline 180 70 "$gpu_end" --compile
    round=$((round + 1))
done

# --- CPU thread scaling: flex's monster against PyTorch's, same thread counts, alternated -------
say "== CPU thread scaling"
for t in $threads_list; do
    step "cpu-lab:$t" 1 "$t" 60 $((10 + 20 / t)) "$cpu_end" \
        env RAYON_NUM_THREADS="$t" "$flex" bench --backend flex --preset "$(preset monster)" --runs 2 \
        --data-dir "$data" --json "$work/step.json"
    step "cpu-torch:$t" 1 "$t" 60 $((10 + 20 / t)) "$cpu_end" \
        "$py" "$kit/bench/torch_reference.py" --device cpu --threads "$t" --model monster --epochs 3 \
        --data-dir "$data/mnist" "${torch_limit[@]}" --json "$work/step.json"
done

# --- summary ----------------------------------------------------------------------------------
say "== summary"
if timeout 30 python3 "$kit/bench/gpu_summary.py" "$results" --env "$env_txt" >"$out/summary.md" 2>>"$log"; then
    cat "$out/summary.md"
else
    say "gpu_summary.py failed (see log.txt); results.jsonl holds everything"
fi
say "finished in $((SECONDS - t0))s; files in $out"
