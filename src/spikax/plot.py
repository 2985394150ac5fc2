"""Figures of a simulation: rasters, traces with thresholds, heatmaps, one neuron's membrane, DYNAP-SE2.

Every function takes arrays with time first (``(T, ...)``), the step ``dt`` in seconds, and an
optional Matplotlib ``ax`` to draw into; it returns the ``Figure``. Figures are built with the
object-oriented API (no global pyplot state), so they work headless and in notebooks alike.

Conventions, so that a figure cannot be misread: neuron and channel axes carry integer ticks
only (each row is one index, centred on its tick); every drawn line has a legend entry, and
legends sit beside or above the axes, never on the data; axis labels carry units (callers pass
them in ``ylabel``-style arguments).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Optional

import numpy as np
from matplotlib.axes import Axes
from matplotlib.axis import Axis
from matplotlib.figure import Figure, FigureBase
from matplotlib.ticker import MaxNLocator

__all__ = ["dynapse_spike_function", "heatmap", "membrane", "raster", "traces", "twin"]

# Legend beside the axes (right of the top-right corner), off the data.
_LEGEND_BESIDE = dict(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)


def _axes(ax: Optional[Axes], figsize) -> tuple[FigureBase, Axes]:
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


def _index_axis(axis: Axis, n: int) -> None:
    """An axis of ``n`` indices (neurons, channels): one unit per row, centred on integer ticks.

    ``MaxNLocator(integer=True)`` alone falls back to fractional ticks (-0.4 ... 0.4) when the
    view holds fewer than two integers, i.e. for a single channel: ``min_n_ticks=1`` keeps 0.
    """
    if axis.axis_name == "x":
        axis.axes.set_xlim(-0.5, n - 0.5)
    else:
        axis.axes.set_ylim(-0.5, n - 0.5)
    axis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))


def raster(
    spikes,
    *,
    dt: float = 1e-3,
    ax: Optional[Axes] = None,
    title: Optional[str] = None,
    color: str = "k",
    marker_size: float = 4.0,
    ylabel: str = "channel",
) -> FigureBase:
    """Spike raster: a mark at (time, channel) for every step with a non-zero count.

    ``spikes``: ``(T, N)`` counts. Steps with several events are drawn larger. The channel axis
    has integer ticks only.
    """
    s = _as_2d("spikes", spikes)
    fig, ax = _axes(ax, (7, 3))
    t_idx, ch = np.nonzero(s)
    sizes = marker_size * np.sqrt(s[t_idx, ch])
    ax.scatter(t_idx * dt, ch, s=sizes**2, c=color, marker="|", linewidths=1.0)
    ax.set_xlim(0, s.shape[0] * dt)
    _index_axis(ax.yaxis, s.shape[1])
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
) -> FigureBase:
    """State traces over time, with optional threshold lines.

    - ``values``: ``(T,)`` or ``(T, N)``; at most ``max_traces`` neurons are drawn.
    - ``threshold``: scalar or ``(N,)``; drawn dashed, in each trace's colour.
    - ``stagger``: vertical offset between consecutive neurons (so overlapping traces separate);
      each threshold line moves with its trace, and the y label says so.
    - ``labels``: one legend entry per trace (default ``neuron j``, or ``ylabel`` for one trace).
    - ``ylabel``: the quantity with its unit, e.g. ``"v (mV)"``.
    """
    v = _as_2d("values", values)[:, :max_traces]
    n = v.shape[1]
    if labels is not None and len(labels) < n:
        raise ValueError(f"`labels` must name every drawn trace ({n}), got {len(labels)}")
    fig, ax = _axes(ax, (7, 3))
    t = _time(v.shape[0], dt)
    offsets = np.arange(n) * (stagger or 0.0)
    thr = None
    if threshold is not None:
        thr = np.asarray(threshold, float).reshape(-1)
        thr = np.broadcast_to(thr if thr.size == 1 else thr[:n], (n,))
    for j in range(n):
        label = labels[j] if labels is not None else (f"neuron {j}" if n > 1 else ylabel)
        (line,) = ax.plot(t, v[:, j] + offsets[j], lw=1.0, label=label)
        if thr is not None:
            # One legend entry for all threshold lines (they share the style, not the colour).
            thr_label = ("threshold (dashed, colour of its trace)" if n > 1 else "threshold") if j == 0 else None
            ax.axhline(thr[j] + offsets[j], color=line.get_color(), ls="--", lw=0.8, alpha=0.7, label=thr_label)
    ax.set_xlim(t[0], t[-1] + dt)
    ax.set_xlabel("time (s)")
    if stagger:
        ylabel += f"; trace j shifted up by j × {stagger:g}"
    ax.set_ylabel(ylabel)
    handles = ax.get_lines()
    # Traces first, then the one threshold entry.
    handles = [h for h in handles if not h.get_label().startswith("_")]
    handles.sort(key=lambda h: h.get_linestyle() == "--")
    ax.legend(handles=handles, ncols=1 + len(handles) // 12, **_LEGEND_BESIDE)
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
    ylabel: str = "neuron",
) -> FigureBase:
    """A state over neurons (rows, integer ticks) x time (columns), with a colour bar.

    ``label``: the colour bar's quantity with its unit, e.g. ``"v (mV)"``.
    """
    v = _as_2d("values", values)
    fig, ax = _axes(ax, (7, 3))
    im = ax.imshow(
        v.T, aspect="auto", origin="lower", cmap=cmap, interpolation="nearest",
        extent=(0, v.shape[0] * dt, -0.5, v.shape[1] - 0.5),
    )
    fig.colorbar(im, ax=ax, label=label)
    _index_axis(ax.yaxis, v.shape[1])
    ax.set_xlabel("time (s)")
    ax.set_ylabel(ylabel)
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
    threshold_label: str = "threshold",
    log: bool = False,
) -> FigureBase:
    """One neuron: membrane trace with its threshold and spike times; input raster above.

    ``v`` and ``spikes``: ``(T,)``; ``inputs``: optional ``(T, N_in)`` raster drawn on top.
    ``v_label``: the quantity with its unit (y label and legend entry); ``log``: log y axis
    (for currents such as DYNAP-SE2's ``Imem``).

    A recorded membrane is sampled after each step's reset, so the trace itself stays below
    the threshold at a spike: each spike is drawn as a marker on the threshold line (where
    the membrane crossed it during that step), or above the trace without a threshold.
    """
    v = np.asarray(v).reshape(-1)
    s = np.asarray(spikes).reshape(-1)
    if v.shape != s.shape:
        raise ValueError(f"`v` and `spikes` must both be (T,), got {v.shape} and {s.shape}")
    rows = 2 if inputs is not None else 1
    fig = Figure(figsize=(8, 2.2 + 1.6 * rows), layout="constrained")
    axes = fig.subplots(rows, 1, sharex=True, height_ratios=[1, 2][-rows:] if rows == 2 else None, squeeze=False)[:, 0]
    if inputs is not None:
        raster(inputs, dt=dt, ax=axes[0], ylabel="input channel")
        axes[0].set_xlabel("")
    ax = axes[-1]
    if log:
        ax.set_yscale("log")
    t = _time(v.shape[0], dt)
    ax.plot(t, v, lw=1.0, color="C0", label=v_label)
    thr = None if threshold is None else float(np.asarray(threshold).reshape(-1)[0])
    if thr is not None:
        ax.axhline(thr, color="C3", ls="--", lw=0.8, label=threshold_label)
    spike_t = t[s > 0]
    if spike_t.size:
        if thr is not None:
            ax.scatter(spike_t, np.full(spike_t.shape, thr), marker="v", s=30, color="k", zorder=3,
                       label=f"spike ({spike_t.size}): crossed the threshold")
        else:
            top = float(np.max(v))
            ax.scatter(spike_t, np.full(spike_t.shape, top), marker="v", s=30, color="k", zorder=3,
                       label=f"spike ({spike_t.size})")
    ax.set_xlim(0, v.shape[0] * dt)
    ax.set_xlabel("time (s)")
    ax.set_ylabel(v_label)
    ax.legend(**_LEGEND_BESIDE)
    if title:
        fig.suptitle(title)  # over the whole figure: a long title fits beside the legend too
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
) -> FigureBase:
    """Two traces of one neuron on twin y axes (e.g. membrane voltage and a synaptic current).

    ``left`` and ``right``: ``(T,)``, each labelled (with its unit) on its axis, in its colour;
    ``spikes``: optional ``(T,)``, drawn as ticks above the left trace, with a legend above the
    axes naming all three.
    """
    a = np.asarray(left).reshape(-1)
    b = np.asarray(right).reshape(-1)
    if a.shape != b.shape:
        raise ValueError(f"`left` and `right` must both be (T,), got {a.shape} and {b.shape}")
    fig, ax = _axes(ax, (7, 3))
    t = _time(a.shape[0], dt)
    (l1,) = ax.plot(t, a, color="C0", lw=1.0, label=left_label)
    ax.set_ylabel(left_label, color="C0")
    ax.set_xlabel("time (s)")
    ax.set_xlim(0, a.shape[0] * dt)
    ax2 = ax.twinx()
    (l2,) = ax2.plot(t, b, color="C1", lw=1.0, label=right_label)
    ax2.set_ylabel(right_label, color="C1")
    if right_log:
        ax2.set_yscale("log")
    if spikes is not None:
        s = np.asarray(spikes).reshape(-1)
        top = float(np.max(a)) if a.size else 1.0
        marks = ax.vlines(t[s > 0], top, top + 0.1 * (abs(top) + 1e-12), color="k", lw=1.0,
                          label=f"spike ({int((s > 0).sum())})")
        # Above the axes, between them and the title: beside them it would cover the right
        # axis' labels, inside them the data.
        ax.legend(handles=[l1, l2, marks], fontsize="small", loc="lower center", bbox_to_anchor=(0.5, 1.0),
                  ncols=3, frameon=False, borderaxespad=0.1)
    if title:
        ax.set_title(title, pad=20 if spikes is not None else None)
    return fig


def _describe_surrogate(spike_fn) -> str:
    if spike_fn is None:
        return r"DYNAP-SE tutorial, $[I_{mem} > I_{reset}]/I_{spkthr}$ per A"
    shape = []
    for f in dataclasses.fields(spike_fn):
        a = np.asarray(getattr(spike_fn, f.name))
        if a.size and np.issubdtype(a.dtype, np.number):
            shape.append(f"{f.name}={float(a.reshape(-1)[0]):g}")
    return rf"{type(spike_fn).__name__}({', '.join(shape)}) on $\ln(I_{{mem}}/I_o)$"


def dynapse_spike_function(model=None, *, neuron: int = 0) -> FigureBase:
    r"""What a DYNAP-SE2 neuron's spike function does: forward output and surrogate, over $I_{mem}$.

    Left: the spikes per step the model reports for a step-end membrane current $I_{mem}$
    (before the reset): a single event where $I_{mem} \ge I_{spkthr}$ (the default), or
    $\lceil\ln(I_{mem}/I_{spkthr})\rceil$ events with ``multi_spike=True``. Right: the derivative
    training uses, $\partial S/\partial \ln I_{mem}$ (spikes per e-fold of current; log axis),
    from the model's own surrogate ``model.spike_fn``. Both panels are evaluated with
    :func:`spikax.devices.dynapse.dynapse_spike` and ``jax.grad``, so the figure follows the
    model, not a copy of its formulas.

    ``model``: a :class:`spikax.devices.dynapse.DynapSim` (default ``DynapSim.create(1)``) or a
    :class:`~spikax.devices.dynapse.DynapseParams` (then the simulator's defaults for the rest);
    ``neuron`` picks which neuron's currents are drawn.
    """
    import jax
    import jax.numpy as jnp

    from .devices import dynapse as dx

    if model is None:
        model = dx.DynapSim.create(1)
    elif isinstance(model, dx.DynapseParams):
        model = dx.DynapSim(model)
    elif not isinstance(model, dx.DynapSim):
        raise TypeError(f"`model` must be a DynapSim or DynapseParams, got {type(model).__name__}")
    n = model.n_neurons
    if not 0 <= neuron < n:
        raise ValueError(f"`neuron` must be in [0, {n}), got {neuron!r}")
    one = jax.tree.map(lambda a: jnp.asarray(a)[neuron : neuron + 1], model.params)
    c = model.derive(one, model.dt)
    io, thr, ireset = float(one.Io[0]), float(one.Ispkthr[0]), float(one.Ireset[0])
    # Io up to 100 x Ispkthr, with a dense band around the threshold, where narrow surrogates
    # (the fast sigmoid of slope 25 is 1/25 of an e-fold wide) would fall between grid points.
    imem = np.unique(np.concatenate([
        np.logspace(np.log10(io), np.log10(100 * thr), 1500),
        thr * np.exp(np.linspace(-1.0, 1.0, 801)),
    ]))

    def spikes(log_i):
        # In log current, so that the derivative is per e-fold: u = ln(Imem/Io) as the model has it.
        log_i = log_i[None]
        return dx.dynapse_spike(
            c, jnp.exp(log_i), log_i - jnp.log(c.Io), spike_fn=model.spike_fn,
            multi_spike=model.multi_spike, max_spikes_per_dt=model.max_spikes_per_dt,
        )[0]

    grid = jnp.asarray(np.log(imem), jnp.float32)
    count = np.asarray(jax.vmap(spikes)(grid))
    grad = np.asarray(jax.vmap(jax.grad(spikes))(grid), np.float64)
    fig = Figure(figsize=(11, 3.6), layout="constrained")
    ax1, ax2 = fig.subplots(1, 2)
    ax1.step(imem, count, where="post", color="C0", label="spikes per step")
    mode = (f"up to {model.max_spikes_per_dt:g} per step (multi_spike)" if model.multi_spike
            else "binary, at most one per step")
    ax1.set_title(f"forward: {mode}", fontsize="medium")
    ax1.set_ylabel("spikes per step")
    ax1.yaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))  # counts are whole
    ax2.plot(imem, np.where(grad > 0, grad, np.nan), color="C1", label=r"$\partial S/\partial \ln I_{mem}$")
    ax2.set_yscale("log")
    ax2.set_ylabel(r"$\partial S/\partial \ln I_{mem}$ (spikes per e-fold)")
    ax2.set_title(f"surrogate: {_describe_surrogate(model.spike_fn)}", fontsize="medium")
    for ax in (ax1, ax2):
        ax.axvline(thr, color="C3", ls="--", lw=1.0, label=f"Ispkthr = {thr:.2g} A")
        ax.axvline(ireset, color="C7", ls=":", lw=1.0, label=f"Ireset = {ireset:.2g} A")
        ax.set_xscale("log")
        ax.set_xlabel("Imem at the step end, before reset (A)")
    # One legend for both panels, below them (off the data).
    handles = [*ax1.get_lines()[:1], *ax2.get_lines()]
    fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), fontsize="small", frameon=False)
    return fig
