"""Where a second intra-op thread goes in the CNN's training: the step's parts, thread by thread.

Not an asv benchmark: a script beside the suite, for the CNN paragraph of "what limits it" in
docs/benchmarks.md. Every configuration runs in a fresh process (TensorFlow fixes its pools at
the first op), with the thread environment of :func:`genre_hpc.cnn.train_cnn`, on the study's
network (``seed`` preset) and random inputs of the suite's shape. It times, warm, per batch:

- ``forward``: the compiled model on one batch (inference);
- ``step``: ``model.train_on_batch`` (forward, gradients, RMSprop update: the compiled step
  plus Keras' per-call work);
- ``fit``: an epoch of ``model.fit`` divided by its steps (the loop the suite times; the
  faster of two epochs after a first, untimed one; each epoch's process CPU time per batch
  and the machine's stolen time, ``/proc/stat``, are printed beside it);
- ``fit_data``: the same epochs fed from a ``tf.data`` pipeline built once (batched, shuffled,
  prefetched with ``AUTOTUNE``, tf.data's autotuning on, its default) instead of NumPy arrays;
- ``fit_input``: the same epochs fed as ``train_cnn`` feeds them
  (:func:`genre_hpc.cnn.input_pipeline`: tf.data's autotuning off);
- ``step_after``: ``step`` again right after the fits (the host unchanged in between?);

with TensorFlow's op determinism on (as ``train_cnn`` by default) and off, configurations
alternating over the rounds so that the host's drift falls on all alike::

    .venv/bin/python benchmarks/cnn_thread_cost.py                     # 32 px, 3 rounds
    .venv/bin/python benchmarks/cnn_thread_cost.py --image-size 64 --rounds 5
    .venv/bin/python benchmarks/cnn_thread_cost.py --inter-op 2 --determinism on

Prints every run and, per part, the medians and the speed-up of 2 threads over 1.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import subprocess
import sys

CHILD = r"""
import json, os, sys, time
spec = json.loads(sys.argv[1])
import tensorflow as tf
tf.config.threading.set_intra_op_parallelism_threads(spec["intra_op"])
tf.config.threading.set_inter_op_parallelism_threads(spec["inter_op"])
import keras
import numpy as np
from genre_hpc.cnn import build_model
keras.utils.set_random_seed(0)
if spec["deterministic"]:
    tf.config.experimental.enable_op_determinism()
s, b, n = spec["image_size"], spec["batch_size"], spec["samples"]
rng = np.random.default_rng(0)
x = rng.random((n, s, s, 1), dtype=np.float32)
y = rng.integers(0, 10, n)
model = build_model("seed", (s, s, 1), 10)
xb, yb = x[:b], y[:b]
forward = tf.function(lambda t: model(t, training=False))

def per_call(fn, calls):
    for _ in range(3):
        fn()
    t0 = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - t0) / calls

out = {"forward": per_call(lambda: forward(xb).numpy(), 30),
       "step": per_call(lambda: model.train_on_batch(xb, yb), 30)}
def steal_s():
    # the machine's stolen time (a virtual CPU waiting for its host), /proc/stat's 8th field
    try:
        with open("/proc/stat") as f:
            return int(f.readline().split()[8]) / 100
    except (OSError, IndexError, ValueError):
        return float("nan")

