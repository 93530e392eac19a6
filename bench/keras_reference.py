#!/usr/bin/env python3
"""Keras 3 reference for `mnist-lab bench` (TensorFlow or JAX): the same two networks, the same data.

Reads the four raw IDX files mnist-lab downloads (no Keras dataset download), holds out the last
10 000 training images for validation exactly as mnist-lab does, trains `baseline` and/or
`monster` with the hyper-parameters of configs/baseline.toml and configs/monster.toml, and times
every epoch with a callback. See bench/README.md for how the numbers are defined.

    pip install tensorflow-cpu==2.21.0
    python bench/keras_reference.py --epochs 4 --json keras.json
    python bench/keras_reference.py --backend jax --epochs 4     # Keras on JAX (jit), pip install "jax[cpu]"
"""

import argparse
import json
import os
import platform
import resource
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up chatter out of the table

import numpy as np  # noqa: E402

from common import default_data_dir, load  # noqa: E402



def build(keras, model, optimizer):
    """The network, loss, optimizer and batch size of the mnist-lab preset."""
    dense = lambda units, act: keras.layers.Dense(  # noqa: E731
        units, activation=act, kernel_initializer="glorot_uniform", bias_initializer="zeros")
    if model == "baseline":  # configs/baseline.toml
        net = keras.Sequential([keras.Input((784,)), dense(30, "sigmoid"), dense(10, "sigmoid")])
        opt, loss, batch = keras.optimizers.SGD(learning_rate=3.0), "mean_squared_error", 10
    else:  # configs/monster.toml
        net = keras.Sequential([
            keras.Input((784,)),
            dense(512, "relu"), keras.layers.Dropout(0.2),
            dense(512, "relu"), keras.layers.Dropout(0.2),
            dense(10, "softmax"),
        ])
        loss, batch = "categorical_crossentropy", 128
        opt = (keras.optimizers.Adam(learning_rate=0.001) if optimizer == "adam"
               else keras.optimizers.Adadelta(learning_rate=1.0, rho=0.95, epsilon=1e-7))
    net.compile(optimizer=opt, loss=loss, metrics=["accuracy"])
    return net, batch


def make_timer(keras):
    class EpochTimer(keras.callbacks.Callback):
        """Wall time of each epoch and, inside it, of its validation pass (fit calls on_test_*)."""

        def __init__(self):
            super().__init__()
            self.epochs, self.validation = [], []

        def on_epoch_begin(self, epoch, logs=None):
            self.start, self.val = time.perf_counter(), 0.0

        def on_test_begin(self, logs=None):
            self.val_start = time.perf_counter()

        def on_test_end(self, logs=None):
            self.val += time.perf_counter() - self.val_start

        def on_epoch_end(self, epoch, logs=None):
            self.epochs.append(time.perf_counter() - self.start)
            self.validation.append(self.val)
            print(f"  epoch {epoch + 1}: {self.epochs[-1]:.2f} s (validation {self.val:.3f} s)"
                  f" - loss {logs['loss']:.4f} - val_accuracy {logs['val_accuracy']:.4f}", file=sys.stderr)

    return EpochTimer()


def run(keras, data, model, optimizer, epochs, load_seconds):
    keras.utils.set_random_seed(42)  # mnist-lab's default seed; the streams differ anyway
    net, batch = build(keras, model, optimizer)
    timer = make_timer(keras)
    print(f"keras: {model} ({optimizer}): {epochs} epochs…", file=sys.stderr)
    # Validation in batches of 1000, as mnist-lab evaluates (Keras would reuse the training batch).
    net.fit(*data["train"], batch_size=batch, epochs=epochs, validation_data=data["valid"],
            validation_batch_size=1000, shuffle=True, verbose=0, callbacks=[timer])
    _, test_accuracy = net.evaluate(*data["test"], batch_size=1000, verbose=0)
    steady = timer.epochs[1:] or timer.epochs  # the first epoch traces and compiles the graph
    steady_val = timer.validation[1:] or timer.validation
    epoch_s, val_s = statistics.median(steady), statistics.median(steady_val)
    train_s = max(epoch_s - val_s, 1e-9)
    return {
        "model": model, "optimizer": optimizer, "batch_size": batch,
        "train_images": len(data["train"][0]), "validation_images": len(data["valid"][0]),
        "load_seconds": load_seconds, "first_epoch_seconds": timer.epochs[0],
        "epoch_seconds": epoch_s, "train_seconds": train_s, "validation_seconds": val_s,
        "samples_per_second": len(data["train"][0]) / train_s,
        # ru_maxrss is kB on Linux and process-wide: with several models it is the peak so far.
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "test_accuracy": float(test_accuracy),
        "epoch_seconds_all": timer.epochs, "validation_seconds_all": timer.validation,
    }


