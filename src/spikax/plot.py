"""Figures of a simulation: rasters, traces with thresholds, heatmaps, one neuron's membrane, DYNAP-SE2.

Every function takes arrays with time first (``(T, ...)``), the step ``dt`` in seconds, and an
optional Matplotlib ``ax`` to draw into; it returns the ``Figure``. Figures are built with the
object-oriented API (no global pyplot state), so they work headless and in notebooks alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Optional

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

__all__ = ["dynapse_spike_function", "heatmap", "membrane", "raster", "traces", "twin"]


def _axes(ax: Optional[Axes], figsize) -> tuple[Figure, Axes]:
    if ax is not None:
        return ax.figure, ax
    fig = Figure(figsize=figsize, layout="constrained")
    return fig, fig.add_subplot()


def _as_2d(name: str, a) -> np.ndarray:
    a = np.asarray(a)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2:
        raise ValueError(f"`{name}` must be (T,) or (T, N) with time first, got shape {a.shape}")
    return a


def _time(n_steps: int, dt: float) -> np.ndarray:
    if not dt > 0:
        raise ValueError(f"`dt` must be > 0 seconds, got {dt!r}")
    return np.arange(n_steps) * dt


def raster(
    spikes,
    *,
    dt: float = 1e-3,
    ax: Optional[Axes] = None,
    title: Optional[str] = None,
    color: str = "k",
    marker_size: float = 4.0,
    ylabel: str = "channel",
) -> Figure:
    """Spike raster: a mark at (time, channel) for every step with a non-zero count.

    ``spikes``: ``(T, N)`` counts. Steps with several events are drawn larger.
    """
    s = _as_2d("spikes", spikes)
    fig, ax = _axes(ax, (7, 3))
    t_idx, ch = np.nonzero(s)
    sizes = marker_size * np.sqrt(s[t_idx, ch])
    ax.scatter(t_idx * dt, ch, s=sizes**2, c=color, marker="|", linewidths=1.0)
    ax.set_xlim(0, s.shape[0] * dt)
    ax.set_ylim(-0.5, s.shape[1] - 0.5)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))  # channels are whole numbers
    ax.set_xlabel("time (s)")
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    return fig


def traces(
    values,
    *,
    dt: float = 1e-3,
    threshold=None,
    stagger: Optional[float] = None,
    labels: Optional[Sequence[str]] = None,
    ax: Optional[Axes] = None,
    title: Optional[str] = None,
    ylabel: str = "state",
    max_traces: int = 20,
) -> Figure:
    """State traces over time, with optional threshold lines.

    - ``values``: ``(T,)`` or ``(T, N)``; at most ``max_traces`` neurons are drawn.
    - ``threshold``: scalar or ``(N,)``; drawn dashed, in each trace's colour.
    - ``stagger``: vertical offset between consecutive neurons (so overlapping traces separate);
      each threshold line moves with its trace.
    """
    v = _as_2d("values", values)[:, :max_traces]
    n = v.shape[1]
    fig, ax = _axes(ax, (7, 3))
    t = _time(v.shape[0], dt)
    offsets = np.arange(n) * (stagger or 0.0)
    thr = None
    if threshold is not None:
        thr = np.asarray(threshold, float).reshape(-1)
        thr = np.broadcast_to(thr if thr.size == 1 else thr[:n], (n,))
    for j in range(n):
        label = labels[j] if labels is not None else (f"neuron {j}" if n > 1 else None)
        (line,) = ax.plot(t, v[:, j] + offsets[j], lw=1.0, label=label)
        if thr is not None:
            ax.axhline(thr[j] + offsets[j], color=line.get_color(), ls="--", lw=0.8, alpha=0.7)
    ax.set_xlim(t[0], t[-1] + dt)
    ax.set_xlabel("time (s)")
    ax.set_ylabel(ylabel + (" (staggered)" if stagger else ""))
    if labels is not None or 1 < n <= 8:
        ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    if title:
        ax.set_title(title)
    return fig


def heatmap(
    values,
    *,
    dt: float = 1e-3,
    ax: Optional[Axes] = None,
    title: Optional[str] = None,
    cmap: str = "viridis",
    label: str = "state",
) -> Figure:
    """A state over neurons (rows) x time (columns), with a colour bar."""
    v = _as_2d("values", values)
    fig, ax = _axes(ax, (7, 3))
    im = ax.imshow(
        v.T, aspect="auto", origin="lower", cmap=cmap, interpolation="nearest",
        extent=(0, v.shape[0] * dt, -0.5, v.shape[1] - 0.5),
    )
    fig.colorbar(im, ax=ax, label=label)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("time (s)")
    ax.set_ylabel("neuron")
    if title:
        ax.set_title(title)
    return fig


def membrane(
    v,
    spikes,
    *,
    dt: float = 1e-3,
    threshold=None,
    inputs=None,
    title: Optional[str] = None,
    v_label: str = "membrane potential",
) -> Figure:
    """One neuron: membrane potential with its threshold and spike times; input raster above.

    ``v`` and ``spikes``: ``(T,)``; ``inputs``: optional ``(T, N_in)`` raster drawn on top.
    """
    v = np.asarray(v).reshape(-1)
    s = np.asarray(spikes).reshape(-1)
    if v.shape != s.shape:
        raise ValueError(f"`v` and `spikes` must both be (T,), got {v.shape} and {s.shape}")
    rows = 2 if inputs is not None else 1
    fig = Figure(figsize=(7, 2.2 + 1.6 * rows), layout="constrained")
    axes = fig.subplots(rows, 1, sharex=True, height_ratios=[1, 2][-rows:] if rows == 2 else None, squeeze=False)[:, 0]
    if inputs is not None:
        raster(inputs, dt=dt, ax=axes[0], ylabel="input")
        axes[0].set_xlabel("")
    ax = axes[-1]
    t = _time(v.shape[0], dt)
    ax.plot(t, v, lw=1.0, color="C0", label=v_label)
    if threshold is not None:
        ax.axhline(float(np.asarray(threshold).reshape(-1)[0]), color="C3", ls="--", lw=0.8, label="threshold")
    spike_t = t[s > 0]
    if spike_t.size:
        top = np.max(v) if threshold is None else max(np.max(v), float(np.asarray(threshold).reshape(-1)[0]))
        ax.vlines(spike_t, top, top * 1.1 if top > 0 else top + 1.0, color="k", lw=1.0, label="spikes")
    ax.set_xlim(0, v.shape[0] * dt)
    ax.set_xlabel("time (s)")
    ax.set_ylabel(v_label)
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    if title:
        axes[0].set_title(title)
    return fig


def twin(
    left,
    right,
    *,
    dt: float = 1e-3,
    left_label: str = "left",
    right_label: str = "right",
    right_log: bool = False,
    spikes=None,
    ax: Optional[Axes] = None,
    title: Optional[str] = None,
) -> Figure:
    """Two traces of one neuron on twin y axes (e.g. membrane voltage and a synaptic current).

    ``left`` and ``right``: ``(T,)``; ``spikes``: optional ``(T,)``, drawn as ticks on top.
    """
    a = np.asarray(left).reshape(-1)
    b = np.asarray(right).reshape(-1)
    if a.shape != b.shape:
        raise ValueError(f"`left` and `right` must both be (T,), got {a.shape} and {b.shape}")
    fig, ax = _axes(ax, (7, 3))
    t = _time(a.shape[0], dt)
    ax.plot(t, a, color="C0", lw=1.0)
    ax.set_ylabel(left_label, color="C0")
    ax.set_xlabel("time (s)")
    ax.set_xlim(0, a.shape[0] * dt)
    ax2 = ax.twinx()
    ax2.plot(t, b, color="C1", lw=1.0)
    ax2.set_ylabel(right_label, color="C1")
    if right_log:
        ax2.set_yscale("log")
    if spikes is not None:
        s = np.asarray(spikes).reshape(-1)
        top = float(np.max(a)) if a.size else 1.0
        ax.vlines(t[s > 0], top, top + 0.1 * (abs(top) + 1e-12), color="k", lw=1.0)
    if title:
        ax.set_title(title)
    return fig


def dynapse_spike_function(
    params=None, *, max_spikes_per_dt: float = 8.0, neuron: int = 0
) -> Figure:
    r"""The multi-spike function and its surrogate over $I_{mem}$ (log axis).

    Left: the event count $\lceil\ln(I_{mem}/I_{spkthr})\rceil$ (clipped to
    ``max_spikes_per_dt``), a staircase starting at ``Ispkthr``. Right: the surrogate gradient
    (the tutorial's $[I_{mem} > I_{reset}]/I_{spkthr}$, per A) and its integral over $I_{mem}$,
    the smooth function whose slope training uses. Both sides are evaluated with the simulator's
    own spike function (:func:`spikax.devices.dynapse.dynapse_spike`) and its derivative.

    ``params``: a :class:`spikax.devices.dynapse.DynapseParams` (default: the chip defaults);
    ``neuron`` picks which neuron's currents are drawn.
    """
    import jax
    import jax.numpy as jnp

    from .devices import dynapse as dx

    p = dx.DynapseParams.default(1) if params is None else params
    one = jax.tree.map(lambda a: jnp.asarray(a)[neuron : neuron + 1], p)
    c = dx.dynapse_derive(one, 1e-3)
    io, thr = float(one.Io[0]), float(one.Ispkthr[0])
    imem = np.logspace(np.log10(io), np.log10(thr) + np.log10(np.e) * (max_spikes_per_dt + 0.5), 2000)

    def spikes(i):
        i = i[None]
        return dx.dynapse_spike(
            c, i, jnp.log(i / c.Io), spike_fn=None, multi_spike=True, max_spikes_per_dt=max_spikes_per_dt
        )[0]

    grid = jnp.asarray(imem, jnp.float32)
    count = np.asarray(jax.vmap(spikes)(grid))
    grad = np.asarray(jax.vmap(jax.grad(spikes))(grid), np.float64)
    integral = np.concatenate([[0.0], np.cumsum(0.5 * (grad[1:] + grad[:-1]) * np.diff(imem))])
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
