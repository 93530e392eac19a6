#!/usr/bin/env python3
"""PyTorch reference for `mnist-lab bench`: the same networks, the same data, on CPU or CUDA.

The PyTorch twin of bench/keras_reference.py (same command line, same JSON, so
bench/side_by_side.py and bench/gpu_summary.py read both): the four raw IDX files mnist-lab
downloads, the last 10 000 training images held out for validation, and `baseline` / `monster`
with Keras' semantics (Glorot-uniform weights, zero biases, MSE as the mean over the 10 classes,
Keras' optimizer constants). The whole data set lives on the device; every epoch is shuffled
there and batches are gathered by index, so no DataLoader or host copy is timed. Training and the
validation pass of each epoch are timed separately (CUDA synchronised before each clock read).

    pip install torch==2.11.0 numpy
    python bench/torch_reference.py --device cuda --epochs 4 --json torch.json
"""

import argparse
import json
import os
import platform
import resource
import statistics
import sys
import time

from common import default_data_dir, load  # noqa: E402  (IDX reader and split, shared)

VALIDATION_BATCH = 1000  # as mnist-lab evaluates


def build(torch, model, optimizer):
    """The network, loss, optimizer and batch size of the mnist-lab preset, Keras' semantics."""
    nn, F = torch.nn, torch.nn.functional

    def dense(n_in, n_out):
        layer = nn.Linear(n_in, n_out)
        nn.init.xavier_uniform_(layer.weight)  # Keras' glorot_uniform
        nn.init.zeros_(layer.bias)
        return layer

    if model == "baseline":  # configs/baseline.toml
        net = nn.Sequential(dense(784, 30), nn.Sigmoid(), dense(30, 10), nn.Sigmoid())
        loss = lambda out, onehot, labels: F.mse_loss(out, onehot)  # noqa: E731  (mean over batch and classes)
        opt, batch = (lambda p: torch.optim.SGD(p, lr=3.0)), 10
    else:  # configs/monster.toml
        net = nn.Sequential(
            dense(784, 512), nn.ReLU(), nn.Dropout(0.2),
            dense(512, 512), nn.ReLU(), nn.Dropout(0.2),
            dense(512, 10),  # softmax folded into the loss: log-softmax + NLL, the stable form
        )
        loss = lambda out, onehot, labels: F.cross_entropy(out, labels)  # noqa: E731
        batch = 128
        if optimizer == "adam":
            # Keras' defaults. Keras adds ε to √v before bias correction, PyTorch after: with
            # ε = 1e-7 the difference is far below the noise of the run.
            opt = lambda p: torch.optim.Adam(p, lr=0.001, betas=(0.9, 0.999), eps=1e-7)  # noqa: E731
        else:
            # The same recurrences as Keras' Adadelta (accumulators before the step, lr scales it).
            opt = lambda p: torch.optim.Adadelta(p, lr=1.0, rho=0.95, eps=1e-7)  # noqa: E731
    return net, loss, opt, batch


