"""One training run of a shipped task, with its files and figures: what ``spikax train`` runs.

``train_task`` trains, checkpoints after every epoch (resumable), saves the trained model,
writes the metrics, the loss and accuracy curves, a raster of one test sample, and for chip
models the robustness curve (accuracy against mismatch over drawn chips).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["plot_history", "plot_robustness", "plot_sample", "train_task"]


def plot_history(history: list, path: Path, *, title: str = "") -> None:
    """Loss and accuracy per epoch (train and, where present, evaluation)."""
    import matplotlib.pyplot as plt

    epochs = [h["epoch"] for h in history]
    fig, (ax_l, ax_a) = plt.subplots(1, 2, figsize=(10, 3.6))
    for split, style in (("train", "-"), ("eval", "--")):
        if f"{split}_loss" in history[0]:
            label = "test" if split == "eval" else "train (during the epoch)"
            ax_l.plot(epochs, [h[f"{split}_loss"] for h in history], style, label=label)
            ax_a.plot(epochs, [100 * h[f"{split}_accuracy"] for h in history], style, label=label)
    ax_l.set_xlabel("epoch")
    ax_l.set_ylabel("loss")
    losses = [h[k] for h in history for k in ("train_loss", "eval_loss") if k in h]
    if losses and min(losses) > 0 and max(losses) / min(losses) > 10:
        ax_l.set_yscale("log")  # only when the loss falls by more than a decade
    ax_a.set_xlabel("epoch")
    ax_a.set_ylabel("accuracy (%)")
    ax_a.set_ylim(0, 100)
    for ax in (ax_l, ax_a):
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
        ax.grid(alpha=0.3)
    if history and "eval_accuracy" in history[-1]:
        ax_a.set_title(f"test accuracy after epoch {epochs[-1]}: {100 * history[-1]['eval_accuracy']:.1f} %",
                       fontsize=10)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_sample(model, x, label: int, path: Path, *, dt: float, readout: str = "max", title: str = "") -> None:
    """Input raster, every spiking layer's raster and the readout of one sample.

    The readout panel shows what the classifier compares: the membrane of each readout neuron
    (``readout="max"``: the class is the highest maximum), or the running sum of the readout
    (``"sum"``/``"count"``: the class is the highest total at the end)."""
    import matplotlib.pyplot as plt

    from .. import plot as sxplot
    from ._losses import forward
    from ._reparam import unwrap

    import equinox as eqx

    y, spikes = eqx.filter_jit(forward)(unwrap(model), jnp.asarray(x))
    panels = [("input channel", np.asarray(x))] + [(f"layer {i + 1} neuron", np.asarray(s)) for i, (s, _) in
                                                   enumerate(spikes)]
    fig, axes = plt.subplots(len(panels) + 1, 1, figsize=(8, 2.2 * (len(panels) + 1)), sharex=True)
    for ax, (name, s) in zip(axes, panels):
        sxplot.raster(s, dt=dt, ax=ax, marker_size=2.5, ylabel=name)
        ax.set_xlabel("")
        what = "input" if name == "input channel" else name.split(" neuron")[0]
        unit = "channel" if name == "input channel" else "neuron"
        ax.set_title(f"{what}: {s.sum() / (s.shape[0] * dt * s.shape[1]):.1f} Hz per {unit} on average", fontsize=9)
    y = np.asarray(y)
    ax = axes[-1]
    t = np.arange(y.shape[0]) * dt
    running = readout in ("sum", "count")
    spiking_output = readout == "count"  # the output layer's own spikes
    if running:
        y = np.cumsum(y, axis=0)
    for k in range(y.shape[1]):
        ax.plot(t, y[:, k], lw=2.0 if k == label else 0.8, label=f"class {k}" + (" (true)" if k == label else ""))
    ax.set_xlabel("time (s)")
    if spiking_output:
        ax.set_ylabel("output spikes so far")
    else:
        ax.set_ylabel("logit so far (sum of readout)" if running else "readout membrane (a.u.)")
    predicted = int(np.argmax(y[-1] if running else y.max(axis=0)))
    ax.set_title(f"predicted class {predicted}, true class {label}", fontsize=9)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False, fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_robustness(curves: dict, path: Path, *, title: str = "") -> None:
    """Accuracy against mismatch, mean and one standard deviation over chips, per training."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for label, r in curves.items():
        p, m, s = np.asarray(r["percent"]), 100 * np.asarray(r["mean"]), 100 * np.asarray(r["std"])
        ax.errorbar(p, m, yerr=s, marker="o", capsize=4, label=f"{label} ({len(r['values'][0])} chips per point)")
        ax.fill_between(p, m - s, m + s, alpha=0.15)
    ax.set_xlabel("mismatch (relative std of every bias current and weight, %)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left", frameon=False)
    ax.set_title(title or "accuracy over drawn chips (mean ± std)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def train_task(
    task_name: str,
    kind: str,
    out: Path,
    *,
    epochs: Optional[int] = None,
    mismatch: float = 0.0,
    batch_size: Optional[int] = None,
    learning_rate: Optional[float] = None,
    seed: int = 0,
    n_hidden: Optional[int] = None,
    resume: bool = False,
    progress: bool = True,
    robustness_chips: int = 50,
    percents=(0.0, 5.0, 10.0, 20.0, 30.0),
    task=None,
    fan_in: Optional[int] = None,
    devices=None,
) -> dict:
    """Train ``kind`` on ``task_name`` into folder ``out``; returns the summary it writes.

    With ``mismatch``, every training sample runs on its own freshly drawn chip
    (``fit(perturb=ChipMismatch(mismatch), perturb_each="sample")``): on Japanese Vowels at 20 %
    this lost 2.7 points from its nominal accuracy at 20 % (20 chips), where a chip per batch
    lost 5.1 (50 chips) and plain training 5.0.

    Adam, its learning rate decaying from ``learning_rate`` to 5 % of it along a cosine over the
    ``epochs`` (resuming with more epochs stretches the schedule).

    ``devices`` (as for :func:`spikax.distributed.batch_mesh`, default every device) splits each
    training batch and every evaluation (the robustness curve's too) over devices (the batch
    size must divide by their count); with several processes only process 0 writes files.

    Files: ``checkpoint.spikax`` (the run, every epoch), ``model.spikax`` (the trained physical
    model), ``metrics.jsonl``, ``curves.png``, ``sample.png``, ``summary.json`` and for chip
    models ``robustness.json`` / ``robustness.png``.
    """
    import optax

    from ._checkpoint import save_model
    from ._chip import ChipMismatch, evaluate_mismatch
    from ._fit import evaluate, fit
    from .tasks import load_task

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    task = load_task(task_name, n_hidden=n_hidden) if task is None else task
    defaults = task.defaults(kind)
    epochs = defaults["epochs"] if epochs is None else epochs
    from ..distributed import batch_mesh

    n_devices = batch_mesh(devices).size
    if batch_size is None:
        batch_size = defaults["batch_size"]
        if batch_size % n_devices:
            down, up = batch_size - batch_size % n_devices, batch_size - batch_size % n_devices + n_devices
            raise ValueError(
                f"the task's batch size ({batch_size}) does not divide over the {n_devices} devices: give one that "
                f"does (--batch-size {up}{f' or {down}' if down else ''} on the command line)"
            )
    learning_rate = defaults["learning_rate"] if learning_rate is None else learning_rate
    if mismatch and kind != "dynapse":
        raise ValueError("mismatch applies to chip models only (model 'dynapse')")
    key = jax.random.key(seed)
    k_model, k_fit, k_eval = jax.random.split(key, 3)
    model = task.make_model(kind, k_model)
    if fan_in is not None:
        if kind != "dynapse":
            raise ValueError("`fan_in` applies to chip models only (model 'dynapse')")
        from ..devices.dynapse.deploy import prune_fan_in

        # Pruned at the start and held: the network trains within the chip's CAM limit.
        model = prune_fan_in(model, fan_in, hold=True)
    objective = task.objective(kind)
    perturb = ChipMismatch(mismatch) if mismatch else None
    # Adam with a cosine decay of the learning rate to 5 % over the run: with a freshly drawn
    # chip every batch the gradient is noisy to the end, and a constant rate left the last
    # epochs' test accuracy jumping by 10 points (82.7 % after epoch 40, 92.2 % after 39).
    n_steps = epochs * (len(task.train[1]) // batch_size)
    schedule = optax.cosine_decay_schedule(learning_rate, decay_steps=max(n_steps, 1), alpha=0.05)
    result = fit(
        model, task.train, objective=objective, optimiser=optax.adam(schedule), epochs=epochs,
        batch_size=batch_size, key=k_fit, eval_data=task.test, perturb=perturb, perturb_each="sample",
        metrics_path=out / "metrics.jsonl", checkpoint_path=out / "checkpoint.spikax", resume=resume,
        progress=progress, devices=devices,
        config={"task": task_name, "model": kind, "learning_rate": learning_rate, "n_hidden": n_hidden,
                "fan_in": fan_in},
    )
    physical = result.physical
    writer = jax.process_index() == 0  # several processes compute together; one writes
    if writer:
        save_model(out / "model.spikax", physical,
                   metadata={"task": task_name, "model": kind, "mismatch": mismatch})
    final = evaluate(physical, task.test, objective=objective, key=k_eval, devices=devices)
    history = result.history
    label = f"{kind} on {task_name}" + (f", trained at {mismatch:g} % mismatch" if mismatch else "")
    if writer:
        plot_history(history, out / "curves.png", title=label)
        plot_sample(physical, task.test[0][0], int(task.test[1][0]), out / "sample.png", dt=task.dt,
                    readout=getattr(objective, "readout", "count"),
                    title=f"{label}: test sample 0 (class {int(task.test[1][0])})")
    times = [h["train_time_s"] for h in history[1:]] or [history[-1]["train_time_s"]]
    summary = {
        "task": task_name, "model": kind, "mismatch_percent": mismatch, "epochs": len(history),
        "batch_size": batch_size, "learning_rate": learning_rate, "seed": seed, "fan_in": fan_in,
        "test_accuracy": final["accuracy"], "test_loss": final["loss"], "test_rate_hz": final.get("rate_hz"),
        "train_accuracy": history[-1]["train_accuracy"] if history else None,
        "median_epoch_train_time_s": float(np.median(times)) if history else None,
        "median_step_share": float(np.median([h["step_share"] for h in history[1:]] or [0.0])),
        "files": ["checkpoint.spikax", "model.spikax", "metrics.jsonl", "curves.png", "sample.png"],
    }
    if kind == "dynapse" and robustness_chips:
        rob = evaluate_mismatch(physical, task.test, objective=objective, key=k_eval, percents=percents,
                                n_chips=robustness_chips, progress=progress, devices=devices)
        if writer:
            (out / "robustness.json").write_text(json.dumps(rob))
            plot_robustness({label: rob}, out / "robustness.png")
        summary["robustness"] = {f"{p:g}%": [m, s] for p, m, s in zip(rob["percent"], rob["mean"], rob["std"])}
        summary["files"] += ["robustness.json", "robustness.png"]
    if writer:
        (out / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary
