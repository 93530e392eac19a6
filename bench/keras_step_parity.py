#!/usr/bin/env python3
"""Same weights, same images, same number of steps: do mnist-lab and Keras land on the same weights?

For each case (a loss, an optimizer, a network) this trains mnist-lab on the first N training
images in one batch of N for K epochs, i.e. K full-batch steps, so the shuffled order only changes
the summation order. mnist-lab's initial weights come from a run at a learning rate of 1e-30 (the
weights are drawn from train.seed before any data is seen). Keras starts from those weights,
takes K steps on the same N images with its own optimizer, and, where mnist-lab's update rule
(Burn's) differs from Keras', also with that rule written as a Keras optimizer. Printed per case:

  first-step gradient  ‖g_keras − g_lab‖ / ‖g_lab‖ (g_lab = (w₀ − w₁)/lr from a one-step SGD run)
  first-batch loss     mnist-lab's epoch-1 train_loss (the loss at w₀) and Keras' at w₀
  after K steps        ‖w_K,keras − w_K,lab‖ / ‖w_K,lab − w₀‖ (0 would be identical; float32
                       summation order alone gives ≲1e-4 after 20 steps)

    /tmp/keras-venv/bin/python bench/keras_step_parity.py --mnist-lab target/release/mnist-lab
"""

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

sys.dont_write_bytecode = True  # no __pycache__ in the checkout
import keras_parity as kp  # noqa: E402

# name: (config overrides, the Burn rule to emulate in Keras besides Keras' own optimizer, if it differs)
SIGMOID30 = [{"units": 30, "activation": "sigmoid", "dropout": 0.0}]
SIGMOID100 = [{"units": 100, "activation": "sigmoid", "dropout": 0.0}]
RELU4 = [{"units": 30, "activation": "relu", "dropout": 0.0}] * 4
CASES = {
    "mse+sigmoid, sgd 3.0 (baseline)": ({"model": {"hidden": SIGMOID30, "output": "sigmoid", "init": "glorot-uniform"},
                                         "train": {"loss": "mse"}, "optimizer": {"name": "sgd", "learning_rate": 3.0}}, None),
    "bce+sigmoid, N(0,1), sgd 3.0 (cross-entropy)": (
        {"model": {"hidden": SIGMOID30, "output": "sigmoid", "init": "normal", "init_std": 1.0},
         "train": {"loss": "binary-crossentropy"}, "optimizer": {"name": "sgd", "learning_rate": 3.0}}, None),
    "cce+softmax, 4×30 relu he-normal, sgd 0.1 (deep-relu)": (
        {"model": {"hidden": RELU4, "output": "softmax", "init": "he-normal"},
         "train": {"loss": "categorical-crossentropy"}, "optimizer": {"name": "sgd", "learning_rate": 0.1}}, None),
    "cce+softmax, l2 5e-4, sgd 0.5 (l2)": (
        {"model": {"hidden": SIGMOID100, "output": "softmax"},
         "train": {"loss": "categorical-crossentropy", "l2": 0.0005}, "optimizer": {"name": "sgd", "learning_rate": 0.5}}, None),
    "cce+softmax, l1 1e-4, sgd 0.5": (
        {"model": {"hidden": SIGMOID100, "output": "softmax"},
         "train": {"loss": "categorical-crossentropy", "l1": 0.0001}, "optimizer": {"name": "sgd", "learning_rate": 0.5}}, None),
    "sgd 0.1 momentum 0.9 (momentum)": (
        {"model": {"hidden": SIGMOID100, "output": "softmax"}, "train": {"loss": "categorical-crossentropy"},
         "optimizer": {"name": "sgd", "learning_rate": 0.1, "momentum": 0.9}}, None),
    "sgd 0.1 nesterov 0.9": (
        {"model": {"hidden": SIGMOID100, "output": "softmax"}, "train": {"loss": "categorical-crossentropy"},
         "optimizer": {"name": "sgd", "learning_rate": 0.1, "momentum": 0.9, "nesterov": True}}, None),
    "sgd 0.1 momentum 0.9, step schedule ×0.5 every 5": (
        {"model": {"hidden": SIGMOID100, "output": "softmax"}, "train": {"loss": "categorical-crossentropy"},
         "optimizer": {"name": "sgd", "learning_rate": 0.1, "momentum": 0.9},
         "schedule": {"name": "step", "factor": 0.5, "every": 5}}, "burn-sgd"),
    "adagrad 0.01 (adagrad)": (
        {"model": {"hidden": SIGMOID100, "output": "softmax"}, "train": {"loss": "categorical-crossentropy"},
         "optimizer": {"name": "adagrad", "learning_rate": 0.01}}, "burn-adagrad"),
    "rmsprop 0.001 rho 0.9 (rmsprop)": (
        {"model": {"hidden": SIGMOID100, "output": "softmax"}, "train": {"loss": "categorical-crossentropy"},
         "optimizer": {"name": "rmsprop", "learning_rate": 0.001, "rho": 0.9}}, "burn-rmsprop"),
    "rmsprop 0.001 rho 0.9 momentum 0.5": (
        {"model": {"hidden": SIGMOID100, "output": "softmax"}, "train": {"loss": "categorical-crossentropy"},
         "optimizer": {"name": "rmsprop", "learning_rate": 0.001, "rho": 0.9, "momentum": 0.5}}, "burn-rmsprop"),
    "adam 0.001 (adam)": (
        {"model": {"hidden": SIGMOID100, "output": "softmax"}, "train": {"loss": "categorical-crossentropy"},
         "optimizer": {"name": "adam", "learning_rate": 0.001}}, "burn-adam"),
    "adadelta 1.0 rho 0.95 (adadelta)": (
        {"model": {"hidden": SIGMOID100, "output": "softmax"}, "train": {"loss": "categorical-crossentropy"},
         "optimizer": {"name": "adadelta", "learning_rate": 1.0, "rho": 0.95}}, None),
}