steps = -(-n // b)

def epochs(name, *fit_args, **fit_kwargs):
    # one untimed epoch (the fit loop's own first-call costs), then two timed: wall and
    # process CPU per batch, and the machine's stolen seconds, of each
    model.fit(*fit_args, epochs=1, verbose=0, **fit_kwargs)
    fits, cpu, stolen = [], [], []
    for _ in range(2):
        c0, s0, t0 = sum(os.times()[:2]), steal_s(), time.perf_counter()
        model.fit(*fit_args, epochs=1, verbose=0, **fit_kwargs)
        fits.append((time.perf_counter() - t0) / steps)
        cpu.append((sum(os.times()[:2]) - c0) / steps)
        stolen.append(steal_s() - s0)
    out[name] = min(fits)
    out[name + "_runs"] = fits
    out[name + "_cpu_runs"] = cpu
    out[name + "_steal_s"] = stolen

epochs("fit", x, y, batch_size=b)
# the same epochs fed from a tf.data pipeline built once (batched, shuffled, prefetched)
pipeline = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(n, seed=0).batch(b)
epochs("fit_data", pipeline.prefetch(tf.data.AUTOTUNE))
# as train_cnn feeds it: autotuning off (its thread made the end of some epochs wait, idle)
from genre_hpc.cnn import input_pipeline
epochs("fit_input", input_pipeline(tf, x, y, b, 0))
# the step again, right after: a fit slower than the step with the host unchanged is the loop's
out["step_after"] = per_call(lambda: model.train_on_batch(xb, yb), 30)
out["intra_op"] = tf.config.threading.get_intra_op_parallelism_threads()
print("RESULT " + json.dumps(out))
"""

PARTS = ("forward", "step", "fit", "fit_data", "fit_input", "step_after")


def run_child(intra_op: int, deterministic: bool, args) -> dict:
    """One configuration in a fresh process: its per-batch times (seconds)."""
    from genre_hpc.cnn import _child_env

    spec = {
        "intra_op": intra_op,
        "inter_op": args.inter_op,
        "deterministic": deterministic,
        "image_size": args.image_size,
        "batch_size": args.batch_size,
        "samples": args.samples,
    }
    env = _child_env(intra_op, args.inter_op, intra_op, 0)  # train_cnn's: OMP and TF pools sized, PYTHONPATH
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(spec)], env=env, capture_output=True, text=True, check=False
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode or not lines:
        raise SystemExit(f"child failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    out = json.loads(lines[-1][len("RESULT ") :])
    if out["intra_op"] != intra_op:
        raise SystemExit(f"asked for {intra_op} intra-op threads, TensorFlow has {out['intra_op']}")
    return out


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--image-size", type=int, default=32)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--samples", type=int, default=1024)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--inter-op", type=int, default=1, help="inter-op threads (the suite's core grid: 1)")
    p.add_argument("--determinism", choices=("on", "off", "both"), default="both")
    args = p.parse_args(argv)

    modes = {"on": (True,), "off": (False,), "both": (True, False)}[args.determinism]
    configs = list(itertools.product(modes, (1, 2)))
    times = {(det, t, part): [] for det, t in configs for part in PARTS}
    for r in range(args.rounds):
        for det, t in configs:
            out = run_child(t, det, args)
            for part in PARTS:
                times[det, t, part].append(out[part])
            ms = {part: round(1000 * out[part], 2) for part in PARTS}
            ms["fit epochs"] = [round(1000 * v, 2) for v in out["fit_runs"]]
            ms["their CPU"] = [round(1000 * v, 2) for v in out["fit_cpu_runs"]]
            ms["steal s"] = out["fit_steal_s"]
            ms["fit_data epochs"] = [round(1000 * v, 2) for v in out["fit_data_runs"]]
            ms["fit_input epochs"] = [round(1000 * v, 2) for v in out["fit_input_runs"]]
            on = "on " if det else "off"
            print(f"round {r} determinism {on} intra-op {t}: {ms} ms per batch", flush=True)
    size = f"{args.image_size} px, batch {args.batch_size}, inter-op {args.inter_op}"
    print(f"\n{size}, medians of {args.rounds} runs [min, max], ms per batch")
    for det in modes:
        for part in PARTS:
            one, two = (times[det, t, part] for t in (1, 2))
            m1, m2 = statistics.median(one), statistics.median(two)
            print(
                f"determinism {'on ' if det else 'off'} {part:10s} 1 thread {1000 * m1:7.2f} "
                f"[{1000 * min(one):.2f}, {1000 * max(one):.2f}]  2 threads {1000 * m2:7.2f} "
                f"[{1000 * min(two):.2f}, {1000 * max(two):.2f}]  speed-up {m1 / m2:.2f}x"
            )


if __name__ == "__main__":
    main()
