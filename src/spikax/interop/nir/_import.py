"""NIR graph -> spikax :class:`~spikax.layers.Graph`."""

from __future__ import annotations

import os
import warnings
from typing import Any, Optional, Union

import jax.numpy as jnp
import numpy as np

from ... import layers as L
from ...layers._graph import _sccs
from ... import neurons as N
from ..._types import AbstractSurrogate
from ...surrogate import MultiSpike
from ...neurons._cubalif import _factors
from ._convention import PRESETS, Convention, convention

__all__ = ["from_nir", "read_graph"]


def _nir():
    try:
        import nir
    except ImportError:
        raise ImportError("NIR support needs the `nir` package: pip install 'spikax[nir]'") from None
    return nir


def read_graph(source) -> Any:
    """An ``nir.NIRGraph`` from a graph or a file path; an unreadable file is a ``ValueError`` naming it."""
    nir = _nir()
    if isinstance(source, nir.NIRGraph):
        return source
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError(f"`graph` must be an nir.NIRGraph or the path of a .nir file, got {type(source).__name__}")
    path = os.fspath(source)
    if not os.path.isfile(path):
        raise ValueError(f"NIR file {path!r} does not exist (or is not a file)")
    try:
        # Type checking is ours (Graph infers every node's shapes and names the node that does
        # not fit): nir's refuses graphs whose only fault is an output shape with a batch axis,
        # as Rockpool writes them.
        return nir.read(path, type_check=False)
    except Exception as err:  # nir raises KeyError, ValueError, OSError, h5py errors ...
        raise ValueError(f"cannot read NIR file {path!r}: {type(err).__name__}: {err}") from None


def _text(v) -> str:
    v = v.item() if isinstance(v, np.ndarray) and v.ndim == 0 else v
    return v.decode() if isinstance(v, bytes) else str(v)


def _meta(node) -> dict:
    meta = getattr(node, "metadata", None) or {}
    out = {}
    for k, v in meta.items():
        if isinstance(v, (bytes, str)) or (isinstance(v, np.ndarray) and v.dtype.kind in "SUO"):
            out[k] = _text(v)
        else:
            out[k] = v.item() if isinstance(v, np.ndarray) and v.ndim == 0 else v
    return out


def _flatten(graph, prefix: str = "") -> tuple[dict, list, list, list]:
    """Nested graphs expanded into one level: ``(nodes, edges, inputs, outputs)``.

    An inner graph ``g`` becomes its nodes named ``g.<inner>``; its Input and Output nodes stay as
    pass-throughs, and the edges into and out of ``g`` are redirected to them.
    """
    nir = _nir()
    nodes, edges, inputs, outputs = {}, [], [], []
    entry, exit_ = {}, {}
    for name, node in graph.nodes.items():
        full = prefix + str(name)
        if isinstance(node, nir.NIRGraph):
            sub_nodes, sub_edges, sub_in, sub_out = _flatten(node, full + ".")
            if len(sub_in) != 1 or len(sub_out) != 1:
                raise ValueError(
                    f"inner graph {full!r} must have one Input and one Output node to be connected, "
                    f"got inputs {sub_in} and outputs {sub_out}"
                )
            nodes.update(sub_nodes), edges.extend(sub_edges)
            entry[full], exit_[full] = sub_in[0], sub_out[0]
            continue
        nodes[full] = node
        if isinstance(node, nir.Input):
            inputs.append(full)
        elif isinstance(node, nir.Output):
            outputs.append(full)
    for a, b in graph.edges:
        a, b = prefix + str(a), prefix + str(b)
        for end in (a, b):
            if end not in nodes and end not in entry:
                raise ValueError(f"edge ({a!r}, {b!r}) names {end!r}, which is not a node of the graph")
        edges.append((exit_.get(a, a), entry.get(b, b)))
    return nodes, edges, inputs, outputs


def _arr(node, field: str, name: str) -> np.ndarray:
    value = getattr(node, field)
    a = np.asarray(value, dtype=np.float64)
    if not np.all(np.isfinite(a)):
        raise ValueError(f"node {name!r} ({type(node).__name__}): `{field}` has non-finite values")
    return a


def _f32(a) -> jnp.ndarray:
    return jnp.asarray(np.asarray(a, np.float64), jnp.result_type(float))


def _padding(value):
    if isinstance(value, (bytes, str)) or (isinstance(value, np.ndarray) and value.dtype.kind in "SUO"):
        return _text(value)
    return tuple(int(v) for v in np.atleast_1d(np.asarray(value)))


