#!/usr/bin/env python3
"""Rebuild an mnist-lab experiment in Keras 3 / TensorFlow and compare test accuracies over seeds.

The experiment is a preset name (configs/NAME.toml), a config .toml or a run directory (its
config.toml is the fully resolved config). Every key of formats/src/config/ is read with the same
defaults and rebuilt in Keras on the same IDX files and split: the first `60000 - data.validation`
training images (or the first `data.train_limit` of them) train, the last `data.validation`
validate, the test set only gives the final figures. Each seed starts from
`keras.utils.set_random_seed(seed)`, with TensorFlow's op determinism on, so a seed repeats its
numbers. `--mnist-lab BIN` also trains the same resolved config with mnist-lab for each seed and
reads its summary.json. Keras' `fit(shuffle=True)` with a seed trains every epoch in the first
epoch's order; `--keras-shuffle reshuffle` draws a new order every epoch, as mnist-lab does.

Python 3.11+ (tomllib). `safetensors` is needed for `--keras-init mnist-lab` only.

    python3 -m venv /tmp/keras-venv && /tmp/keras-venv/bin/pip install tensorflow-cpu==2.21.0 safetensors
    /tmp/keras-venv/bin/python bench/keras_parity.py baseline --seeds 42 7 1 --epochs 3 \\
        --mnist-lab target/release/mnist-lab --json parity-baseline.json

bench/README.md ("Accuracy parity with Keras") lists how each key maps onto Keras.
"""

import argparse
import csv
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up chatter out of the table

import numpy as np  # noqa: E402

from common import FILES, data_dir, fail, read_idx  # noqa: E402,F401

REPO = Path(__file__).resolve().parent.parent
TOTAL_TRAIN = 60_000
EVAL_BATCH = 1000  # mnist-lab's evaluation batch (src/train/learner.rs)

# formats/src/config/: every key, its default (REQUIRED: no default), for each section.
REQUIRED = object()
SCHEMA = {
    "data": {"dataset": "mnist", "validation": 10_000, "train_limit": None},
    "model": {"hidden": REQUIRED, "output": REQUIRED, "init": "glorot-uniform", "init_std": 1.0},
    "train": {"epochs": REQUIRED, "batch_size": REQUIRED, "loss": REQUIRED, "seed": 42, "l2": 0.0, "l1": 0.0,
              "log_gradients": False},
    "optimizer": {"name": REQUIRED, "learning_rate": REQUIRED, "momentum": 0.0, "nesterov": False,
                  "rho": None, "beta_1": None, "beta_2": None, "epsilon": None,
                  "initial_accumulator_value": None, "amsgrad": None, "centered": None},
    "schedule": {"name": REQUIRED, "factor": 0.5, "every": 10, "patience": 10, "monitor": "val_loss",
                 "min_delta": 0.0, "min_lr": 0.0},
    "early_stopping": {"monitor": "val_loss", "patience": REQUIRED, "min_delta": 0.0,
                       "restore_best_weights": True},
    "augmentation": {"rotation": 0.0, "shift": 0.0, "zoom": 0.0},
}
OPTIONAL_SECTIONS = {"schedule", "early_stopping", "augmentation"}
LAYER = {"units": REQUIRED, "activation": REQUIRED, "dropout": 0.0}
# Keras' defaults where the config leaves them out (src/train/optim/mod.rs uses the same).
KERAS_RHO = {"rmsprop": 0.9, "adadelta": 0.95}
KERAS_EPSILON = 1e-7
KERAS_LOSS = {"mse": "mean_squared_error", "binary-crossentropy": "binary_crossentropy",
              "categorical-crossentropy": "categorical_crossentropy"}


# ---------------------------------------------------------------------------------------------
# The config: read, defaults, overrides, write back
# ---------------------------------------------------------------------------------------------

def config_path(target):
    """A run directory's config.toml, a .toml path, or configs/NAME.toml."""
    p = Path(target)
    if p.is_dir():
        if not (p / "config.toml").is_file():
            fail(f"{target} is a directory without config.toml (not an mnist-lab run directory)")
        return p / "config.toml"
    if p.is_file():
        return p
    preset = REPO / "configs" / f"{target}.toml"
    if preset.is_file():
        return preset
    names = sorted(f.stem for f in (REPO / "configs").glob("*.toml"))
    fail(f"`{target}` is neither a preset ({', '.join(names)}), a config file nor a run directory")


def with_defaults(section, given, schema, where):
    unknown = set(given) - set(schema)
    if unknown:
        fail(f"{where}: unknown key `{section}.{sorted(unknown)[0]}` (mnist-lab would reject it too)")
    out = {}
    for key, default in schema.items():
        if key in given:
            out[key] = given[key]
        elif default is REQUIRED:
            fail(f"{where}: `{section}.{key}` is required")
        else:
            out[key] = default
    return out