class Runner:
    """One model's training and evaluation steps, eager or through torch.compile."""

    def __init__(self, torch, device, model, optimizer, compile_mode):
        self.torch, self.device = torch, device
        self.net, self.loss_fn, make_opt, self.batch = build(torch, model, optimizer)
        self.net.to(device)
        self.opt = make_opt(self.net.parameters())
        self.output = "sigmoid" if model == "baseline" else "softmax"

        def forward_loss(x, onehot, labels):
            out = self.net(x)
            return self.loss_fn(out, onehot, labels)

        def forward(x):
            return self.net(x)

        def opt_step():
            self.opt.step()

        if compile_mode:
            # The forward + loss (and so its backward, through AOTAutograd), the optimizer's step
            # and the evaluation forward are each compiled; the last, smaller batch and eval mode
            # recompile once, inside the first epoch.
            forward_loss = torch.compile(forward_loss, mode=compile_mode)
            forward = torch.compile(forward, mode=compile_mode)
            opt_step = torch.compile(opt_step, mode=compile_mode)
        self.forward_loss, self.forward, self.opt_step = forward_loss, forward, opt_step

    def sync(self):
        if self.device.type == "cuda":
            self.torch.cuda.synchronize(self.device)

    def train_epoch(self, x, onehot, labels, generator):
        """One pass over the training set in a fresh order; returns the mean loss (a device tensor)."""
        torch = self.torch
        self.net.train()
        n = x.shape[0]
        order = torch.randperm(n, device=self.device, generator=generator)
        total = torch.zeros((), device=self.device)
        for start in range(0, n, self.batch):
            idx = order[start : start + self.batch]
            xb, yb, lb = x.index_select(0, idx), onehot.index_select(0, idx), labels.index_select(0, idx)
            self.opt.zero_grad(set_to_none=True)
            loss = self.forward_loss(xb, yb, lb)
            loss.backward()
            self.opt_step()
            total += loss.detach() * idx.shape[0]  # summed on the device: no sync per batch
        return total / n

    def evaluate(self, x, onehot, labels):
        """(loss, accuracy) over a split in batches of 1000, as device tensors."""
        torch, F = self.torch, self.torch.nn.functional
        self.net.eval()
        loss, correct = torch.zeros((), device=self.device), torch.zeros((), device=self.device, dtype=torch.long)
        with torch.no_grad():
            for start in range(0, x.shape[0], VALIDATION_BATCH):
                xb = x[start : start + VALIDATION_BATCH]
                lb = labels[start : start + VALIDATION_BATCH]
                out = self.forward(xb)
                if self.output == "sigmoid":
                    batch_loss = F.mse_loss(out, onehot[start : start + VALIDATION_BATCH])
                else:
                    batch_loss = F.cross_entropy(out, lb)
                loss += batch_loss * xb.shape[0]
                correct += (out.argmax(dim=1) == lb).sum()
        return loss / x.shape[0], correct.double() / x.shape[0]


def to_device(torch, data, device):
    """Pixels, one-hot targets and integer labels of each split as device tensors."""
    out = {}
    for split, (x, y) in data.items():
        xt = torch.from_numpy(x).to(device)
        yt = torch.from_numpy(y).to(device)
        out[split] = (xt, yt, yt.argmax(dim=1))
    return out


