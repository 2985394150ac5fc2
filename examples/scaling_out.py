"""Scaling out with ``spikax.distributed``: a batch, a sweep, an ensemble of chips, a gradient.

The model code is the unbatched model; only the call changes (``jax.vmap`` becomes
``sx.distributed.vmap``), and the same script uses one device, every core of a CPU
(``--devices all``, one XLA device per core), the GPUs of a node or the hosts of a cluster
(``sx.distributed.initialize()`` at the top, the script started once per host).

1. A batch of 32 Poisson inputs (20 channels at 10 Hz) through ``Linear -> LIF``, split over the devices.
2. A sweep: the firing rate of a DYNAP-SE2 neuron against its DC current (the f-I curve), one
   current per sample.
3. An ensemble: ``--chips`` drawn DYNAP-SE2 chips (10 % mismatch) of a 16-neuron population
   under the same input; chip i is drawn from ``fold_in(key, i)``, so the chips do not depend on
   the device count or the chunking.
4. A data-parallel gradient: each device differentiates its share of the batch, one all-reduce.

Writes ``scaling_out.png`` (the f-I curve and the ensemble's rate distribution) and
``summary.json``.

    python examples/scaling_out.py --devices all     # one device per core
    python examples/scaling_out.py --chips 1000
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="scaling-out")
    parser.add_argument("--devices", default=None, help="CPU devices to expose: a count or 'all' (before JAX starts)")
    parser.add_argument("--chips", type=int, default=200)
    parser.add_argument("--steps", type=int, default=300, help="time steps of 1 ms")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    import spikax as sx

    if args.devices is not None:
        sx.distributed.cpu_devices(None if args.devices == "all" else int(args.devices))
    import equinox as eqx
    import jax
    import jax.numpy as jnp

    from spikax.devices import dynapse as dx

    n_dev = len(jax.devices())
    k_in, k_w, k_chip = jax.random.split(jax.random.key(0), 3)

    # --8<-- [start:parts]
    # 1. A batch.
    net = sx.Sequential(sx.Linear.create(20, 16, use_bias=False, key=k_w), sx.LIF.create(16, max_spikes_per_dt=1))
    xs = (jax.random.uniform(k_in, (32, args.steps, 20)) < 0.01).astype(jnp.float32)
    spikes = sx.distributed.vmap(lambda m, x: m(x)[0], in_axes=(None, 0))(net, xs)

    # 2. A sweep: one DC current per sample, the f-I curve of the chip's neuron.
    idc = jnp.geomspace(5e-12, 1e-9, 16)
    silence = jnp.zeros((1000, 1, 4))  # 1 s: rates to 1 Hz

    def rate(current, x):
        neuron = dx.DynapSim.create(1, Idc=current)
        return jnp.sum(neuron(x)[0]) / (x.shape[0] * neuron.dt)

    rates = sx.distributed.vmap(rate, in_axes=(0, None))(idc, silence)

    # 3. An ensemble of drawn chips: the same population and input on every chip.
    population = dx.DynapSim.create(16, Idc=30e-12)
    drive = (jax.random.uniform(k_in, (args.steps, 16, 1)) < 0.02).astype(jnp.float32) * jnp.array([[[1, 0, 0, 0.0]]])

    def chip_rates(key, x):
        chip = eqx.tree_at(lambda m: m.params, population, dx.apply_mismatch(key, population.params, 10.0))
        return jnp.sum(chip(x)[0], axis=0) / (x.shape[0] * chip.dt)

    t0 = time.perf_counter()
    per_chip = np.asarray(
        sx.distributed.ensemble(chip_rates, args.chips, drive, key=k_chip, progress=False)
    )  # (chips, 16)
    ensemble_s = time.perf_counter() - t0

    # 4. A data-parallel gradient of the batch's mean spike count.
    loss, grads = sx.distributed.value_and_grad(lambda m, x: jnp.sum(m(x)[0]))(net, xs)
    grad_norm = float(jnp.linalg.norm(grads.layers[0].weight))
    # --8<-- [end:parts]

    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 4), layout="constrained")
    ax_fi, ax_chips = fig.subplots(1, 2)
    ax_fi.semilogx(np.asarray(idc) * 1e12, np.asarray(rates), "o-", color="C0", label="DynapSim, nominal chip")
    ax_fi.set(xlabel="DC current Idc (pA)", ylabel="firing rate (Hz)",
              title=f"A sweep: {len(idc)} currents on {n_dev} device(s)")
    ax_fi.legend(loc="upper left")
    mean_rate = per_chip.mean(axis=1)
    quantum = 1.0 / (per_chip.shape[1] * args.steps * population.dt)  # one spike more on a chip, in Hz
    bins = np.arange(mean_rate.min() - quantum / 2, mean_rate.max() + quantum, quantum)
    ax_chips.hist(mean_rate, bins=bins, color="C1", label=f"{args.chips} chips, 10 % mismatch")
    ax_chips.axvline(float(mean_rate.mean()), color="k", ls=":", label=f"mean {mean_rate.mean():.1f} Hz")
    ax_chips.set(xlabel="population mean rate of a chip (Hz)", ylabel="chips",
                 title=f"An ensemble: {args.chips} drawn DYNAP-SE2 chips on {n_dev} device(s)")
    ax_chips.yaxis.get_major_locator().set_params(integer=True)
    ax_chips.legend(loc="upper left")
    fig.savefig(out / "scaling_out.png", dpi=110)

    summary = {
        "devices": n_dev,
        "batch_spikes": int(spikes.sum()),
        "fi_rates_hz": np.asarray(rates).round(1).tolist(),
        "chips": args.chips,
        "chip_mean_rate_hz": float(mean_rate.mean()),
        "chip_rate_std_hz": float(mean_rate.std()),
        "ensemble_s": round(ensemble_s, 2),
        "loss": float(loss),
        "grad_norm": grad_norm,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(f"{n_dev} device(s): batch {tuple(spikes.shape)}, {summary['batch_spikes']} spikes; "
          f"f-I {summary['fi_rates_hz'][0]:.0f}-{summary['fi_rates_hz'][-1]:.0f} Hz; "
          f"{args.chips} chips in {ensemble_s:.1f} s, mean rate {summary['chip_mean_rate_hz']:.1f} "
          f"+- {summary['chip_rate_std_hz']:.1f} Hz; |dL/dW| = {grad_norm:.3g}")
    return summary


if __name__ == "__main__":
    main()