def _implied_dt(name: str, node, conv: Convention, dt: float) -> None:
    """snnTorch writes r = tau_mem / dt_export: a dt that disagrees would run the graph at the wrong speed."""
    if conv.name.split("+")[0] != "snntorch":
        return
    tau = _arr(node, "tau_mem" if isinstance(node, (_nir().CubaLIF, _nir().CubaLI)) else "tau", name)
    r = _arr(node, "r", name)
    implied = tau / np.where(r == 0, np.nan, r)
    if np.all(np.isfinite(implied)) and not np.allclose(implied, dt, rtol=1e-3):
        warnings.warn(
            f"node {name!r}: r = tau_mem/dt holds for dt = {np.median(implied):.4g} s (the dt snnTorch exported it "
            f"with), but dt = {dt:g} s was given: the graph will not reproduce snnTorch's spikes",
            stacklevel=4,
        )


def _neuron(name: str, node, conv: Convention, dt: float, spike_fn, spikax_meta: dict, cyclic: bool = False):
    nir = _nir()
    if "dt" in spikax_meta:  # a spikax-written node steps at the dt it was exported with
        dt = step = float(spikax_meta["dt"])
    else:
        step = 1.0 if conv.time == "step" else dt
    fire_at = spikax_meta.get("fire_at", conv.fire_at)
    reset = spikax_meta.get("reset", conv.reset)
    cls = spikax_meta.get("spikax_class")

    def v_reset():
        return None if reset == "subtract" else _f32(_arr(node, "v_reset", name))

    config = dict(spike_fn=spike_fn) if spike_fn is not None else {}
    if cls == "LIF" and isinstance(node, nir.CubaLIF):  # spikax's own LIF (Rockpool semantics), exported
        max_spikes = float(spikax_meta.get("max_spikes_per_dt", 2**16))
        params = N.LIFParams(
            tau_mem=_f32(_arr(node, "tau_mem", name)),
            tau_syn=_f32(_arr(node, "tau_syn", name))[:, None],
            bias=_f32(_arr(node, "v_leak", name)),
            v_threshold=_f32(_arr(node, "v_threshold", name)),
            v_reset=v_reset(),
        )
        return N.LIF(params, dt=dt, spike_fn=spike_fn or MultiSpike(max_spikes))
    if cls == "LIFNode" and isinstance(node, nir.LIF):
        tau = _f32(_arr(node, "tau", name) / dt)
        params = N.LIFNodeParams(tau=tau, v_threshold=_f32(_arr(node, "v_threshold", name)), v_reset=v_reset())
        return N.LIFNode(params, decay_input=bool(spikax_meta.get("decay_input", True)), dt=dt, **config)
    if cls == "LI" and isinstance(node, nir.LI):
        params = N.LIParams(
            tau=_f32(_arr(node, "tau", name)), r=_f32(_arr(node, "r", name)), v_leak=_f32(_arr(node, "v_leak", name))
        )
        return N.LI(params, dt=dt)

    if isinstance(node, nir.IF):
        params = N.IFParams(
            r=_f32(_arr(node, "r", name)), v_threshold=_f32(_arr(node, "v_threshold", name)), v_reset=v_reset()
        )
        return N.IF(params, dt=step, fire_at=fire_at, **config)
    if isinstance(node, nir.I):
        return N.Integrator(_f32(_arr(node, "r", name)), dt=step)
    synapse = isinstance(node, (nir.CubaLIF, nir.CubaLI))
    tau_mem = _arr(node, "tau_mem" if synapse else "tau", name)
    tau_syn = _arr(node, "tau_syn", name) if synapse else None
    r = _arr(node, "r", name)
    w_in = _arr(node, "w_in", name) if synapse else np.ones_like(r)
    v_leak = _arr(node, "v_leak", name)
    integrator = spikax_meta.get("integrator", conv.integrator)
    current = spikax_meta.get("current", conv.current)
    if (conv.gain == "unit" or conv.leak == "bias") and not spikax_meta:
        # Per-step unit gains (Rockpool): choose r, w_in (and v_leak) so that the integrator's gain
        # times them is 1 per step (v_leak: the bias added each step).
        d_m, g_m = _factors(tau_mem, step, integrator, np)
        if conv.gain == "unit":
            r = 1.0 / g_m
            if synapse:
                w_in = 1.0 / _factors(tau_syn, step, integrator, np)[1]
        if conv.leak == "bias":
            v_leak = v_leak / g_m
    _implied_dt(name, node, conv, dt)
    params = N.CubaLIFParams(
        tau_syn=None if tau_syn is None else _f32(tau_syn),
        tau_mem=_f32(tau_mem),
        r=_f32(r),
        v_leak=_f32(v_leak),
        w_in=_f32(w_in),
        v_threshold=_f32(_arr(node, "v_threshold", name)) if isinstance(node, (nir.LIF, nir.CubaLIF)) else None,
        v_reset=v_reset() if isinstance(node, (nir.LIF, nir.CubaLIF)) else None,
    )
    if isinstance(node, (nir.LI, nir.CubaLI)):
        return N.CubaLI(params, dt=step, integrator=integrator, current=current)
    reset_at = spikax_meta.get("reset_at", conv.reset_at)
    snntorch_default = conv.name.split("+")[0] == "snntorch" and "reset_at=" not in conv.name
    if (
        snntorch_default
        and reset_at == "next"
        and reset == "to_v_reset"
        and not synapse
        and not cyclic
        and not spikax_meta
    ):
        # snnTorch's Leaky (a LIF outside a cycle) zeroes only the old membrane: the step's input
        # survives, which is the reset in the same step. Its Synaptic and RLeaky (on a cycle)
        # zero the whole new membrane: the reset in the next step.
        reset_at = "same"
    v_init = spikax_meta.get("v_init", conv.v_init)
    return N.CubaLIF(
        params,
        dt=step,
        integrator=integrator,
        current=current,
        reset_at=reset_at,
        fire_at=fire_at,
        v_init=v_init,
        **config,
    )


