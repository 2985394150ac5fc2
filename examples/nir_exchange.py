"""Exchanging networks through NIR: a spikax network out and back, and a foreign graph under each update.

1. A recurrent spikax network (Linear -> Recurrent(LIF)) is written to ``net.nir`` with
   ``to_nir`` and read back with ``from_nir``: the file records how each neuron steps, so the
   network read back fires the same spikes.
2. A graph as snnTorch 1.0 exports a ``Synaptic`` layer (one Affine, one CubaLIF), read under
   four of the presets of ``spikax.interop.nir`` (``preset_table()``): NIR's reference update,
   snnTorch's, Norse's and exact integration. An NIR file holds continuous-time equations and
   cannot say which discrete update its author ran, so the same file fires differently under
   each; the preset of the library that wrote it reproduces that library's spikes.

Writes ``nir_exchange.png`` (the round trip's rasters and the four presets' rasters) and
``summary.json``.

    python examples/nir_exchange.py            # needs `pip install 'spikax[nir]'`
    python examples/nir_exchange.py --out DIR
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import jax
import jax.numpy as jnp
import nir
import numpy as np
from matplotlib.figure import Figure

import spikax as sx
from spikax.interop.nir import from_nir, to_nir

PRESETS = ("nir", "snntorch", "norse", "exact")


# --8<-- [start:round_trip]
def round_trip(out: Path, steps: int):
    k1, k2, k3 = jax.random.split(jax.random.key(0), 3)
    lif = sx.LIF.create(8, max_spikes_per_dt=1)
    net = sx.Sequential(sx.Linear.create(4, 8, key=k1), sx.Recurrent(lif, 0.2 * jax.random.normal(k2, (8, 8))))
    nir.write(out / "net.nir", to_nir(net))
    back = from_nir(out / "net.nir", dt=1e-3)
    x = (jax.random.uniform(k3, (steps, 4)) < 0.3).astype(jnp.float32)
    return np.asarray(net(x)[0]), np.asarray(back(x)[0])
# --8<-- [end:round_trip]


def snntorch_graph(n: int = 3, dt: float = 1e-4) -> nir.NIRGraph:
    """One hidden CubaLIF as snnTorch 1.0 writes ``Synaptic(alpha=0.5, beta=0.8)`` (its fixed
    dt = 1e-4: tau = dt/(1 - decay), r = tau_mem/dt, w_in = tau_syn/dt)."""
    tau_syn, tau_mem = np.full(n, dt / 0.5), np.full(n, dt / 0.2)
    return nir.NIRGraph.from_list(
        nir.Affine(weight=np.array([[1.5, -0.5], [0.8, 0.9], [0.2, 1.2]]), bias=np.zeros(n)),
        nir.CubaLIF(tau_syn=tau_syn, tau_mem=tau_mem, r=tau_mem / dt, w_in=tau_syn / dt, v_leak=np.zeros(n),
                    v_threshold=np.ones(n), v_reset=np.zeros(n)),
    )


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="nir-exchange")
    parser.add_argument("--steps", type=int, default=100)
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    ours, back = round_trip(out, args.steps)
    graph = snntorch_graph()
    x = (jax.random.uniform(jax.random.key(4), (args.steps, 2)) < 0.5).astype(jnp.float32)
    # The file cannot say that snnTorch's reset subtracts (NIR has only "reset to v_reset").
    by_preset = {p: np.asarray(from_nir(graph, dt=1e-4, preset=p, reset="subtract")(x)[0]) for p in PRESETS}

    fig = Figure(figsize=(12, 6.5), layout="constrained")
    top, bottom = fig.subfigures(2, 1, height_ratios=[1, 1.3])
    ax_a, ax_b = top.subplots(1, 2, sharey=True)
    sx.plot.raster(ours, dt=1e-3, ax=ax_a, ylabel="neuron", title=f"spikax network: {int(ours.sum())} spikes")
    sx.plot.raster(back, dt=1e-3, ax=ax_b, ylabel="neuron", title=f"read back from net.nir: {int(back.sum())} spikes "
                   f"({'identical' if np.array_equal(ours, back) else 'DIFFERENT'})")
    axes = bottom.subplots(1, len(PRESETS), sharey=True)
    for ax, (preset, spikes) in zip(axes, by_preset.items()):
        sx.plot.raster(spikes, dt=1e-4, ax=ax, ylabel="neuron", title=f'preset="{preset}": {int(spikes.sum())} spikes')
    bottom.suptitle("One NIR file (snnTorch 1.0's Synaptic layer), four discrete-time updates")
    fig.savefig(out / "nir_exchange.png", dpi=110)

    summary = {
        "round_trip_identical": bool(np.array_equal(ours, back)),
        "round_trip_spikes": int(ours.sum()),
        "spikes_per_preset": {p: s.sum(0).astype(int).tolist() for p, s in by_preset.items()},
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(f"round trip: {summary['round_trip_spikes']} spikes, identical: {summary['round_trip_identical']}")
    for p, counts in summary["spikes_per_preset"].items():
        print(f"  {p:>9}: spikes per neuron {counts}")
    return summary


if __name__ == "__main__":
    main()