def case_config(overrides, n, steps):
    raw = {"data": {"validation": 0, "train_limit": n},
           "model": overrides["model"],
           "train": {"epochs": steps, "batch_size": n, **overrides["train"]},
           "optimizer": overrides["optimizer"]}
    if "schedule" in overrides:
        raw["schedule"] = overrides["schedule"]
    return kp.resolve(json.loads(json.dumps(raw)), "case")


def keras_steps(keras, cfg, data, w0, optimizer, steps):
    model = kp.build_model(keras, cfg)
    model.set_weights(w0)
    model.compile(optimizer=optimizer, loss=kp.KERAS_LOSS[cfg["train"]["loss"]])
    x, y = data["train"]
    model.fit(x, y, batch_size=len(x), epochs=steps, shuffle=False, verbose=0,
              callbacks=kp.callbacks(keras, cfg, False))
    return model.get_weights()


def keras_loss_and_grad(keras, tf, cfg, data, w0):
    model = kp.build_model(keras, cfg)
    model.set_weights(w0)
    loss_fn = keras.losses.get(kp.KERAS_LOSS[cfg["train"]["loss"]])
    x, y = data["train"]
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(loss_fn(y, model(x, training=True))) + tf.add_n(model.losses or [tf.constant(0.0)])
    grads = tape.gradient(loss, model.trainable_weights)
    return float(loss), [np.asarray(g) for g in grads]