def _layer(name: str, node, conv: Convention, dt: float, spike_fn, trust: Optional[set], cyclic: bool = False):
    """``trust``: ``None`` to ignore the node's metadata, else the choices given explicitly (they
    override what the metadata says)."""
    nir = _nir()
    # "time" decides a neuron's step, which the node records as "dt".
    dropped = set() if trust is None else trust | ({"dt"} if "time" in trust else set())
    meta = {} if trust is None else {k: v for k, v in _meta(node).items() if k not in dropped}
    if isinstance(node, (nir.Input, nir.Output)):
        return L.Identity()
    if isinstance(node, nir.Affine):
        return L.Linear(_f32(_arr(node, "weight", name).T), _f32(_arr(node, "bias", name)))
    if isinstance(node, nir.Linear):
        return L.Linear(_f32(_arr(node, "weight", name).T))
    if isinstance(node, nir.Scale):
        return L.Scale(_f32(_arr(node, "scale", name)))
    if isinstance(node, nir.Threshold):
        return L.Threshold(
            _f32(_arr(node, "threshold", name)), fire_at=meta.get("fire_at", conv.fire_at), spike_fn=spike_fn
        )
    if isinstance(node, (nir.Conv1d, nir.Conv2d)):
        cls = L.Conv1d if isinstance(node, nir.Conv1d) else L.Conv2d
        bias = _arr(node, "bias", name)
        return cls(
            _f32(_arr(node, "weight", name)),
            _f32(np.broadcast_to(bias, (np.shape(node.weight)[0],))),
            stride=tuple(np.atleast_1d(node.stride)),
            padding=_padding(node.padding),
            dilation=tuple(np.atleast_1d(node.dilation)),
            groups=int(np.asarray(node.groups).reshape(-1)[0]),
        )
    if isinstance(node, (nir.SumPool2d, nir.AvgPool2d)):
        cls = L.SumPool2d if isinstance(node, nir.SumPool2d) else L.AvgPool2d
        return cls(
            tuple(np.atleast_1d(node.kernel_size)),
            tuple(np.atleast_1d(node.stride)),
            tuple(np.atleast_1d(node.padding)),
        )
    if isinstance(node, nir.Flatten):
        return L.Flatten(int(np.asarray(node.start_dim)), int(np.asarray(node.end_dim)))
    if isinstance(node, nir.Delay):
        steps = _arr(node, "delay", name) / dt
        if np.any(np.abs(steps - np.round(steps)) > 1e-6 * np.maximum(1.0, steps)) or np.any(steps < 0):
            raise ValueError(
                f"node {name!r} (Delay): delays {np.unique(_arr(node, 'delay', name))[:5]} s are not whole "
                f"multiples of dt = {dt:g} s"
            )
        return L.Delay(np.round(steps).astype(np.int64))
    if isinstance(node, (nir.IF, nir.I, nir.LI, nir.LIF, nir.CubaLI, nir.CubaLIF)):
        return _neuron(name, node, conv, dt, spike_fn, meta, cyclic)
    raise ValueError(
        f"node {name!r} is an NIR {type(node).__name__}, which spikax cannot import (it reads Input, Output, "
        "Affine, Linear, Scale, Threshold, I, LI, CubaLI, IF, LIF, CubaLIF, Conv1d, Conv2d, SumPool2d, "
        "AvgPool2d, Flatten, Delay and NIRGraph)"
    )


def _shape_of(node, which: str) -> Optional[tuple[int, ...]]:
    t = getattr(node, which + "_type", None) or {}
    value = t.get(which)
    if value is None:
        return None
    a = np.asarray(value).reshape(-1)
    return tuple(int(v) for v in a) if a.size else None


