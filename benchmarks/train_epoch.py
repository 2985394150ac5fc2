"""Where a training epoch's time goes, and whether a retaining allocator speeds it up.

Data of the Japanese Vowels task's shape without needing ``aeon``: 270 samples of 290 steps x
24 channels of Poisson spikes at 35 Hz (the encoded set's mean rate), 9 classes; the models and
objectives of ``spikax.train.tasks`` (LIF: Linear -> LIF -> Linear -> LI, 128 hidden; DynapSim:
DynapseLinear -> Recurrent(DynapSim(128)) -> Linear), batch 27, Adam. Each configuration trains
``--epochs`` epochs; the first (compilation) is dropped, and the medians of the rest are printed:
the epoch's training time, the time inside the compiled steps, and their ratio.

With ``--allocator both`` the script re-runs itself in fresh processes, alternating glibc's
default allocator with one that keeps freed memory (``MALLOC_MMAP_THRESHOLD_=1073741824
MALLOC_TRIM_THRESHOLD_=2147483647``), which has to be set before the process starts.

    python benchmarks/train_epoch.py                    # this process, default allocator
    python benchmarks/train_epoch.py --allocator both   # A/B in fresh processes, 2 rounds

The "default" runs set SPIKAX_RETAIN_MEMORY=0, so that fit does not switch the allocator itself;
"retain" leaves fit to call mallopt at run time, "env" sets the variables before the start.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys

RETAIN = {"MALLOC_MMAP_THRESHOLD_": "1073741824", "MALLOC_TRIM_THRESHOLD_": "2147483647"}


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def measure(models, epochs: int) -> dict:
    import jax
    import numpy as np
    import optax

    import spikax as sx
    from spikax.train.tasks import _dynapse_model, _lif_model

    rng = np.random.default_rng(0)
    x = (rng.random((270, 290, 24)) < 0.035).astype(np.float32)
    y = rng.integers(0, 9, 270).astype(np.int32)
    out = {}
    for kind in models:
        key = jax.random.key(0)
        if kind == "lif":
            model = _lif_model(24, 128, 9, key, 1e-3, scale=1.0, readout_tau=20e-3)
            objective = sx.train.Classification(readout="max")
        else:
            model = _dynapse_model(24, 128, 9, key, 1e-3, input_scale=4.0, recurrent_scale=0.01)
            objective = sx.train.Classification(readout="sum")
        res = sx.train.fit(model, (x, y), objective=objective, optimiser=optax.adam(1e-3), epochs=epochs,
                           batch_size=27, key=jax.random.key(1), progress=False)
        rest = res.history[1:]
        out[kind] = {
            "first_epoch_s": res.history[0]["train_time_s"],
            "epoch_s": float(np.median([h["train_time_s"] for h in rest])),
            "step_s": float(np.median([h["step_time_s"] for h in rest])),
            "step_share": float(np.median([h["step_share"] for h in rest])),
        }
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="lif,dynapse")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--allocator", choices=["this", "both"], default="this")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    models = args.models.split(",")
    if args.allocator == "this":
        result = measure(models, args.epochs)
        if args.json:
            print(json.dumps(result))
            return result
        print(f"CPU: {cpu_name()}, {os.cpu_count()} cores")
        for kind, r in result.items():
            print(f"{kind:>8}: epoch {r['epoch_s'] * 1e3:.0f} ms (first, compiling: {r['first_epoch_s']:.1f} s), "
                  f"in the compiled step {r['step_s'] * 1e3:.0f} ms = {100 * r['step_share']:.1f} %")
        return result
    print(f"CPU: {cpu_name()}, {os.cpu_count()} cores; fresh process per run, alternating")
    rows = {"default": [], "retain": [], "env": []}
    variants = (("default", {"SPIKAX_RETAIN_MEMORY": "0"}), ("retain", {"SPIKAX_RETAIN_MEMORY": "1"}),
                ("env", {"SPIKAX_RETAIN_MEMORY": "0", **RETAIN}))
    for _ in range(args.rounds):
        for name, extra in variants:
            env = {k: v for k, v in os.environ.items() if k not in RETAIN and k != "SPIKAX_RETAIN_MEMORY"} | extra
            cmd = [sys.executable, __file__, "--models", args.models, "--epochs", str(args.epochs), "--json"]
            text = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
            rows[name].append(json.loads(text.strip().splitlines()[-1]))
    for kind in models:
        for name in rows:
            epochs = [r[kind]["epoch_s"] * 1e3 for r in rows[name]]
            shares = [100 * r[kind]["step_share"] for r in rows[name]]
            print(f"{kind:>8} {name:>8}: epoch {', '.join(f'{e:.0f}' for e in epochs)} ms; "
                  f"step share {', '.join(f'{s:.1f}' for s in shares)} %")
    return rows


if __name__ == "__main__":
    main()