def rel(a, b, scale):
    num = np.sqrt(sum(float(np.sum((x.astype(np.float64) - y) ** 2)) for x, y in zip(a, b)))
    den = np.sqrt(sum(float(np.sum(s.astype(np.float64) ** 2)) for s in scale))
    return num / den if den > 0 else float("nan")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--mnist-lab", required=True, metavar="BIN")
    p.add_argument("--images", type=int, default=1000, help="N: training images, all in one batch")
    p.add_argument("--steps", type=int, default=20, help="K: full-batch steps (epochs)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--case", action="append", help="substring of a case name (default: all)")
    p.add_argument("--data-dir")
    p.add_argument("--json")
    args = p.parse_args()

    import tensorflow as tf
    import keras

    tf.config.experimental.enable_op_determinism()
    emulate = kp.burn_optimizers(keras)
    results = []
    print(f"N = {args.images} images in one batch, K = {args.steps} steps, seed {args.seed}\n")
    print("| case | first-batch loss mnist-lab / keras | first-step gradient rel. diff | after K steps: keras "
          "| after K steps: Burn's rule in Keras |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory(prefix="keras-step-parity-") as work:
        for name, (overrides, burn_rule) in CASES.items():
            if args.case and not any(c in name for c in args.case):
                continue
            cfg = case_config(overrides, args.images, args.steps)
            data = kp.load(cfg, args.data_dir)
            w0 = kp.mnist_lab_initial_weights(args.mnist_lab, cfg, args.seed, args.data_dir, work)
            # One plain SGD step at lr 1024 (a power of two: the division is exact): w₁ = w₀ − 1024·g,
            # and history's epoch-1 loss is the loss at w₀.
            sgd1 = json.loads(json.dumps(cfg))
            sgd1["train"]["epochs"] = 1
            sgd1["optimizer"] = {**sgd1["optimizer"], "name": "sgd", "learning_rate": 1024.0, "momentum": 0.0,
                                 "nesterov": False}
            out1 = kp.mnist_lab_train(args.mnist_lab, sgd1, args.seed, args.data_dir, work, f"g-{len(results)}")
            w1 = kp.keras_weights_from_safetensors(out1 / "model.safetensors")
            lab_loss = float((out1 / "history.csv").read_text().splitlines()[1].split(",")[1])
            g_lab = [(a - b) / 1024.0 for a, b in zip(w0, w1)]
            k_loss, g_keras = keras_loss_and_grad(keras, tf, cfg, data, w0)
            outk = kp.mnist_lab_train(args.mnist_lab, cfg, args.seed, args.data_dir, work, f"k-{len(results)}")
            wk_lab = kp.keras_weights_from_safetensors(outk / "model.safetensors")
            moved = [a - b for a, b in zip(wk_lab, w0)]
            wk_keras = keras_steps(keras, cfg, data, w0, kp.build_optimizer(keras, cfg, 0.1), args.steps)
            row = {"case": name, "loss_mnist_lab": lab_loss, "loss_keras": k_loss,
                   "grad_rel_diff": rel(g_keras, g_lab, g_lab), "steps_rel_diff_keras": rel(wk_keras, wk_lab, moved)}
            if burn_rule:
                wk_burn = keras_steps(keras, cfg, data, w0, emulate(cfg), args.steps)
                row["steps_rel_diff_burn_rule"] = rel(wk_burn, wk_lab, moved)
            if cfg["optimizer"]["name"] == "adagrad":
                wk_acc0 = keras_steps(keras, cfg, data, w0, kp.build_optimizer(keras, cfg, 0.0), args.steps)
                row["steps_rel_diff_keras_acc0"] = rel(wk_acc0, wk_lab, moved)
            results.append(row)
            burn = f"{row['steps_rel_diff_burn_rule']:.1e} ({burn_rule})" if burn_rule else "—"
            extra = (f"; Keras with initial_accumulator_value=0: {row['steps_rel_diff_keras_acc0']:.1e}"
                     if "steps_rel_diff_keras_acc0" in row else "")
            print(f"| {name} | {lab_loss:.6f} / {k_loss:.6f} | {row['grad_rel_diff']:.1e} | "
                  f"{row['steps_rel_diff_keras']:.1e}{extra} | {burn} |", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps({"images": args.images, "steps": args.steps, "seed": args.seed,
                                               "results": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