def from_nir(
    graph,
    *,
    dt: float,
    preset: Union[str, Convention, None] = None,
    input_shape: Optional[tuple[int, ...]] = None,
    spike_fn: Optional[AbstractSurrogate] = None,
    **choices,
) -> L.Graph:
    r"""A spikax network from an NIR graph (an ``nir.NIRGraph`` or the path of a ``.nir`` file).

    Every node becomes a spikax layer (Affine/Linear -> :class:`~spikax.Linear` with the weight
    transposed to ``(in, out)``; IF -> :class:`~spikax.IF`; LIF, CubaLIF -> :class:`~spikax.CubaLIF`;
    LI, CubaLI -> :class:`~spikax.CubaLI`; I -> :class:`~spikax.neurons.Integrator`; Conv, pooling,
    Flatten, Scale, Threshold, Delay -> the layers of the same name), nested graphs are expanded, and
    the result is a :class:`~spikax.layers.Graph` (edges into one node are summed; an edge out of
    a neuron within its own cycle carries the previous step).

    **Arguments:**

    - ``dt``: the step (s). NIR graphs are continuous-time; nothing in a file says which step its
      author simulated it with, so it is never guessed.
    - ``preset``: the discrete-time convention (:data:`~spikax.interop.nir.PRESETS`): ``"nir"``
      (forward Euler, NIR's reference), ``"exact"``, ``"norse"``, ``"snntorch"``, ``"rockpool"``,
      ``"sinabs"``, or a :class:`~spikax.interop.nir.Convention`. Default: the convention a
      spikax-written graph records, else ``"nir"``.
    - ``choices``: override single choices of the preset: ``integrator``, ``current``, ``reset``
      (``"subtract"`` or ``"to_v_reset"``), ``reset_at``, ``fire_at``, ``v_init``, ``time``,
      ``gain``, ``leak``. A graph spikax wrote records each neuron's class, step and update in
      its node: with ``preset=None`` that is what runs (``choices`` override it field by field);
      an explicit ``preset`` replaces it.
    - ``input_shape``: the step shape of the input, where the file does not give it.
    - ``spike_fn``: the surrogate of every spiking node (each model's default otherwise).

    Delays must be whole multiples of ``dt``. A node type, shape or edge it cannot handle raises
    a ``ValueError`` naming the node.
    """
    from ..._validate import check_dt

    dt = check_dt(dt)
    g = read_graph(graph)
    graph_meta = _meta(g)
    # A spikax-written graph says how each node steps; that is the default, which an explicit
    # preset replaces and explicit choices override one by one.
    trust = set(choices) if graph_meta.get("exporter") == "spikax" and preset is None else None
    if preset is None:
        # A spikax-written graph names its convention ("mixed" when its neurons differ: each
        # node's metadata then says how it steps).
        preset = graph_meta.get("convention", "nir") if graph_meta.get("exporter") == "spikax" else "nir"
        preset = preset if preset in PRESETS else "nir"
    conv = convention(preset, **choices)
    nodes, edges, inputs, outputs = _flatten(g)
    if not inputs:
        raise ValueError("the NIR graph has no Input node")
    if not outputs:
        raise ValueError("the NIR graph has no Output node")
    succ = {n: [b for a, b in edges if a == n] for n in nodes}
    on_cycle = {n for comp in _sccs(list(nodes), succ) for n in comp if len(comp) > 1 or n in succ[n]}
    layers = {}
    for name, node in nodes.items():
        try:
            layers[name] = _layer(name, node, conv, dt, spike_fn, trust, name in on_cycle)
        except (ValueError, TypeError) as err:
            if str(err).startswith(f"node {name!r}"):
                raise
            raise type(err)(f"node {name!r} ({type(node).__name__}): {err}") from None
    exported_dt = graph_meta.get("dt") if graph_meta.get("exporter") == "spikax" else None
    if trust is not None and exported_dt and not np.isclose(float(exported_dt), dt, rtol=1e-9):
        warnings.warn(
            f"this graph was exported by spikax with dt = {float(exported_dt):g} s and is imported with dt = {dt:g} s: "
            "its neurons keep the steps recorded in their nodes; only Delays and foreign nodes use the new dt",
            stacklevel=2,
        )
    top_inputs = [n for n in inputs if "." not in n or n in g.nodes]
    shapes = {}
    for n in top_inputs:
        shape = tuple(input_shape) if input_shape is not None else _shape_of(nodes[n], "input")
        if shape is None:
            raise ValueError(f"input node {n!r} records no shape: pass `input_shape=`")
        shapes[n] = shape
    inner = [n for n in inputs if n not in shapes]
    for n in inner:
        if not any(b == n for _, b in edges):
            raise ValueError(f"inner input node {n!r} has no edge into it")
    top_outputs = [n for n in outputs if n in g.nodes]
    return L.Graph(layers, edges, inputs=shapes, outputs=top_outputs)