def resolve(raw, where):
    """The config with every default of formats/src/config/ filled in (None: an absent optional key)."""
    unknown = set(raw) - set(SCHEMA) - {"preset", "lesson"}
    if unknown:
        fail(f"{where}: unknown key `{sorted(unknown)[0]}`")
    cfg = {"preset": raw.get("preset", ""), "lesson": raw.get("lesson", "")}
    for section, schema in SCHEMA.items():
        if section in OPTIONAL_SECTIONS and section not in raw:
            cfg[section] = None
            continue
        if section not in raw and any(v is REQUIRED for v in schema.values()):
            fail(f"{where}: section [{section}] is required")
        cfg[section] = with_defaults(section, raw.get(section, {}), schema, where)
    cfg["model"]["hidden"] = [with_defaults("model.hidden[]", layer, LAYER, where) for layer in cfg["model"]["hidden"]]
    return cfg


def apply_set(cfg, assignment):
    """`section.key=VALUE` (VALUE in TOML syntax); `section=none` removes an optional section."""
    key, _, value = assignment.partition("=")
    parts = key.strip().split(".")
    if len(parts) == 1 and parts[0] in OPTIONAL_SECTIONS and value.strip() == "none":
        cfg[parts[0]] = None
        return
    if len(parts) != 2 or parts[0] not in SCHEMA or parts[1] not in SCHEMA[parts[0]]:
        fail(f"--set {assignment}: expected SECTION.KEY=VALUE with a key of formats/src/config/")
    try:
        parsed = tomllib.loads(f"v = {value}")["v"]
    except tomllib.TOMLDecodeError as e:
        fail(f"--set {assignment}: {e}")
    section, name = parts
    if cfg[section] is None:
        cfg[section] = {k: (None if v is REQUIRED else v) for k, v in SCHEMA[section].items()}
    cfg[section][name] = parsed
    if section == "model" and name == "hidden":
        cfg["model"]["hidden"] = [with_defaults("model.hidden[]", layer, LAYER, "--set") for layer in parsed]


def toml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)  # a JSON string is a valid TOML basic string
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {toml_value(x)}" for k, x in v.items()) + " }"
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    raise TypeError(v)


def to_toml(cfg):
    """The resolved config as TOML that mnist-lab reads back (None: the key is left out)."""
    lines = [f"lesson = {toml_value(cfg['lesson'])}"]
    for section in SCHEMA:
        if cfg[section] is None:
            continue
        lines.append(f"\n[{section}]")
        lines += [f"{k} = {toml_value(v)}" for k, v in cfg[section].items() if v is not None]
    return "\n".join(lines) + "\n"


def train_size(cfg):
    available = TOTAL_TRAIN - cfg["data"]["validation"]
    limit = cfg["data"]["train_limit"]
    return available if limit is None else min(limit, available)


# ---------------------------------------------------------------------------------------------
# Data: the raw IDX files mnist-lab downloads, split as src/data/dataset.rs does
# ---------------------------------------------------------------------------------------------

def load(cfg, root):
    xtr, ytr, xte, yte = (read_idx(data_dir(root, cfg["data"]["dataset"]) / f) for f in FILES)
    prep = lambda x: x.reshape(len(x), 784).astype("float32") / 255.0  # noqa: E731
    onehot = lambda y: np.eye(10, dtype="float32")[y]  # noqa: E731
    cut = len(xtr) - cfg["data"]["validation"]
    n = train_size(cfg)
    return {
        "train": (prep(xtr[:n]), onehot(ytr[:n])),
        "valid": (prep(xtr[cut:]), onehot(ytr[cut:])) if cfg["data"]["validation"] > 0 else None,
        "test": (prep(xte), onehot(yte)),
    }


# ---------------------------------------------------------------------------------------------
# Keras
# ---------------------------------------------------------------------------------------------

def kernel_initializer(keras, cfg, fan_in):
    """src/model/init.rs's names → Keras' initialisers (biases: zeros)."""
    init = cfg["model"]["init"]
    if init == "normal":
        return keras.initializers.RandomNormal(mean=0.0, stddev=cfg["model"]["init_std"])
    if init == "scaled-normal":
        return keras.initializers.RandomNormal(mean=0.0, stddev=1.0 / math.sqrt(fan_in))
    return {"glorot-uniform": keras.initializers.GlorotUniform, "glorot-normal": keras.initializers.GlorotNormal,
            "he-normal": keras.initializers.HeNormal, "he-uniform": keras.initializers.HeUniform}[init]()