def machine(keras, engine, threads):
    cpu = "unknown"
    try:
        cpu = next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name"))
    except (OSError, StopIteration):
        cpu = platform.processor() or cpu
    info = {
        "cpu": cpu, "cores": os.cpu_count(), "os": platform.platform(),
        "python": platform.python_version(), "keras": keras.__version__, "backend": keras.backend.backend(),
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    if info["backend"] == "tensorflow":
        info["tensorflow"] = engine.__version__
        info["intra_op_threads"] = engine.config.threading.get_intra_op_parallelism_threads()
    else:
        info["jax"] = engine.__version__
        info["jax_devices"] = [str(d) for d in engine.devices()]
        info["cpu_affinity"] = threads or None  # --threads pins the process to that many cores
    return info


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", default=default_data_dir(),
                   help="folder with the four raw IDX files (default: $MNIST_LAB_DATA/mnist or ~/.cache/mnist-lab/mnist)")
    p.add_argument("--epochs", type=int, default=4, help="epochs per model, the first is warm-up (default 4 = "
                   "mnist-lab bench's 1 warm-up + 3 runs)")
    p.add_argument("--model", choices=["baseline", "monster", "all"], default="all")
    p.add_argument("--optimizer", choices=["adadelta", "adam"], default="adadelta",
                   help="monster's optimizer: adadelta (as configs/monster.toml) or adam (lr 0.001)")
    p.add_argument("--backend", choices=["tensorflow", "jax"],
                   default=os.environ.get("KERAS_BACKEND") or "tensorflow",
                   help="Keras' backend (default: $KERAS_BACKEND, else tensorflow); Keras jit-compiles on jax")
    p.add_argument("--threads", type=int, default=0, help="TensorFlow intra/inter-op threads; on jax, the number "
                   "of cores the process may use (0: the default)")
    p.add_argument("--json", help="also write the results and a machine description here")
    args = p.parse_args()
    if args.epochs < 1:
        p.error("--epochs must be at least 1")

    os.environ["KERAS_BACKEND"] = args.backend  # read once, when keras is first imported
    if args.backend == "jax":
        if args.threads:
            # XLA's CPU client has no thread-count setting; its pools size themselves to the
            # cores this process may run on.
            os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[: args.threads])
        import jax as engine
    else:
        import tensorflow as engine

        if args.threads:
            engine.config.threading.set_intra_op_parallelism_threads(args.threads)
            engine.config.threading.set_inter_op_parallelism_threads(args.threads)
    import keras

    if keras.backend.backend() != args.backend:
        sys.exit(f"error: keras runs on {keras.backend.backend()}, not {args.backend} (set before keras was imported?)")
    start = time.perf_counter()
    data = load(args.data_dir)
    load_seconds = time.perf_counter() - start

    models = ["baseline", "monster"] if args.model == "all" else [args.model]
    results = [run(keras, data, m, "sgd" if m == "baseline" else args.optimizer, args.epochs, load_seconds)
               for m in models]

    info = machine(keras, engine, args.threads)
    print(f"keras {info['keras']} / {info['backend']} {info.get('tensorflow') or info.get('jax')} on {info['cpu']}, "
          f"{info['cores']} cores, {info['os']}; {info['date']}\n")
    print("| model | optimizer | load s | first epoch s | epoch s (train) | validation s | samples/s "
          "| peak MB | test accuracy |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['model']} | {r['optimizer']} | {r['load_seconds']:.2f} | {r['first_epoch_seconds']:.2f} "
              f"| {r['train_seconds']:.2f} | {r['validation_seconds']:.3f} | {r['samples_per_second']:.0f} "
              f"| {r['peak_rss_mb']:.0f} | {r['test_accuracy'] * 100:.2f} % |")
    if args.json:
        tmp = f"{args.json}.tmp-{os.getpid()}"  # write then rename, as mnist-lab does
        with open(tmp, "w") as f:
            settings = {"epochs": args.epochs, "backend": args.backend, "threads": args.threads}
            json.dump({"machine": info, "settings": settings, "results": results}, f, indent=2)
            f.write("\n")
        os.replace(tmp, args.json)


if __name__ == "__main__":
    main()
