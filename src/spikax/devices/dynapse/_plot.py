"""Figures of the DYNAP-SE2 spike function, as in the DYNAP-SE tutorials."""

from __future__ import annotations

from typing import Optional

import numpy as np
from matplotlib.figure import Figure

from ._circuit import DynapseParams

__all__ = ["spike_function_figure"]


def spike_function_figure(
    params: Optional[DynapseParams] = None, *, max_spikes_per_dt: float = 8.0, neuron: int = 0
) -> Figure:
    r"""The multi-spike function and its surrogate over $I_{mem}$ (log axis).

    Left: the event count $\lceil\ln(I_{mem}/I_{spkthr})\rceil$ (clipped to
    ``max_spikes_per_dt``), a staircase starting at ``Ispkthr``. Right: the surrogate gradient
    $[I_{mem} > I_{reset}]/I_{spkthr}$ (per A) and its integral
    $\max(I_{mem} - I_{reset}, 0)/I_{spkthr}$, the smooth function whose slope training uses.
    """
    p = DynapseParams.default(1) if params is None else params
    io, thr, ireset = (float(np.asarray(getattr(p, k))[neuron]) for k in ("Io", "Ispkthr", "Ireset"))
    imem = np.logspace(np.log10(io), np.log10(thr) + np.log10(np.e) * (max_spikes_per_dt + 0.5), 2000)
    count = np.clip(np.ceil(np.log(imem / thr)), 0, max_spikes_per_dt)
    grad = (imem > ireset) / thr
    integral = np.maximum(imem - ireset, 0.0) / thr
    fig = Figure(figsize=(10, 3.5), layout="constrained")
    ax1, ax2 = fig.subplots(1, 2)
    ax1.step(imem, count, where="post", color="C0")
    ax1.axvline(thr, color="C3", ls="--", lw=1.0, label=f"Ispkthr = {thr:.2g} A")
    ax1.set_xscale("log")
    ax1.set_xlabel("Imem (A)")
    ax1.set_ylabel("spikes per step")
    ax1.set_title("multi-spike function")
    ax1.legend(fontsize="small", loc="upper left")
    ax2.plot(imem, grad * thr, color="C1", label="surrogate gradient x Ispkthr")
    ax2.plot(imem, np.minimum(integral, max_spikes_per_dt), color="C2", label="integrated surrogate (spikes)")
    ax2.step(imem, count, where="post", color="C0", alpha=0.4, label="spikes per step")
    ax2.axvline(thr, color="C3", ls="--", lw=1.0)
    ax2.set_xscale("log")
    ax2.set_xlabel("Imem (A)")
    ax2.set_title("surrogate")
    ax2.legend(fontsize="small", loc="upper left")
    return fig