def warp_images(keras, x, degrees, dx, dy, scale):
    """Flattened 28×28 images [n, 784], image i warped as src/data/augment.rs's `warp` does: an
    inverse map about the centre c = (13.5, 13.5), bilinear, black outside. Per-image parameters [n]."""
    ops = keras.ops
    theta = degrees * (math.pi / 180.0)
    c = 13.5
    cos, sin = ops.cos(theta) / scale, ops.sin(theta) / scale
    # Output (x, y) samples the input at (a0·x + a1·y + a2, b0·x + b1·y + b2): augment.rs's
    # u = (x − c − dx)/s, v = (y − c − dy)/s, sx = cos·u − sin·v + c, sy = sin·u + cos·v + c.
    a2 = c - cos * (c + dx) + sin * (c + dy)
    b2 = c - sin * (c + dx) - cos * (c + dy)
    zeros = ops.zeros_like(cos)
    transform = ops.stack([cos, -sin, a2, sin, cos, b2, zeros, zeros], axis=1)
    images = ops.reshape(x, (-1, 28, 28, 1))
    warped = ops.image.affine_transform(images, transform, interpolation="bilinear",
                                        fill_mode="constant", fill_value=0.0)
    return ops.reshape(warped, (-1, 784))


def make_warp_layer(keras):
    class Warp(keras.layers.Layer):
        """src/data/augment.rs's warp in one resampling: per image a rotation θ ~ U(±rotation)°
        (counter-clockwise on screen), a shift (dx, dy) ~ U(±shift) px each and a scale
        s ~ 1 + U(±zoom), as an inverse map about the centre (13.5, 13.5) with bilinear sampling
        and black outside; training batches only."""

        def __init__(self, rotation, shift, zoom, **kwargs):
            super().__init__(**kwargs)
            self.rotation, self.shift, self.zoom = rotation, shift, zoom
            self.seed_generator = keras.random.SeedGenerator()

        def call(self, x, training=None):
            if not training:
                return x
            ops = keras.ops
            n = ops.shape(x)[0]

            def sym(r):
                if r <= 0:
                    return ops.zeros((n,))
                return keras.random.uniform((n,), -r, r, seed=self.seed_generator)

            dx, dy = sym(self.shift), sym(self.shift)
            return warp_images(keras, x, sym(self.rotation), dx, dy, 1.0 + sym(self.zoom))

    return Warp


def build_model(keras, cfg):
    reg = None
    l1, l2 = cfg["train"]["l1"], cfg["train"]["l2"]
    if l1 or l2:
        # λ₁Σ|w| + λ₂Σw² over the kernels, added to the batch's mean loss: src/train/loss.rs's penalty.
        reg = keras.regularizers.L1L2(l1=l1, l2=l2)
    layers = [keras.Input((784,))]
    aug = cfg["augmentation"]
    if aug and (aug["rotation"] or aug["shift"] or aug["zoom"]):
        layers.append(make_warp_layer(keras)(aug["rotation"], aug["shift"], aug["zoom"]))
    fan_in = 784
    for layer in cfg["model"]["hidden"]:
        layers.append(keras.layers.Dense(layer["units"], activation=layer["activation"],
                                         kernel_initializer=kernel_initializer(keras, cfg, fan_in),
                                         bias_initializer="zeros", kernel_regularizer=reg))
        if layer["dropout"] > 0:
            layers.append(keras.layers.Dropout(layer["dropout"]))
        fan_in = layer["units"]
    layers.append(keras.layers.Dense(10, activation=cfg["model"]["output"],
                                     kernel_initializer=kernel_initializer(keras, cfg, fan_in),
                                     bias_initializer="zeros", kernel_regularizer=reg))
    return keras.Sequential(layers)


def build_optimizer(keras, cfg, adagrad_initial_accumulator, rule="keras"):
    """Keras' optimizer for the config; rule="burn": SGD with momentum, Adagrad, RMSprop and Adam
    with the update rules of the Burn 0.22.1 optimizers mnist-lab uses (see burn_optimizers)."""
    o = cfg["optimizer"]
    if rule == "burn" and (o["name"] in ("adagrad", "rmsprop", "adam") or o["momentum"] > 0):
        return burn_optimizers(keras)(cfg)
    lr, eps = o["learning_rate"], o["epsilon"] if o["epsilon"] is not None else KERAS_EPSILON
    name = o["name"]
    if name == "sgd":
        return keras.optimizers.SGD(learning_rate=lr, momentum=o["momentum"], nesterov=o["nesterov"])
    if name == "adagrad":
        # The config's value where it gives one, else --adagrad-initial-accumulator.
        acc = o["initial_accumulator_value"]
        return keras.optimizers.Adagrad(learning_rate=lr, epsilon=eps, initial_accumulator_value=(
            acc if acc is not None else adagrad_initial_accumulator))
    if name == "rmsprop":
        rho = o["rho"] if o["rho"] is not None else KERAS_RHO["rmsprop"]
        return keras.optimizers.RMSprop(learning_rate=lr, rho=rho, momentum=o["momentum"], epsilon=eps,
                                        centered=bool(o["centered"]))
    if name == "adam":
        b1 = o["beta_1"] if o["beta_1"] is not None else 0.9
        b2 = o["beta_2"] if o["beta_2"] is not None else 0.999
        return keras.optimizers.Adam(learning_rate=lr, beta_1=b1, beta_2=b2, epsilon=eps, amsgrad=bool(o["amsgrad"]))
    if name == "adadelta":
        rho = o["rho"] if o["rho"] is not None else KERAS_RHO["adadelta"]
        return keras.optimizers.Adadelta(learning_rate=lr, rho=rho, epsilon=eps)
    fail(f"unknown optimizer `{name}`")


