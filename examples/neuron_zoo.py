"""Firing patterns of the neuron zoo, as figure grids like the published ones.

1. AdEx (Brette & Gerstner 2005) with the eight parameter sets of Naud et al. (2008), Table 1:
   one population of eight neurons, one parameter set and one step current per neuron.
2. Izhikevich (2003) with the seven cell classes of the paper's Fig. 2, each under the stimulus
   that shows its character (a step current; a release from hyperpolarisation for the
   thalamo-cortical cell; a doublet of kicks for the resonator).

    python examples/neuron_zoo.py            # figures in ./neuron-zoo
    python examples/neuron_zoo.py --out DIR
"""

from __future__ import annotations

import argparse
from pathlib import Path

import jax.numpy as jnp
import numpy as np
from matplotlib.figure import Figure

import spikax as sx
from spikax.neurons import IZHIKEVICH_PRESETS, NAUD2008

DT = 1e-4  # 0.1 ms, as Naud et al. and Brian2's forward-Euler runs


def naud_patterns(out: Path) -> dict:
    names = list(NAUD2008)
    # The table is in the paper's notation; the model's parameters use spikax's names.
    rename = {"E_L": "v_leak", "V_T": "v_rh", "Delta_T": "delta_T", "V_reset": "v_reset"}
    columns = {rename.get(k, k): np.array([NAUD2008[n][k] for n in names]) for k in NAUD2008[names[0]] if k != "I"}
    model = sx.AdEx.create(len(names), dt=DT, v_threshold=0.0, **columns)
    steps = int(0.6 / DT)
    current = np.zeros((steps, len(names)), np.float32)
    current[int(0.05 / DT):] = [NAUD2008[n]["I"] for n in names]  # step on at 50 ms
    spikes, _, rec = model(jnp.asarray(current), record=True)
    spikes, v, w = (np.asarray(a) for a in (spikes, rec["v"], rec["w"]))
    fig = Figure(figsize=(12, 10), layout="constrained")
    axes = fig.subplots(4, 2).ravel()
    summary = {}
    for k, name in enumerate(names):
        # Draw each spike up to the cut-off (V_peak = 0 mV): the recorded V is already reset.
        v_draw = np.where(spikes[:, k] > 0, 0.0, v[:, k]) * 1e3
        sx.plot.twin(v_draw, w[:, k] * 1e12, dt=DT, left_label="V (mV)", right_label="w (pA)", ax=axes[k],
                     title=f"{name} (I = {NAUD2008[name]['I'] * 1e12:.0f} pA)")
        t = np.nonzero(spikes[:, k])[0] * DT * 1e3
        summary[name] = t
        print(f"  {name:26s} {len(t):3d} spikes, first at {t[0] - 50:6.1f} ms after onset" if len(t) else
              f"  {name:26s} silent")
    fig.suptitle("AdEx firing patterns (Naud et al. 2008, Table 1), forward Euler at 0.1 ms")
    fig.savefig(out / "naud2008.png", dpi=110)
    return summary


def izhikevich_presets(out: Path) -> dict:
    names = list(IZHIKEVICH_PRESETS)
    a, b, c, d = (np.array(col) for col in zip(*(IZHIKEVICH_PRESETS[n] for n in names)))
    model = sx.Izhikevich.create(len(names), a=a, b=b, v_reset=c, d=d, dt=DT)
    steps = int(0.4 / DT)
    current = np.zeros((steps, len(names)), np.float32)
    on = int(0.05 / DT)
    for k, name in enumerate(names):
        if name == "thalamo-cortical":  # hyperpolarise, then release: rebound burst
            current[on:int(0.25 / DT), k] = -10.0
        elif name == "resonator":  # two 1-ms kicks 45 ms apart: resonance
            for t0 in (0.05, 0.095):
                current[int(t0 / DT):int(t0 / DT) + 10, k] = 2.5
        else:
            current[on:, k] = 10.0
    spikes, _, rec = model(jnp.asarray(current), record=True)
    spikes, v = np.asarray(spikes), np.asarray(rec["v"])
    fig = Figure(figsize=(12, 10), layout="constrained")
    axes = fig.subplots(4, 2).ravel()
    summary = {}
    for k, name in enumerate(names):
        v_draw = np.where(spikes[:, k] > 0, 30.0, v[:, k])
        sx.plot.twin(v_draw, current[:, k], dt=DT, left_label="v (mV)", right_label="I (mV/ms)", ax=axes[k],
                     title=f"{name} (a={a[k]:g}, b={b[k]:g}, c={c[k]:g}, d={d[k]:g})")
        summary[name] = np.nonzero(spikes[:, k])[0] * DT * 1e3
        print(f"  {name:24s} {len(summary[name]):3d} spikes")
    axes[-1].set_axis_off()
    fig.suptitle("Izhikevich (2003) cell classes")
    fig.savefig(out / "izhikevich2003.png", dpi=110)
    return summary


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("neuron-zoo"))
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    print("== AdEx, Naud et al. (2008)")
    naud = naud_patterns(args.out)
    print("== Izhikevich (2003)")
    izh = izhikevich_presets(args.out)
    print(f"figures in {args.out}/")
    return naud, izh


if __name__ == "__main__":
    main()
