"""Train two DYNAP-SE2 neurons to tell two frozen noise patterns apart (Rockpool's tutorial task).

Rockpool's DYNAP-SE2 training tutorial: 60 Poisson channels at 50 Hz for 500 ms (dt 1 ms), one
frozen sample per class; a recurrent layer of 2 ``DynapSim`` neurons should fire for its own
class. Here the input goes through a ``DynapseLinear`` (non-negative AMPA weights to start,
signed once trained: positive onto AMPA, negative onto SHUNT) into ``Recurrent(DynapSim(2))``
with a signed recurrent weight, and the objective is the rate of each neuron against its target
(50 Hz for the class neuron, 0 for the other: :class:`spikax.train.RateTarget`), Adam at 3e-3.

It prints the gradient scale at the start (the issue it answers: Rockpool's DynapSim gives
weight gradients of ~1e-5 and, where one makes them trainable, current gradients of ~1e6 per A,
which Adam copes with but plain SGD does not) and writes ``frozen_noise.png``: the two input
rasters and both neurons' spikes before and after training.

    python examples/dynapse_frozen_noise.py              # ~1 min on 2 CPU cores
    python examples/dynapse_frozen_noise.py --epochs 20  # quicker
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

import spikax as sx
from spikax.devices.dynapse import PARAMETER_NAMES
from spikax.train import tasks


def responses(model, xs):
    """Output spikes ``(2 samples, T, 2 neurons)`` of the physical model."""
    return np.asarray(_run(sx.train.unwrap(model), jnp.asarray(xs)))


@eqx.filter_jit
def _run(physical, xs):
    # Compiled once: before and after training are the same program with other weights.
    return jax.vmap(lambda x: physical(x)[0])(xs)


def gradient_scale(model, task, objective):
    """Median |dL/dw| of the weights and |dL/d ln I|, |dL/dI| (1/A) of the bias currents."""
    trainable = sx.train.chip_trainable(sx.train.unwrap(model), biases="all")
    xs, ys = (jnp.asarray(a) for a in task.train)
    spec = sx.train.default_filter(trainable)
    diff, static = eqx.partition(trainable, spec)

    def loss(diff):
        m = sx.train.unwrap(eqx.combine(diff, static))
        return jnp.mean(jax.vmap(lambda x, y: objective(m, x, y)[0])(xs, ys))

    grads = jax.grad(loss)(diff)
    w_in = np.abs(np.asarray(grads.layers[0].weight))
    w_rec = np.abs(np.asarray(grads.layers[1].w_rec.weight))
    cell = trainable.layers[1].cell.params
    g_params = grads.layers[1].cell.params
    per_efold, per_amp = [], []
    for name in PARAMETER_NAMES:
        if not isinstance(getattr(cell, name), sx.train.Positive):
            continue  # not made trainable by biases="all"
        g = np.abs(np.asarray(getattr(g_params, name).log))
        current = np.asarray(getattr(cell, name).unwrap())
        per_efold.append(g)
        per_amp.append(g / current)
    # Bias currents the task does not use (NMDA, SHUNT, ...) have no gradient: leave them out.
    per_efold, per_amp = np.concatenate(per_efold), np.concatenate(per_amp)
    per_amp, per_efold = per_amp[per_efold > 0], per_efold[per_efold > 0]
    return {
        "loss": float(loss(diff)),
        "dL/dw_in median": float(np.median(w_in[w_in > 0])), "dL/dw_in max": float(w_in.max()),
        "dL/dw_rec max": float(w_rec.max()),
        "dL/dlnI median": float(np.median(per_efold)), "dL/dlnI max": float(per_efold.max()),
        "dL/dI median (1/A)": float(np.median(per_amp)), "dL/dI max (1/A)": float(per_amp.max()),
    }


def plot(task, before, after, path: Path):
    import matplotlib.pyplot as plt

    dt = task.dt
    fig, axes = plt.subplots(3, 2, figsize=(10, 6.5), sharex=True, gridspec_kw={"height_ratios": [3, 1, 1]})
    for c in range(2):
        sx.plot.raster(task.train[0][c], dt=dt, ax=axes[0, c], marker_size=2.0, ylabel="input channel",
                       title=f"frozen noise {c} (class {c})")
        for row, (label, out) in enumerate((("before", before), ("after", after)), start=1):
            counts = out[c].sum(axis=0).astype(int)
            sx.plot.raster(out[c], dt=dt, ax=axes[row, c], marker_size=6.0, ylabel="neuron",
                           color="tab:blue" if row == 1 else "tab:red")
            axes[row, c].set_title(
                f"{label} training: neuron 0 {counts[0]} spikes, neuron 1 {counts[1]} spikes", fontsize=9
            )
    for ax in axes[:-1].ravel():
        ax.set_xlabel("")
    fig.suptitle("Two DynapSim neurons learn to fire for their own frozen-noise class")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=400)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="frozen-noise-out")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    task = tasks.load_task("frozen-noise", seed=args.seed)
    model = task.make_model("dynapse", jax.random.key(args.seed))
    objective = task.objective("dynapse")
    scale = gradient_scale(model, task, objective)
    print("gradient scale at the start:", json.dumps({k: float(f"{v:.3g}") for k, v in scale.items()}))
    before = responses(model, task.train[0])
    result = sx.train.fit(
        model, task.train, objective=objective, optimiser=optax.adam(args.lr), epochs=args.epochs,
        batch_size=2, key=jax.random.key(args.seed), metrics_path=out / "metrics.jsonl", progress=False,
    )
    after = responses(result.model, task.train[0])
    counts_before, counts_after = before.sum(axis=1), after.sum(axis=1)  # (sample, neuron)
    # Rockpool's tutorial reports the firing-rate ratio: the class neuron's count over the other's.
    frr = [float(counts_after[c, c] / max(counts_after[c, 1 - c], 1.0)) for c in range(2)]
    summary = {
        "counts_before": counts_before.astype(int).tolist(), "counts_after": counts_after.astype(int).tolist(),
        "firing_rate_ratio_after": frr, "final_loss": result.history[-1]["train_loss"],
        "accuracy": result.history[-1]["train_accuracy"], "gradient_scale": scale,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    plot(task, before, after, out / "frozen_noise.png")
    sx.train.save_model(out / "model.spikax", result.physical)
    print(f"spike counts (rows: sample of class 0, 1; columns: neuron 0, 1) before {summary['counts_before']}, "
          f"after {summary['counts_after']}; firing-rate ratio {frr[0]:.1f}, {frr[1]:.1f}")
    return summary


if __name__ == "__main__":
    main()
