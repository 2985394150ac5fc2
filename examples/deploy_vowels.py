"""From a trained DYNAP-SE2 network to a chip configuration and back: Japanese Vowels end to end.

1. Train the recurrent chip network of ``spikax train --task vowels --model dynapse`` with each
   neuron's fan-in held at the chip's 64 CAM entries from the start (or load one, ``--model``).
2. Deploy it: one bias set per core, every bias rounded to its (coarse, fine) code, weights
   quantised to four base currents per core and a 4-bit mask per connection, neurons placed and
   routed; write ``config.json``.
3. Measure the test accuracy of the float network, with the biases rounded, with the weights
   quantised too (the configuration as the chip runs it), after fine-tuning through the
   quantisation (straight-through estimator), and over drawn chips at 10 % and 20 % mismatch.
4. ``deploy.png``: weights before and after, the bias rounding errors, core occupancy and fan-in.

Run ``python examples/deploy_vowels.py`` (needs ``pip install 'spikax[data]'``; about 3 min on
2 cores); ``--task frozen-noise`` runs the same path on Rockpool's two-neuron tutorial task.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import equinox as eqx
import jax
import numpy as np
import optax

import spikax as sx
from spikax.devices.dynapse import deploy as dd


def _with_params(model, params):
    """``model`` with its DynapSim's parameters replaced (the chip's rounded biases)."""
    second = model.layers[1]
    get = (lambda m: m.layers[1].cell.params) if isinstance(second, sx.Recurrent) else (lambda m: m.layers[1].params)
    return eqx.tree_at(get, model, params)


def plot(model, deployment, path, title):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    chip = deployment.network()
    lin, cell, w_rec, _ = dd.split_chip_network(model)
    q_lin, q_cell, q_rec, _ = dd.split_chip_network(chip)
    n, n_in = cell.n_neurons, lin.in_features
    stack = dd._network._stack
    w = [stack(lin.to_synapses(), n_in, n)[0]]
    q = [stack(q_lin.to_synapses(), n_in, n)[0]]
    if w_rec is not None:
        w.append(stack(w_rec, n, n)[0])
        q.append(stack(q_rec, n, n)[0])
    fig, axes = plt.subplots(2, 2, figsize=(11, 8.5))
    ax = axes[0, 0]
    for (a, b), label, colour in zip(zip(w, q), ("input weights", "recurrent weights"), ("C0", "C3")):
        a, b = a.sum(-1), b.sum(-1)  # one synapse type per connection
        sel = (a != 0) | (b != 0)
        ax.scatter(a[sel], b[sel], s=5, alpha=0.5, color=colour, label=f"{label} ({int(sel.sum())})")
    top = max(float(np.max(np.abs(x.sum(-1)))) for x in w + q)
    ax.plot([0, top], [0, top], color="k", lw=0.8, label="W_q = W")
    ax.set_xlabel("trained weight |W| (units of Iscale = 10 nA)")
    ax.set_ylabel("configured weight |W_q| (units of Iscale)")
    ax.set_title(f"weights: {100 * deployment.report['weight_error']:.1f} % relative error")
    ax.legend(loc="upper left", fontsize=8)

    ax = axes[0, 1]
    errors = deployment.report["bias_rounding_error"]
    names = list(errors)
    ax.barh(np.arange(len(names)), [100 * errors[k] for k in names], color="C2")
    ax.set_yticks(np.arange(len(names)), [f"{k} ({dd.BIAS_NAMES[k]})" for k in names], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("relative change of the current by rounding to its code (%)")
    ax.set_title("bias rounding (19 neuron biases)")

    ax = axes[1, 0]
    occupancy = np.zeros((dd.CHIPS, dd.CORES_PER_CHIP))
    for c in deployment.report["cores"]:
        occupancy[c["chip"], c["core"]] = c["neurons"]
    x = np.arange(dd.CHIPS * dd.CORES_PER_CHIP)
    bars = ax.bar(x, occupancy.ravel(), color="C0", label="neurons placed")
    ax.bar_label(bars, labels=[f"{int(v)}" if v else "" for v in occupancy.ravel()], fontsize=8)
    ax.axhline(dd.NEURONS_PER_CORE, color="k", ls="--", lw=0.8, label=f"core capacity ({dd.NEURONS_PER_CORE})")
    ax.set_xticks(x, [f"{c // 4}.{c % 4}" for c in x], fontsize=8)
    ax.set_xlabel("chip.core")
    ax.set_ylabel("neurons")
    ax.set_ylim(0, dd.NEURONS_PER_CORE * 1.15)
    ax.set_title("core occupancy")
    ax.legend(loc="upper right", fontsize=8)

    ax = axes[1, 1]
    fan_in = np.array([len(nr["cam"]) for nr in deployment.config.data["neurons"]])
    ax.hist(fan_in, bins=np.arange(0, dd.CAM_ENTRIES + 2) - 0.5, color="C1", label="neurons")
    ax.axvline(dd.CAM_ENTRIES, color="k", ls="--", lw=0.8, label=f"CAM entries ({dd.CAM_ENTRIES})")
    ax.set_xlabel("incoming connections (CAM entries used)")
    ax.set_ylabel("neurons")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.set_title("fan-in after quantisation")
    ax.legend(loc="upper left", fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", choices=["vowels", "frozen-noise"], default="vowels")
    parser.add_argument("--model", default=None, help="a trained model.spikax (trained with --fan-in 64) to deploy")
    parser.add_argument("--epochs", type=int, default=None, help="training epochs (default: the task's)")
    parser.add_argument("--fine-tune-epochs", type=int, default=10, help="0: no fine-tuning")
    parser.add_argument("--fine-tune-lr", type=float, default=3e-4)
    parser.add_argument("--chips", type=int, default=50, help="drawn chips per mismatch level")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="deploy-out")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    task = sx.train.tasks.load_task(args.task)
    objective = task.objective("dynapse")
    key = jax.random.key(args.seed)
    k_eval, k_ft, k_chips = jax.random.split(key, 3)

    if args.model is None:
        from spikax.train._experiment import train_task

        train_task(args.task, "dynapse", out / "train", epochs=args.epochs, seed=args.seed, fan_in=dd.CAM_ENTRIES,
                   robustness_chips=0, progress=False, task=task)
        args.model = out / "train" / "model.spikax"
    model = sx.train.load_model(args.model)

    def accuracy(net):
        return float(sx.train.evaluate(net, task.test, objective=objective, key=k_eval)["accuracy"])

    # --8<-- [start:deploy]
    deployment = dd.deploy(model)
    deployment.config.save(out / "config.json")
    print(dd.format_report(deployment.report))
    configured = deployment.network()
    acc = {
        "float": accuracy(model),
        "biases rounded": accuracy(_with_params(model, dd.split_chip_network(configured)[1].params)),
        "biases rounded, weights quantised": accuracy(configured),
    }

    # Fine-tune through the quantisation: the forward pass is the configured network's.
    tuned = deployment
    if args.fine_tune_epochs > 0:
        aware = dd.quantization_aware(model, deployment)
        batch = min(task.defaults("dynapse")["batch_size"], len(task.train[1]))
        result = sx.train.fit(aware, task.train, objective=objective, optimiser=optax.adam(args.fine_tune_lr),
                              epochs=args.fine_tune_epochs, batch_size=batch, key=k_ft, progress=False)
        tuned = dd.deploy(result.physical, base_weights=deployment.base_weights, cores=deployment.cores)
    tuned.config.save(out / "config_finetuned.json")
    acc["fine-tuned, as configured"] = accuracy(tuned.network())
    # The configuration file holds the whole network: read back, it runs the same.
    reread = dd.to_network(out / "config_finetuned.json")
    tail = tuned.tail
    acc["fine-tuned, read back from config_finetuned.json"] = accuracy(sx.Sequential(*reread.layers, *tail))
    # --8<-- [end:deploy]

    chip_net = tuned.network()
    rob = sx.train.evaluate_mismatch(chip_net, task.test, objective=objective, key=k_chips,
                                     percents=(0.0, 10.0, 20.0), n_chips=args.chips, progress=False)
    for p, m, s in zip(rob["percent"], rob["mean"], rob["std"]):
        if p > 0:
            acc[f"{p:g} % mismatch ({args.chips} chips)"] = [m, s]
    for name, value in acc.items():
        text = f"{100 * value[0]:.1f} ± {100 * value[1]:.1f}" if isinstance(value, list) else f"{100 * value:.1f}"
        print(f"test accuracy, {name}: {text} %")
    plot(model, deployment, out / "deploy.png",
         f"{args.task}: {deployment.report['neurons']} DYNAP-SE2 neurons, test accuracy "
         f"{100 * acc['float']:.1f} % float, {100 * acc['biases rounded, weights quantised']:.1f} % configured, "
         f"{100 * acc['fine-tuned, as configured']:.1f} % fine-tuned")
    summary = {"task": args.task, "accuracy": acc, "report": {k: v for k, v in deployment.report.items()
                                                             if k != "bias_sharing_error"},
               "fine_tuned_weight_error": tuned.report["weight_error"]}
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    print(f"wrote config.json, config_finetuned.json, deploy.png and summary.json to {out}")
    return summary


if __name__ == "__main__":
    main()