def burn_optimizers(keras):
    """config → a Keras optimizer that follows the update rule of the Burn 0.22.1 optimizer mnist-lab
    uses (burn-optim/src/optim/{sgd,momentum,adagrad,rmsprop,adam}.rs), where it differs from Keras'."""
    ops = keras.ops

    class BurnSgd(keras.optimizers.SGD):
        # b ← μb + g; w ← w − lr·b (Nesterov: w ← w − lr·(g + μb))   (momentum.rs, dampening 0)
        # = Keras' v ← μv − lr·g; w ← w + v while lr is constant; not across a schedule's change.
        def update_step(self, gradient, variable, learning_rate):
            b = self.momentums[self._get_variable_index(variable)]
            self.assign(b, self.momentum * b + gradient)
            step = gradient + self.momentum * b if self.nesterov else b
            self.assign_sub(variable, learning_rate * step)

    class BurnAdagrad(keras.optimizers.Adagrad):
        # acc starts at 0; w ← w − lr·g / (√acc + ε)   (adagrad.rs: LrDecay::transform)
        def update_step(self, gradient, variable, learning_rate):
            acc = self._accumulators[self._get_variable_index(variable)]
            self.assign_add(acc, ops.square(gradient))
            self.assign_sub(variable, learning_rate * gradient / (ops.sqrt(acc) + self.epsilon))

    class BurnRmsProp(keras.optimizers.RMSprop):
        # v ← ρv + (1−ρ)g²; d = g / (√v + ε); with momentum b ← μb + d; w ← w − lr·(b or d)
        def update_step(self, gradient, variable, learning_rate):
            v = self._velocities[self._get_variable_index(variable)]
            self.assign(v, self.rho * v + (1 - self.rho) * ops.square(gradient))
            d = gradient / (ops.sqrt(v) + self.epsilon)
            if self.momentum > 0:
                b = self._momentums[self._get_variable_index(variable)]
                self.assign(b, self.momentum * b + d)
                d = b
            self.assign_sub(variable, learning_rate * d)

    class BurnAdam(keras.optimizers.Adam):
        # w ← w − lr·m̂ / (√v̂ + ε), m̂ = m/(1−β₁ᵗ), v̂ = v/(1−β₂ᵗ)   (adam.rs: AdaptiveMomentum)
        def update_step(self, gradient, variable, learning_rate):
            t = ops.cast(self.iterations + 1, variable.dtype)
            m = self._momentums[self._get_variable_index(variable)]
            v = self._velocities[self._get_variable_index(variable)]
            self.assign_add(m, (gradient - m) * (1 - self.beta_1))
            self.assign_add(v, (ops.square(gradient) - v) * (1 - self.beta_2))
            m_hat = m / (1 - ops.power(self.beta_1, t))
            v_hat = v / (1 - ops.power(self.beta_2, t))
            self.assign_sub(variable, learning_rate * m_hat / (ops.sqrt(v_hat) + self.epsilon))

    def make(cfg):
        o = cfg["optimizer"]
        eps = o["epsilon"] if o["epsilon"] is not None else KERAS_EPSILON
        if o["name"] == "sgd":
            return BurnSgd(learning_rate=o["learning_rate"], momentum=o["momentum"], nesterov=o["nesterov"])
        if o["name"] == "adagrad":
            return BurnAdagrad(learning_rate=o["learning_rate"], initial_accumulator_value=0.0, epsilon=eps)
        if o["name"] == "rmsprop":
            rho = o["rho"] if o["rho"] is not None else KERAS_RHO["rmsprop"]
            return BurnRmsProp(learning_rate=o["learning_rate"], rho=rho, momentum=o["momentum"], epsilon=eps)
        b1 = o["beta_1"] if o["beta_1"] is not None else 0.9
        b2 = o["beta_2"] if o["beta_2"] is not None else 0.999
        return BurnAdam(learning_rate=o["learning_rate"], beta_1=b1, beta_2=b2, epsilon=eps)

    return make


