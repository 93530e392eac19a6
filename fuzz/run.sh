#!/usr/bin/env bash
# Fuzz the readers of what mnist-lab is given for a bounded time (cargo-fuzz / libFuzzer): the
# IDX parser, the config loader and `--set`'s dotted keys, history.csv, summary.json, a
# checkpoint's state.json, a sweep's (and the lecture's) plan.json, a .keras archive and its
# config.json, and a model's burnpack layout.
#
#   bash fuzz/run.sh [SECONDS per target, default 60]
#
# Works with stable Rust only: cargo-fuzz needs nightly flags (-Zsanitizer, -Cpasses=sancov…),
# which RUSTC_BOOTSTRAP=1 lets stable rustc accept. AddressSanitizer is used by default;
# FUZZ_SANITIZER=none (or address, leak, memory, thread) overrides it. FUZZ_TARGETS="idx"
# picks targets. The fuzz crate links formats/ (the Burn-free readers the main crate uses) and
# never builds the main crate (nor Burn); it builds into fuzz/target. Seeds are real files the
# project writes: where target/release/mnist-lab is built and MNIST is in $MNIST_LAB_DATA, it
# trains a 784-4-10 network for one short epoch and exports it to Keras (the .keras, its
# config.json, its model.bpk) and plans a sweep and a lecture (their plan.json).
#
# Exit status: 0 when no target crashed, 1 when one did (the crashing inputs are printed, with
# the command that replays each one), 2 on a setup or build failure.
set -uo pipefail

secs="${1:-60}"
case "$secs" in
    '' | *[!0-9]*) echo "usage: $0 [SECONDS per target]" >&2; exit 2 ;;
esac
sanitizer="${FUZZ_SANITIZER:-address}"
targets="${FUZZ_TARGETS:-idx config dotted history summary resume_state plan keras_archive keras_config burnpack}"

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
cd "$here" || exit 2
export RUSTC_BOOTSTRAP=1
# cargo-fuzz sets RUST_BACKTRACE=1, which makes anyhow capture a backtrace for every rejected
# input (10x slower); panics still print theirs.
export RUST_LIB_BACKTRACE=0

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz"
    cargo install cargo-fuzz --locked || exit 2
fi

