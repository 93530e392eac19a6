#!/usr/bin/env bash
# Packs gpu-kit/ (git-ignored), everything bench/gpu.sh needs on a GPU machine that has no network
# and no Rust: the stripped, xz-compressed release binaries (wgpu build and default flex build),
# the four MNIST IDX files (xz), the Vulkan/EGL loader .debs of Debian's amd64 archive (unpacked
# there only when the machine lacks a Vulkan loader), the two preset configs and the bench scripts.
# Run it here, from anywhere in the checkout:
#
#   bash bench/gpu-kit.sh                 # builds both binaries (cargo, niced), then packs
#   bash bench/gpu-kit.sh --no-build      # packs the binaries already built
#   bash bench/gpu-kit.sh --flex BIN --wgpu BIN   # packs these binaries
#   bash bench/gpu-kit.sh --no-wgpu       # a kit without the wgpu binary (a CPU-only rehearsal)
#
# The wgpu build lives in target-wgpu/ (CARGO_TARGET_DIR), so it never invalidates target/.
# The kit is built beside the old one and swapped in at the end: a failed run leaves the old kit.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
kit=${GPU_KIT:-$root/gpu-kit}
data_root=${MNIST_LAB_DATA:-$HOME/.cache/mnist-lab}
build=1 with_wgpu=1 flex_bin="" wgpu_bin=""
debs=(libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
idx=(train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte)

die() { echo "error: $*" >&2; exit 2; }
while (($#)); do
    case $1 in
        --no-build) build=0 ;;
        --no-wgpu) with_wgpu=0 ;;
        --flex) flex_bin=${2:?--flex needs a path}; shift ;;
        --wgpu) wgpu_bin=${2:?--wgpu needs a path}; shift ;;
        --data-dir) data_root=${2:?--data-dir needs a path}; shift ;;
        -h | --help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
        *) die "unknown option $1 (see --help)" ;;
    esac
    shift
done
for tool in strip xz sha256sum apt-get; do
    command -v "$tool" >/dev/null || die "$tool not found (Debian: binutils, xz-utils, coreutils, apt)"
done

cd "$root"
if [[ -z $flex_bin ]]; then
    flex_bin=$root/target/release/mnist-lab
    if ((build)); then
        echo "gpu-kit: cargo build --release (flex)" >&2
        nice -n 10 cargo build --release --quiet
    fi
fi
if ((with_wgpu)) && [[ -z $wgpu_bin ]]; then
    wgpu_bin=$root/target-wgpu/release/mnist-lab
    if ((build)); then
        echo "gpu-kit: cargo build --release --features wgpu (target-wgpu/)" >&2
        CARGO_TARGET_DIR=$root/target-wgpu nice -n 10 cargo build --release --features wgpu --quiet
    fi
fi
[[ -x $flex_bin ]] || die "no flex binary at $flex_bin (cargo build --release, or --flex BIN)"
if ((with_wgpu)); then
    [[ -x $wgpu_bin ]] || die "no wgpu binary at $wgpu_bin (CARGO_TARGET_DIR=target-wgpu cargo build --release --features wgpu, or --wgpu BIN)"
    backends=$("$wgpu_bin" devices 2>/dev/null | head -1 || true)
    [[ $backends == "compiled backends:"*wgpu* ]] || die "$wgpu_bin was built without --features wgpu"
fi
for f in "${idx[@]}"; do
    [[ -f $data_root/mnist/$f ]] || die "$data_root/mnist/$f missing: run \`mnist-lab data fetch\` (or --data-dir DIR)"
done

new=$kit.new
rm -rf "$new"
mkdir -p "$new/bin" "$new/data/mnist" "$new/gl" "$new/bench" "$new/configs"
trap 'rm -rf "$new"' EXIT

pack_bin() { # NAME SOURCE
    strip -o "$new/bin/$1" "$2"
    xz -T0 -6 "$new/bin/$1"
}
echo "gpu-kit: binaries" >&2
pack_bin mnist-lab-flex "$flex_bin"
((with_wgpu)) && pack_bin mnist-lab-wgpu "$wgpu_bin"

echo "gpu-kit: MNIST" >&2
for f in "${idx[@]}"; do
    xz -T0 -6 -c "$data_root/mnist/$f" >"$new/data/mnist/$f.xz"
done

# The loaders: amd64 packages fetched through a private list directory, so this machine's own apt
# state is left alone (and an arm64 host still gets x86-64 ones). Reused from the old kit when complete.
have_debs=1
for d in "${debs[@]}"; do compgen -G "$kit/gl/${d}_*.deb" >/dev/null || have_debs=0; done
if ((have_debs)); then
    cp "$kit"/gl/*.deb "$new/gl/"
else
    echo "gpu-kit: apt-get download ${debs[*]}" >&2
    lists=$(mktemp -d)
    mkdir -p "$lists/partial"
    o=(-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 "-oDir::State::Lists=$lists")
    apt-get "${o[@]}" update -qq >&2
    (cd "$new/gl" && apt-get "${o[@]}" download -qq "${debs[@]}")
    rm -rf "$lists"
fi

cp bench/gpu.sh bench/gpu_summary.py bench/torch_reference.py bench/keras_reference.py "$new/bench/"
cp configs/baseline.toml configs/monster.toml "$new/configs/"

{
    echo "commit: $(git -C "$root" rev-parse HEAD 2>/dev/null || echo unknown)$(git -C "$root" diff --quiet HEAD 2>/dev/null || echo ' (with uncommitted changes)')"
    echo "packed: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "flex: $flex_bin ($("$flex_bin" --version))"
    ((with_wgpu)) && echo "wgpu: $wgpu_bin ($("$wgpu_bin" --version))" || echo "wgpu: not packed (--no-wgpu)"
    (cd "$new" && find . -type f ! -name MANIFEST | sort | xargs sha256sum)
} >"$new/MANIFEST"

rm -rf "$kit"
mv "$new" "$kit"
trap - EXIT

kit_mib=$(du -sm "$kit" | cut -f1)
tracked_mib=$(git -C "$root" ls-files -z | (cd "$root" && xargs -0 du -cb 2>/dev/null) | tail -1 | awk '{printf "%d", $1 / 1048576 + 1}')
echo "gpu-kit: $kit, ${kit_mib} MiB (+ ${tracked_mib} MiB of tracked files travel with it; 64 MiB is the limit)" >&2
if ((kit_mib + tracked_mib > 60)); then
    echo "warning: the kit and the checkout together come close to 64 MiB" >&2
fi
cat >&2 <<EOF
gpu-kit: on the GPU machine, from the repo root, with gpu-kit carried along:
    bash gpu-kit/bench/gpu.sh        # results in \$OUT (else ./gpu-out): env.txt log.txt results.jsonl summary.md
EOF