def run(torch, device, splits, model, optimizer, epochs, load_seconds, compile_mode, seed):
    torch.manual_seed(seed)  # mnist-lab's default seed; the streams differ anyway
    generator = torch.Generator(device=device)
    generator.manual_seed(seed)
    runner = Runner(torch, device, model, optimizer, compile_mode)
    label = f"{model} ({optimizer}{', compiled' if compile_mode else ''})"
    print(f"torch: {label} on {device}: {epochs} epochs…", file=sys.stderr)
    train_times, val_times = [], []
    for epoch in range(epochs):
        runner.sync()
        start = time.perf_counter()
        train_loss = runner.train_epoch(*splits["train"], generator)
        runner.sync()
        mid = time.perf_counter()
        _, val_acc = runner.evaluate(*splits["valid"])
        runner.sync()
        end = time.perf_counter()
        train_times.append(mid - start)
        val_times.append(end - mid)
        print(f"  epoch {epoch + 1}: {end - start:.2f} s (validation {end - mid:.3f} s)"
              f" - loss {float(train_loss):.4f} - val_accuracy {float(val_acc):.4f}", file=sys.stderr)
    _, test_accuracy = runner.evaluate(*splits["test"])
    epoch_times = [t + v for t, v in zip(train_times, val_times, strict=True)]
    steady = lambda xs: xs[1:] or xs  # noqa: E731  (the first epoch warms up: allocator, kernels, compilation)
    train_s = statistics.median(steady(train_times))
    result = {
        "model": model, "optimizer": optimizer, "batch_size": runner.batch,
        "device": str(device), "compile": compile_mode or None,
        "train_images": splits["train"][0].shape[0], "validation_images": splits["valid"][0].shape[0],
        "load_seconds": load_seconds, "first_epoch_seconds": epoch_times[0],
        "epoch_seconds": statistics.median(steady(epoch_times)),
        # Timed on its own (not epoch − validation as in the Keras script, whose fit hides it).
        "train_seconds": train_s, "validation_seconds": statistics.median(steady(val_times)),
        "samples_per_second": splits["train"][0].shape[0] / train_s,
        # ru_maxrss is kB on Linux and process-wide: with several models it is the peak so far.
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "test_accuracy": float(test_accuracy),
        "epoch_seconds_all": epoch_times, "train_seconds_all": train_times, "validation_seconds_all": val_times,
    }
    if device.type == "cuda":
        result["peak_gpu_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
        torch.cuda.reset_peak_memory_stats(device)
    return result


def machine(torch, device):
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        cpu = platform.processor() or cpu
    info = {
        "cpu": cpu, "cores": os.cpu_count(), "os": platform.platform(),
        "python": platform.python_version(), "torch": torch.__version__,
        "device": str(device), "threads": torch.get_num_threads(),
        "float32_matmul_precision": torch.get_float32_matmul_precision(),  # "highest": no TF32
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
        info["cuda"] = torch.version.cuda
    return info


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", default=default_data_dir(),
                   help="folder with the four raw IDX files "
                   "(default: $MNIST_LAB_DATA/mnist or ~/.cache/mnist-lab/mnist)")
    p.add_argument("--epochs", type=int, default=4, help="epochs per model, the first is warm-up (default 4 = "
                   "mnist-lab bench's 1 warm-up + 3 runs)")
    p.add_argument("--model", choices=["baseline", "monster", "monster-adam", "all"], default="all",
                   help="monster-adam is monster with --optimizer adam")
    p.add_argument("--optimizer", choices=["adadelta", "adam"], default="adadelta",
                   help="monster's optimizer: adadelta (as configs/monster.toml) or adam (lr 0.001)")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: PyTorch's default)")
    p.add_argument("--compile", nargs="?", const="default", default=None, metavar="MODE",
                   help="torch.compile the steps (MODE: default, reduce-overhead, max-autotune)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--train-limit", type=int, default=0, metavar="N",
                   help="train on the first N training images only, as mnist-lab's data.train_limit (smoke tests)")
    p.add_argument("--json", help="also write the results and a machine description here")
    args = p.parse_args()
    if args.epochs < 1:
        p.error("--epochs must be at least 1")
    if args.threads < 0 or args.train_limit < 0:
        p.error("--threads and --train-limit must be 0 or more")

    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("error: --device cuda, but this PyTorch sees no CUDA device")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    start = time.perf_counter()
    data = load(args.data_dir)
    if args.train_limit:
        data["train"] = tuple(a[: args.train_limit] for a in data["train"])
    splits = to_device(torch, data, device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    load_seconds = time.perf_counter() - start

    if args.model == "all":
        runs = [("baseline", "sgd"), ("monster", args.optimizer)]
    elif args.model == "baseline":
        runs = [("baseline", "sgd")]
    else:
        runs = [("monster", "adam" if args.model == "monster-adam" else args.optimizer)]
    results = [run(torch, device, splits, m, o, args.epochs, load_seconds, args.compile, args.seed) for m, o in runs]

    info = machine(torch, device)
    where = info.get("gpu") or f"{info['cpu']}, {info['threads']} threads"
    print(f"torch {info['torch']} on {where}, {info['cores']} cores, {info['os']}; {info['date']}\n")
    print("| model | optimizer | device | load s | first epoch s | epoch s (train) | validation s | samples/s "
          "| peak MB | test accuracy |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        dev = r["device"] + (f" (compile {r['compile']})" if r["compile"] else "")
        print(f"| {r['model']} | {r['optimizer']} | {dev} | {r['load_seconds']:.2f} | {r['first_epoch_seconds']:.2f} "
              f"| {r['train_seconds']:.2f} | {r['validation_seconds']:.3f} | {r['samples_per_second']:.0f} "
              f"| {r['peak_rss_mb']:.0f} | {r['test_accuracy'] * 100:.2f} % |")
    if args.json:
        tmp = f"{args.json}.tmp-{os.getpid()}"  # write then rename, as mnist-lab does
        with open(tmp, "w") as f:
            settings = {"epochs": args.epochs, "device": args.device, "threads": args.threads,
                        "compile": args.compile, "seed": args.seed,
                        "train_limit": args.train_limit or None}
            json.dump({"machine": info, "settings": settings, "results": results}, f, indent=2)
            f.write("\n")
        os.replace(tmp, args.json)


if __name__ == "__main__":
    main()