# ---- seed corpora (regenerated each run; only the working corpus in corpus/ is kept) ----
be32() { printf "\\x$(printf %02x $(($1 >> 24 & 255)))\\x$(printf %02x $(($1 >> 16 & 255)))\\x$(printf %02x $(($1 >> 8 & 255)))\\x$(printf %02x $(($1 & 255)))"; }
rm -rf seeds
for t in idx config dotted history summary resume_state plan keras_archive keras_config burnpack; do mkdir -p "seeds/$t" "corpus/$t"; done
{ be32 0x803; be32 0; be32 28; be32 28; } >seeds/idx/images-0           # header only, 0 images
{ be32 0x803; be32 1; be32 28; be32 28; head -c 784 /dev/zero; } >seeds/idx/images-1
{ be32 0x801; be32 0; } >seeds/idx/labels-0
{ be32 0x801; be32 3; printf '\x00\x07\x09'; } >seeds/idx/labels-3
{ be32 0x803; be32 60000; be32 28; be32 28; } >seeds/idx/images-train-header   # truncated
{ be32 0x801; be32 4294967295; } >seeds/idx/labels-huge-count
cp "$root"/configs/*.toml seeds/config/
# No preset uses every section and optional key; one seed that does.
cat >seeds/config/every-key.toml <<'TOML'
preset = "every-key"
lesson = "every section, every optional key"
[data]
dataset = "fashion-mnist"
validation = 5000
train_limit = 1000
[model]
output = "sigmoid"
init = "normal"
init_std = 0.5
hidden = [{ units = 8, activation = "tanh", dropout = 0.25 }, { units = 4, activation = "relu" }]
[train]
epochs = 2
batch_size = 16
loss = "binary-crossentropy"
seed = 7
l2 = 0.0001
l1 = 0.0
log_gradients = true
[optimizer]
name = "rmsprop"
learning_rate = 0.001
momentum = 0.5
rho = 0.9
epsilon = 1e-7
centered = true
[schedule]
name = "reduce-on-plateau"
factor = 0.5
patience = 2
monitor = "val_accuracy"
min_delta = 0.001
min_lr = 0.00001
[early_stopping]
monitor = "val_accuracy"
patience = 3
min_delta = 0.0
restore_best_weights = false
[augmentation]
rotation = 10.0
shift = 2.0
zoom = 0.1
TOML
# Every optimizer's and schedule's own keys.
for opt in 'name = "sgd"\nlearning_rate = 0.1\nmomentum = 0.9\nnesterov = true' \
    'name = "adagrad"\nlearning_rate = 0.01\ninitial_accumulator_value = 0.1\nepsilon = 1e-7' \
    'name = "adam"\nlearning_rate = 0.001\nbeta_1 = 0.9\nbeta_2 = 0.999\nepsilon = 1e-7\namsgrad = true' \
    'name = "adadelta"\nlearning_rate = 1.0\nrho = 0.95\nepsilon = 1e-7'; do
    name=$(printf '%b' "$opt" | head -1 | cut -d'"' -f2)
    sed '/^\[optimizer\]/,$d' seeds/config/every-key.toml >"seeds/config/every-key-$name.toml"
    printf '[optimizer]\n%b\n[schedule]\nname = "step"\nfactor = 0.5\nevery = 3\n' "$opt" >>"seeds/config/every-key-$name.toml"
done

# What training writes: a history with and without validation and gradient columns, a summary,
# and checkpoint states with and without early-stopping and plateau trackers.
h='epoch,train_loss,train_accuracy,val_loss,val_accuracy,learning_rate,seconds'
printf '%s\n1,0.500000,0.800000,0.400000,0.850000,0.1,1.250\n2,0.300000,0.900000,0.350000,0.880000,0.05,1.000\n' "$h" >seeds/history/valid
printf '%s,grad_mean_abs_layer0,grad_mean_abs_layer1\n1,0.5,0.8,,,3,12.5,1.5e-3,2.0e-2\n2,NaN,0.9,,,0.1,10.000,1.0e-3,1.0e-2\n' "$h" >seeds/history/grads
printf '%s\n' "$h" >seeds/history/empty
cat >seeds/summary/finished <<'JSON'
{
  "preset": "baseline",
  "dataset": "mnist",
  "backend": "flex",
  "epochs_run": 30,
  "best_epoch": 28,
  "stopped_early": false,
  "test_accuracy": 0.9611,
  "test_loss": 0.0631,
  "train_seconds": 7.5,
  "seconds_per_epoch": 0.25
}
JSON
row() { printf '{"epoch":%s,"train_loss":0.5,"train_accuracy":0.8,"val_loss":%s,"val_accuracy":0.85,"learning_rate":0.001,"seconds":1.0,"grad_mean_abs":[]}' "$1" "$2"; }
tracker='{"monitor":"val_loss","min_delta":0.0,"best":[0.4,1],"wait":1,"epochs_seen":2}'
printf '{"format":"mnist-lab-checkpoint-1","epoch":2,"history":{"epochs":[%s,%s]},"schedule":{"lr":0.001,"plateau":%s},"early_stopping":%s,"stopped_early":false}\n' \
    "$(row 1 0.4)" "$(row 2 0.45)" "$tracker" "$tracker" >seeds/resume_state/early-stopping
printf '{"format":"mnist-lab-checkpoint-1","epoch":1,"history":{"epochs":[%s]},"schedule":{"lr":0.001,"plateau":{"monitor":"val_loss","min_delta":0.0,"best":null,"wait":0,"epochs_seen":0}},"early_stopping":null,"stopped_early":false}\n' \
    "$(row 1 0.4)" >seeds/resume_state/plain

# --set and grid lines: good ones, and the mistakes the CLI test names.
printf 'model.hidden[0].dropout=0.3\ntrain.l2=1e-4\noptimizer.name=adam\n' >seeds/dotted/good
printf 'optimizer.name=sgd\noptimizer.momentum=0.9\ntrain.batch_size=64\nschedule.name=step\n' >seeds/dotted/switch
printf 'train.lr=0.1\nmodel.hidden[9].units=3\ntrain.epochs=many\n' >seeds/dotted/bad

# Files the project writes, from its own binary (a run, its Keras export, two plans).
bin="$root/target/release/mnist-lab"
made="$(mktemp -d)"
if [ -x "$bin" ] && "$bin" train baseline --epochs 1 --set model.hidden[0].units=4 --set data.train_limit=200 \
    --set data.validation=200 --out "$made/run" --quiet --offline >/dev/null 2>&1; then
    cp "$made/run/model.bpk" seeds/burnpack/baseline-4.bpk
    "$bin" export "$made/run" --format keras --to seeds/keras_archive/baseline-4.keras >/dev/null
    "$bin" train softmax --epochs 1 --set model.hidden[0].units=4 --set data.train_limit=200 \
        --set data.validation=200 --set optimizer.name=adam --out "$made/adam" --quiet --offline >/dev/null 2>&1 &&
        "$bin" export "$made/adam" --format keras --to seeds/keras_archive/softmax-adam-4.keras >/dev/null
    for k in seeds/keras_archive/*.keras; do
        python3 -c 'import sys, zipfile; sys.stdout.buffer.write(zipfile.ZipFile(sys.argv[1]).read("config.json"))' \
            "$k" >"seeds/keras_config/$(basename "$k" .keras).json"
    done
    printf 'base = "overfit"\nseeds = [1, 2]\n[grid]\n"optimizer.learning_rate" = [0.1, 0.5]\n' >"$made/grid.toml"
    "$bin" sweep plan "$made/grid.toml" --out "$made/sweep" >/dev/null && cp "$made/sweep/plan.json" seeds/plan/sweep.json
    "$bin" lecture --out "$made/lecture" --seeds 1 --plan-only >/dev/null && cp "$made/lecture/plan.json" seeds/plan/lecture.json
else
    echo "== note: no built mnist-lab or no MNIST data: the plan, keras and burnpack targets start without seeds"
fi
rm -rf "$made"

# Inputs as large as the seeds of each target (plans and archives are bigger than a config).
max_len() {
    case "$1" in
        keras_archive) echo 65536 ;;
        plan | keras_config | burnpack) echo 32768 ;;
        *) echo 4096 ;;
    esac
}

# ---- build once, then run each target ----
echo "== building fuzz targets (sanitizer: $sanitizer)"
cargo fuzz build --sanitizer "$sanitizer" || exit 2

status=0
for t in $targets; do
    echo "== fuzzing $t for ${secs}s"
    stamp="$(mktemp)"
    mkdir -p "artifacts/$t"
    # corpus/$t is the working corpus (new inputs land there); seeds/$t is read only.
    dict=(); [ -f "$t.dict" ] && dict=(-dict="$here/$t.dict")
    cargo fuzz run --sanitizer "$sanitizer" "$t" "corpus/$t" "seeds/$t" -- "${dict[@]}" \
        -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len="$(max_len "$t")" -print_final_stats=1
    rc=$?
    found="$(find "artifacts/$t" -type f -newer "$stamp" 2>/dev/null)"
    rm -f "$stamp"
    if [ "$rc" -ne 0 ] || [ -n "$found" ]; then
        status=1
        echo "!! fuzz target '$t' failed (exit $rc)" >&2
        for f in $found; do
            echo "!! crashing input: $here/$f" >&2
            echo "!!   replay:   (cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run --sanitizer $sanitizer $t $f)" >&2
            echo "!!   minimise: (cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz tmin --sanitizer $sanitizer $t $f)" >&2
            echo "!!   bytes (hex): $(od -An -v -tx1 "$f" | tr -s " \n" " " | head -c 3000)" >&2
        done
        echo "!! turn it into a test in tests/suite/fuzz_regressions.rs" >&2
    fi
done
[ "$status" -eq 0 ] && echo "== no crashes (${secs}s per target)"
exit "$status"