def callbacks(keras, cfg, log):
    out = []
    lr0 = cfg["optimizer"]["learning_rate"]
    s = cfg["schedule"]
    if s and s["name"] in ("step", "exponential"):
        # src/train/schedule.rs: lr·factor^⌊(epoch−1)/every⌋ or lr·factor^(epoch−1), epochs from 1;
        # Keras counts epochs from 0.
        every = s["every"] if s["name"] == "step" else 1
        out.append(keras.callbacks.LearningRateScheduler(lambda e, _lr: lr0 * s["factor"] ** (e // every)))
    elif s and s["name"] == "reduce-on-plateau":
        mode = "max" if s["monitor"] == "val_accuracy" else "min"
        out.append(keras.callbacks.ReduceLROnPlateau(monitor=s["monitor"], factor=s["factor"],
                                                     patience=s["patience"], min_delta=s["min_delta"],
                                                     min_lr=s["min_lr"], mode=mode, cooldown=0))
    es = cfg["early_stopping"]
    if es:
        mode = "max" if es["monitor"] == "val_accuracy" else "min"
        out.append(keras.callbacks.EarlyStopping(monitor=es["monitor"], patience=es["patience"],
                                                 min_delta=es["min_delta"], mode=mode,
                                                 restore_best_weights=es["restore_best_weights"]))

    class Log(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            if log:
                val = f" - val_accuracy {logs['val_accuracy']:.4f}" if "val_accuracy" in logs else ""
                print(f"    keras epoch {epoch + 1}: {time.perf_counter() - self.start:.1f} s - loss "
                      f"{logs['loss']:.4f} - accuracy {logs['accuracy']:.4f}{val}", file=sys.stderr)

    out.append(Log())
    return out


def keras_weights_from_safetensors(path):
    """mnist-lab's model.safetensors ([out, in] weights) as Keras' [kernel [in, out], bias] list."""
    from safetensors.numpy import load_file

    t = load_file(path)
    n = len([k for k in t if k.endswith(".weight")])
    weights = []
    for i in range(n):
        weights += [t[f"layers.{i}.weight"].T.copy(), t[f"layers.{i}.bias"].copy()]
    return weights


def mean_loss(kind, y, out):
    """src/train/loss.rs's losses on outputs (from logits there; the same values within float error)."""
    if kind == "mse":
        return float(np.mean((out - y) ** 2))
    out = np.clip(out.astype(np.float64), 1e-12, 1 - 1e-12)
    if kind == "binary-crossentropy":
        return float(np.mean(-(y * np.log(out) + (1 - y) * np.log(1 - out))))
    return float(np.mean(-np.sum(y * np.log(out), axis=1)))


def logits(keras, model, cfg, x):
    """The last layer's pre-activations (what mnist-lab takes the argmax of), in float32 NumPy."""
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    acts = {"sigmoid": lambda z: 1.0 / (1.0 + np.exp(-z)), "tanh": np.tanh, "relu": lambda z: np.maximum(z, 0)}
    for i, layer in enumerate(dense):
        kernel, bias = (np.asarray(w) for w in layer.get_weights())
        x = x @ kernel + bias
        if i < len(dense) - 1:
            x = acts[cfg["model"]["hidden"][i]["activation"]](x).astype(np.float32)
    return x


def run_keras(keras, cfg, data, seed, args, initial_weights=None):
    keras.utils.set_random_seed(seed)
    model = build_model(keras, cfg)
    if initial_weights is not None:
        model.set_weights(initial_weights)
    optimizer = build_optimizer(keras, cfg, args.adagrad_initial_accumulator, args.optimizer_rule)
    model.compile(optimizer=optimizer, loss=KERAS_LOSS[cfg["train"]["loss"]],
                  metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")],
                  steps_per_execution=args.steps_per_execution)
    batch = cfg["train"]["batch_size"]
    if args.keras_shuffle == "fit":
        # What a lecture script does. With keras.utils.set_random_seed, Keras 3.15 / TF 2.21 draw this
        # permutation once: every epoch then visits the images in the same order.
        train, fit_args = data["train"], {"batch_size": batch, "shuffle": True}
    else:
        # A new permutation every epoch, still determined by the seed, as mnist-lab shuffles.
        import tensorflow as tf

        n = len(data["train"][0])
        dataset = tf.data.Dataset.from_tensor_slices(data["train"]).shuffle(n, seed=seed, reshuffle_each_iteration=True)
        train, fit_args = (dataset.batch(batch),), {"shuffle": False}  # the dataset shuffles itself
    start = time.perf_counter()
    fit = model.fit(*train, epochs=cfg["train"]["epochs"], validation_data=data["valid"],
                    validation_batch_size=EVAL_BATCH, verbose=0, callbacks=callbacks(keras, cfg, not args.quiet),
                    **fit_args)
    seconds = time.perf_counter() - start
    x, y = data["test"]
    out = model.predict(x, batch_size=EVAL_BATCH, verbose=0)
    history = {k: [float(v) for v in vals] for k, vals in fit.history.items()}
    return {
        "seed": seed,
        # Keras' accuracy: the argmax of the outputs, the first class on a tie (saturated sigmoids
        # can tie at exactly 1.0 in float32).
        "test_accuracy": float(np.mean(out.argmax(1) == y.argmax(1))),
        # mnist-lab's: the argmax of the logits, which never tie in practice.
        "test_accuracy_logits": float(np.mean(logits(keras, model, cfg, x).argmax(1) == y.argmax(1))),
        "test_output_ties": int(np.sum(np.sum(out == out.max(1, keepdims=True), axis=1) > 1)),
        # Without the L1/L2 penalty, as mnist-lab's test_loss (Keras' evaluate() would add it).
        "test_loss": mean_loss(cfg["train"]["loss"], y, out),
        "epochs_run": len(history["loss"]),
        "train_seconds": seconds,
        "history": history,
    }


# ---------------------------------------------------------------------------------------------
# mnist-lab
# ---------------------------------------------------------------------------------------------

def mnist_lab_train(binary, cfg, seed, root, workdir, tag):
    """Trains `cfg` with `binary` (a fresh run directory), returns the run directory."""
    own = Path(tempfile.mkdtemp(prefix=f"{tag}-", dir=workdir))
    cfg_file, out = own / f"{tag}.toml", own / "run"
    cfg_file.write_text(to_toml(cfg))
    cmd = [binary, "train", str(cfg_file), "--seed", str(seed), "--out", str(out), "--quiet", "--offline"]
    if root:
        cmd += ["--data-dir", str(root)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        fail(f"{' '.join(cmd)} exited with {done.returncode}:\n{done.stderr.strip()}", 4)
    return out


def run_mnist_lab(binary, cfg, seed, root, workdir):
    start = time.perf_counter()
    out = mnist_lab_train(binary, cfg, seed, root, workdir, f"seed{seed}")
    seconds = time.perf_counter() - start
    summary = json.loads((out / "summary.json").read_text())
    with open(out / "history.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    history = {}
    for row in rows:
        for k, v in row.items():
            if k != "epoch" and v not in ("", None):
                history.setdefault(k, []).append(float(v))
    return {
        "seed": seed,
        "test_accuracy": summary["test_accuracy"],
        "test_loss": summary["test_loss"],
        "epochs_run": summary["epochs_run"],
        "best_epoch": summary["best_epoch"],
        "train_seconds": seconds,
        "history": history,
    }


def mnist_lab_initial_weights(binary, cfg, seed, root, workdir):
    """mnist-lab's initial weights for `seed`: the weights are drawn from train.seed before any
    data is seen, so one step at a learning rate of 1e-30 on one image leaves them as drawn."""
    probe = json.loads(json.dumps(cfg))
    probe["train"].update(epochs=1, batch_size=1)
    probe["optimizer"]["learning_rate"] = 1e-30
    probe["data"].update(validation=0, train_limit=1)
    probe["schedule"] = probe["early_stopping"] = probe["augmentation"] = None
    out = mnist_lab_train(binary, probe, seed, root, workdir, f"init{seed}")
    return keras_weights_from_safetensors(out / "model.safetensors")


# ---------------------------------------------------------------------------------------------

def self_check(keras, root):
    """Checks this script's own mapping without training: every preset resolves and its TOML reads
    back the same; the Keras warp equals src/data/augment.rs's `warp` (transliterated here) on real
    images. Exits non-zero on a mismatch."""
    for path in sorted((REPO / "configs").glob("*.toml")):
        cfg = resolve(tomllib.loads(path.read_text()), str(path))
        again = resolve(tomllib.loads(to_toml(cfg)), "round trip")
        again["preset"] = cfg["preset"]
        if again != cfg:
            fail(f"{path.name}: the written TOML does not read back the same", 4)
    print(f"ok: {len(list((REPO / 'configs').glob('*.toml')))} presets resolve and round-trip")

    def warp_rs(src, degrees, dx, dy, scale):  # augment.rs `warp`, line by line
        c = 13.5
        sin, cos = math.sin(math.radians(degrees)), math.cos(math.radians(degrees))
        at = lambda x, y: 0.0 if x < 0 or y < 0 or x >= 28 or y >= 28 else float(src[y * 28 + x])  # noqa: E731
        dst = np.zeros(784, np.float32)
        for y in range(28):
            for x in range(28):
                u, v = (x - c - dx) / scale, (y - c - dy) / scale
                sx, sy = cos * u - sin * v + c, sin * u + cos * v + c
                x0, y0 = math.floor(sx), math.floor(sy)
                fx, fy = sx - x0, sy - y0
                dst[y * 28 + x] = (at(x0, y0) * (1 - fx) * (1 - fy) + at(x0 + 1, y0) * fx * (1 - fy)
                                   + at(x0, y0 + 1) * (1 - fx) * fy + at(x0 + 1, y0 + 1) * fx * fy) / 255.0
        return dst

    images = read_idx(data_dir(root, "mnist") / FILES[2])[:16].reshape(16, 784)
    rng = np.random.default_rng(0)
    params = np.stack([rng.uniform(-30, 30, 16), rng.uniform(-3, 3, 16), rng.uniform(-3, 3, 16),
                       rng.uniform(0.8, 1.2, 16)]).astype(np.float32)
    ours = np.asarray(warp_images(keras, images.astype(np.float32) / 255.0, *params))
    ref = np.stack([warp_rs(img, *p) for img, p in zip(images, params.T.astype(np.float64))])
    err = float(np.abs(ours - ref).max())
    if err > 1e-4:
        fail(f"the Keras warp differs from augment.rs's by up to {err:.2e} (pixels in [0, 1])", 4)
    print(f"ok: the Keras warp matches augment.rs's on 16 random warps of test images (max |Δ| {err:.1e})")

    fit_orders = epoch_orders(keras, "fit")
    reshuffled = epoch_orders(keras, "reshuffle")
    if len({tuple(o) for o in reshuffled}) != len(reshuffled) or reshuffled != epoch_orders(keras, "reshuffle"):
        fail("--keras-shuffle reshuffle does not give a new, reproducible order every epoch", 4)
    print("ok: --keras-shuffle reshuffle visits the images in a new (seeded, reproducible) order every epoch")
    same = len({tuple(o) for o in fit_orders}) == 1
    print(f"note: seeded model.fit(shuffle=True) {'repeats the first epoch' + chr(39) + 's order' if same else 'reshuffles'}"
          f" every epoch in this Keras: {fit_orders}")


def epoch_orders(keras, shuffle, n=12, batch=4, epochs=3, seed=42):
    """The order in which fit() hands the n images to the model in each of `epochs` epochs."""
    import tensorflow as tf

    seen = []

    class Recorder(keras.Model):
        def train_step(self, data):
            x, _ = data
            tf.py_function(lambda v: seen.extend(int(i) for i in v.numpy().ravel()), [x], [])
            return {"n": tf.reduce_sum(x)}

    keras.utils.set_random_seed(seed)
    inp = keras.Input((1,))
    model = Recorder(inp, keras.layers.Dense(1)(inp))
    model.compile(optimizer="sgd", loss="mse")
    x, y = np.arange(n, dtype="float32")[:, None], np.zeros((n, 1), "float32")
    if shuffle == "fit":
        model.fit(x, y, batch_size=batch, epochs=epochs, shuffle=True, verbose=0)
    else:
        ds = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(n, seed=seed, reshuffle_each_iteration=True)
        model.fit(ds.batch(batch), epochs=epochs, shuffle=False, verbose=0)
    return [seen[e * n:(e + 1) * n] for e in range(epochs)]


def stats(runs):
    acc = [r["test_accuracy"] for r in runs]
    return {"mean": statistics.fmean(acc), "std": statistics.stdev(acc) if len(acc) > 1 else 0.0}


def machine(tf, keras):
    cpu = "unknown"
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        cpu = platform.processor() or cpu
    return {"cpu": cpu, "cores": os.cpu_count(), "os": platform.platform(), "python": platform.python_version(),
            "tensorflow": tf.__version__, "keras": keras.__version__,
            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def pct(x):
    return f"{100 * x:.2f}"


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("target", nargs="?", help="preset name, config .toml, or mnist-lab run directory")
    p.add_argument("--seeds", type=int, nargs="+", help="seeds to train (default: the config's train.seed)")
    p.add_argument("--epochs", type=int, help="override train.epochs (as `mnist-lab train --epochs`)")
    p.add_argument("--batch-size", type=int, help="override train.batch_size")
    p.add_argument("--learning-rate", type=float, help="override optimizer.learning_rate")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override any config key (VALUE in TOML syntax, e.g. data.train_limit=5000); "
                        "`schedule=none` drops an optional section; repeatable")
    p.add_argument("--mnist-lab", metavar="BIN", help="also train each seed with this mnist-lab binary")
    p.add_argument("--keras-init", choices=["keras", "mnist-lab"], default="keras",
                   help="Keras' own initialisers (default), or mnist-lab's initial weights of the same "
                        "seed (needs --mnist-lab): separates the initialisation from the training")
    p.add_argument("--keras-shuffle", choices=["fit", "reshuffle"], default="fit",
                   help="fit: model.fit(x, y, shuffle=True) as a lecture script does (seeded, Keras repeats "
                        "the first epoch's order every epoch); reshuffle: a new seeded permutation every "
                        "epoch (tf.data), as mnist-lab does")
    p.add_argument("--adagrad-initial-accumulator", type=float, default=0.1,
                   help="Keras Adagrad's initial_accumulator_value where the config gives none (Keras' default 0.1)")
    p.add_argument("--optimizer-rule", choices=["keras", "burn"], default="keras",
                   help="Keras' optimizers (default), or Keras optimizers following the update rules of "
                        "the Burn optimizers mnist-lab uses (SGD momentum, Adagrad, RMSprop, Adam)")
    p.add_argument("--data-dir", help="mnist-lab's data directory (holding mnist/ and fashion-mnist/; "
                                      "default $MNIST_LAB_DATA, else ~/.cache/mnist-lab)")
    p.add_argument("--steps-per-execution", type=int, default=1, metavar="N",
                   help="Keras' compile(steps_per_execution=N): N training steps per graph call, the same "
                        "updates with less Python overhead per batch (default 1, as a plain fit)")
    p.add_argument("--threads", type=int, default=0, help="TensorFlow intra/inter-op threads (0: TF's default)")
    p.add_argument("--json", help="write every run (history included) and the summary here")
    p.add_argument("--quiet", action="store_true", help="no per-epoch lines on stderr")
    p.add_argument("--self-check", action="store_true",
                   help="check the config reader and the augmentation warp against mnist-lab's, then exit")
    args = p.parse_args()
    if args.self_check:
        import keras

        return self_check(keras, args.data_dir)
    if not args.target:
        p.error("the experiment (preset, config .toml or run directory) is required")

    path = config_path(args.target)
    try:
        raw = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as e:
        fail(f"{path}: {e}")
    cfg = resolve(raw, str(path))
    for key, value in (("epochs", args.epochs), ("batch_size", args.batch_size)):
        if value is not None:
            cfg["train"][key] = value
    if args.learning_rate is not None:
        cfg["optimizer"]["learning_rate"] = args.learning_rate
    for assignment in args.set:
        apply_set(cfg, assignment)
    for section, schema in SCHEMA.items():
        for key, default in schema.items():
            if cfg[section] is not None and default is REQUIRED and cfg[section][key] is None:
                fail(f"--set: `{section}.{key}` is required once [{section}] is set")
    if cfg["train"]["batch_size"] > train_size(cfg):
        fail(f"train.batch_size is {cfg['train']['batch_size']} but only {train_size(cfg)} training images are used")
    seeds = args.seeds or [cfg["train"]["seed"]]
    if args.keras_init == "mnist-lab" and not args.mnist_lab:
        p.error("--keras-init mnist-lab needs --mnist-lab BIN")
    if args.mnist_lab and not os.access(args.mnist_lab, os.X_OK):
        fail(f"--mnist-lab {args.mnist_lab}: not an executable file")

    import tensorflow as tf
    import keras

    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    tf.config.experimental.enable_op_determinism()  # same seed, same numbers
    data = load(cfg, args.data_dir)
    name = cfg["preset"] or (path.stem if path.name != "config.toml" else path.parent.name)
    print(f"{name}: {len(data['train'][0])} training images, batch {cfg['train']['batch_size']}, "
          f"{cfg['train']['epochs']} epochs, {cfg['optimizer']['name']} lr {cfg['optimizer']['learning_rate']}, "
          f"seeds {' '.join(map(str, seeds))}", file=sys.stderr)

    keras_runs, lab_runs = [], []
    with tempfile.TemporaryDirectory(prefix="keras-parity-") as workdir:
        for seed in seeds:
            if args.mnist_lab:
                lab = run_mnist_lab(args.mnist_lab, cfg, seed, args.data_dir, workdir)
                lab_runs.append(lab)
                print(f"  seed {seed}: mnist-lab {pct(lab['test_accuracy'])} % ({lab['train_seconds']:.0f} s)",
                      file=sys.stderr)
            init = None
            if args.keras_init == "mnist-lab":
                init = mnist_lab_initial_weights(args.mnist_lab, cfg, seed, args.data_dir, workdir)
            run = run_keras(keras, cfg, data, seed, args, init)
            keras_runs.append(run)
            ties = (f"; {run['test_output_ties']} test images with tied outputs, argmax of the logits "
                    f"{pct(run['test_accuracy_logits'])} %" if run["test_output_ties"] else "")
            print(f"  seed {seed}: keras {pct(run['test_accuracy'])} % ({run['train_seconds']:.0f} s{ties})",
                  file=sys.stderr)

    result = {"target": str(args.target), "config_file": str(path), "config": cfg, "seeds": seeds,
              "settings": {"keras_init": args.keras_init, "optimizer_rule": args.optimizer_rule,
                           "keras_shuffle": args.keras_shuffle, "steps_per_execution": args.steps_per_execution,
                           "adagrad_initial_accumulator": args.adagrad_initial_accumulator,
                           "std": "sample standard deviation over seeds (n−1)"},
              "machine": machine(tf, keras),
              "keras": {"runs": keras_runs, **stats(keras_runs)}}
    if lab_runs:
        result["mnist_lab"] = {"binary": args.mnist_lab, "runs": lab_runs, **stats(lab_runs)}
        result["difference_pp"] = 100 * (result["mnist_lab"]["mean"] - result["keras"]["mean"])

    print(f"| {name} | " + " | ".join(f"seed {s}" for s in seeds) + " | mean ± std |")
    print("|---|" + "---|" * (len(seeds) + 1))
    sides = [("keras", keras_runs)] + ([("mnist-lab", lab_runs)] if lab_runs else [])
    for side, runs in sides:
        st = stats(runs)
        print(f"| {side} | " + " | ".join(pct(r["test_accuracy"]) for r in runs)
              + f" | {pct(st['mean'])} ± {pct(st['std'])} |")
    if lab_runs:
        print(f"\nmnist-lab − keras: {result['difference_pp']:+.2f} pp (means over {len(seeds)} seeds)")
    if args.json:
        tmp = f"{args.json}.tmp-{os.getpid()}"
        with open(tmp, "w") as f:
            json.dump(result, f, indent=2)
            f.write("\n")
        os.replace(tmp, args.json)


if __name__ == "__main__":
    main()
