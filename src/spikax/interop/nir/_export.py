"""spikax model -> ``nir.NIRGraph``."""

from __future__ import annotations

from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np

from ... import layers as L
from ... import neurons as N
from ..._types import AbstractLayer, AbstractNeuron
from ...surrogate import MultiSpike
from ._import import _nir

__all__ = ["to_nir"]


def _np(a, shape=None) -> np.ndarray:
    # float64: a float32 parameter scaled by dt and back (tau = tau_steps * dt) then returns to
    # the same float32 on import.
    out = np.asarray(a, np.float64)
    return np.array(np.broadcast_to(out, shape)) if shape is not None else out


def _out_shape(layer: AbstractLayer, in_shape: tuple[int, ...]) -> tuple[int, ...]:
    st = layer.init_state(in_shape)
    y = jax.eval_shape(lambda: layer(jnp.zeros((1,) + tuple(in_shape)), st, key=jax.random.key(0))[0])
    return tuple(y.shape[1:])


class _Export:
    def __init__(self, dt: Optional[float]):
        self.nir = _nir()
        self.dt = dt
        self.conventions: set[str] = set()

    def step(self, layer) -> float:
        """A neuron's own step, which its node's metadata records (a graph imported with
        ``time="step"`` has neurons stepping at dt = 1 inside a graph of physical dt)."""
        return float(layer.dt)

    def node(self, layer, in_shape):
        """One layer as an NIR node (a graph for composite layers)."""
        nir = self.nir
        if isinstance(layer, (L.Sequential, L.Recurrent, L.Graph)):
            return self.graph(layer, in_shape)
        if isinstance(layer, L.Linear):
            w = _np(layer.weight).T
            return nir.Linear(weight=w) if layer.bias is None else nir.Affine(weight=w, bias=_np(layer.bias))
        if isinstance(layer, (L.Conv1d, L.Conv2d)):
            bias = np.zeros(layer.weight.shape[0]) if layer.bias is None else _np(layer.bias)
            cls = nir.Conv2d if isinstance(layer, L.Conv2d) else nir.Conv1d
            spatial = tuple(in_shape[1:]) if isinstance(layer, L.Conv2d) else int(in_shape[1])
            padding = layer.padding if isinstance(layer.padding, str) else np.array(layer.padding)
            stride, dilation = (np.array(layer.stride), np.array(layer.dilation))
            if cls is nir.Conv1d:
                stride, dilation = int(layer.stride[0]), int(layer.dilation[0])
                padding = padding if isinstance(padding, str) else int(layer.padding[0])
            return cls(
                input_shape=spatial,
                weight=_np(layer.weight),
                stride=stride,
                padding=padding,
                dilation=dilation,
                groups=int(layer.groups),
                bias=bias,
            )
        if isinstance(layer, (L.SumPool2d, L.AvgPool2d)):
            cls = nir.SumPool2d if isinstance(layer, L.SumPool2d) else nir.AvgPool2d
            return cls(
                kernel_size=np.array(layer.kernel_size), stride=np.array(layer.stride), padding=np.array(layer.padding)
            )
        if isinstance(layer, L.Flatten):
            return nir.Flatten(
                input_type={"input": np.array(in_shape)}, start_dim=layer.start_dim, end_dim=layer.end_dim
            )
        if isinstance(layer, L.Scale):
            return nir.Scale(scale=_np(layer.scale, in_shape))
        if isinstance(layer, L.Threshold):
            return nir.Threshold(threshold=_np(layer.threshold, in_shape), metadata={"fire_at": layer.fire_at})
        if isinstance(layer, L.Delay):
            if self.dt is None:
                raise ValueError("a Delay's steps become seconds through dt: pass `dt=` to to_nir")
            return nir.Delay(delay=_np(layer.steps, in_shape) * self.dt)
        if isinstance(layer, AbstractNeuron):
            return self.neuron(layer, in_shape)
        raise ValueError(f"{type(layer).__name__} has no NIR counterpart: to_nir cannot export it")

    def neuron(self, m, in_shape):
        node = self._neuron(m, in_shape)
        node.metadata = {**(node.metadata or {}), "dt": self.step(m)}
        return node

    def _neuron(self, m, in_shape):
        nir = self.nir
        shape = _out_shape(m, in_shape)
        p = m.params
        reset = "subtract" if getattr(p, "v_reset", None) is None else "to_v_reset"

        def v_reset():
            return _np(0.0 if p.v_reset is None else p.v_reset, shape)

        if isinstance(m, N.IF):
            self.step(m)
            meta = {"spikax_class": "IF", "reset": reset, "fire_at": m.fire_at}
            return nir.IF(r=_np(p.r, shape), v_threshold=_np(p.v_threshold, shape), v_reset=v_reset(), metadata=meta)
        if isinstance(m, N.LI):
            self.step(m)
            return nir.LI(
                tau=_np(p.tau, shape), r=_np(p.r, shape), v_leak=_np(p.v_leak, shape), metadata={"spikax_class": "LI"}
            )
        if isinstance(m, N.LIFNode):
            if isinstance(p, N.PLIFParams):
                raise ValueError("PLIF stores its time constant as sigmoid(w): export a LIFNode with its current tau")
            dt = self.step(m)
            tau = np.asarray(p.tau, np.float64)
            rest = 0.0 if p.v_reset is None else p.v_reset
            meta = {"spikax_class": "LIFNode", "reset": reset, "fire_at": m.fire_at, "decay_input": int(m.decay_input)}
            self.conventions.add("nir")
            return nir.LIF(
                tau=_np(tau * dt, shape),
                r=_np(1.0 if m.decay_input else tau, shape),
                v_leak=_np(rest, shape),
                v_threshold=_np(p.v_threshold, shape),
                v_reset=v_reset(),
                metadata=meta,
            )
        if isinstance(m, N.LIF):
            if m.n_synapses != 1:
                raise ValueError(
                    f"a LIF with {m.n_synapses} synapses per neuron has no NIR counterpart (NIR's CubaLIF has one)"
                )
            if p.noise_std is not None:
                raise ValueError("a LIF with membrane noise (noise_std) has no NIR counterpart")
            if p.tau_syn is None:
                raise ValueError(
                    "a membrane-only LIF (tau_syn=None) is not exported to NIR: use "
                    "sx.CubaLIF.create(tau_syn=None, ...), which writes NIR's LIF node"
                )
            dt = self.step(m)
            tau_mem = np.asarray(p.tau_mem, np.float64)
            meta = {"spikax_class": "LIF", "reset": reset}
            if isinstance(m.spike_fn, MultiSpike):
                meta["max_spikes_per_dt"] = float(m.spike_fn.max_spikes_per_dt)
            self.conventions.add("rockpool")
            # Rockpool's fields (its exporter writes r = tau e^{-dt/tau} / dt), so Rockpool reads
            # the same neuron back.
            return nir.CubaLIF(
                tau_syn=_np(np.asarray(p.tau_syn).reshape(-1), shape),
                tau_mem=_np(tau_mem, shape),
                r=_np(tau_mem * np.exp(-dt / tau_mem) / dt, shape),
                v_leak=_np(p.bias, shape),
                w_in=_np(1.0, shape),
                v_threshold=_np(p.v_threshold, shape),
                v_reset=v_reset(),
                metadata=meta,
            )
        if isinstance(m, (N.CubaLIF, N.CubaLI)):
            self.step(m)
            spiking = isinstance(m, N.CubaLIF)
            meta = {"spikax_class": type(m).__name__, "integrator": m.integrator, "current": m.current}
            if spiking:
                meta.update(reset=reset, reset_at=m.reset_at, fire_at=m.fire_at, v_init=m.v_init)
            common = dict(r=_np(p.r, shape), v_leak=_np(p.v_leak, shape))
            if spiking:
                common.update(v_threshold=_np(p.v_threshold, shape), v_reset=v_reset())
            if p.tau_syn is None:
                cls = nir.LIF if spiking else nir.LI
                return cls(tau=_np(p.tau_mem, shape), metadata=meta, **common)
            cls = nir.CubaLIF if spiking else nir.CubaLI
            return cls(
                tau_syn=_np(p.tau_syn, shape),
                tau_mem=_np(p.tau_mem, shape),
                w_in=_np(p.w_in, shape),
                metadata=meta,
                **common,
            )
        if isinstance(m, N.Integrator):
            self.step(m)
            return nir.I(r=_np(p.r, shape), metadata={"spikax_class": "Integrator"})
        raise ValueError(
            f"{type(m).__name__} has no NIR counterpart: NIR has nodes for IF, LIF, CubaLIF, LI, CubaLI and I "
            "(spikax's IF, LIF, LIFNode, LI, CubaLIF, CubaLI, Integrator)"
        )

    def graph(self, layer, in_shape):
        nir = self.nir
        nodes, edges = {"input": nir.Input(input_type={"input": np.array(in_shape)})}, []
        if isinstance(layer, L.Sequential):
            prev, shape = "input", tuple(in_shape)
            for i, sub in enumerate(layer.layers):
                nodes[str(i)] = self.node(sub, shape)
                edges.append((prev, str(i)))
                prev, shape = str(i), _out_shape(sub, shape)
            last = prev
        elif isinstance(layer, L.Recurrent):
            if not isinstance(layer.w_rec, jax.Array) and not isinstance(layer.w_rec, np.ndarray):
                raise ValueError(
                    f"Recurrent({type(layer.cell).__name__}) with per-synapse weights has no NIR counterpart"
                )
            nodes["cell"] = self.node(layer.cell, tuple(in_shape))
            nodes["w_rec"] = nir.Linear(weight=_np(layer.w_rec).T)
            edges += [("input", "cell"), ("cell", "w_rec"), ("w_rec", "cell")]
            last, shape = "cell", _out_shape(layer, in_shape)
        else:  # Graph
            return self.spikax_graph(layer)
        nodes["output"] = nir.Output(output_type={"output": np.array(shape)})
        edges.append((last, "output"))
        return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)

    def spikax_graph(self, g: L.Graph):
        nir = self.nir
        inputs, outputs = dict(g.inputs), set(g.outputs)
        nodes, edges, bypass, rename = {}, [], {}, {}

        def fresh(base):  # a name neither the graph nor the export uses yet
            name, k = base, 1
            while name in g.nodes or name in nodes:
                name, k = f"{base}{k}", k + 1
            return name

        def input_node(name):
            return nir.Input(input_type={"input": np.array(inputs[name])})

        def output_node(name):
            return nir.Output(output_type={"output": np.array(g.shape_of(name, output=True))})

        for name, layer in g.nodes.items():
            is_in, is_out, identity = name in inputs, name in outputs, isinstance(layer, L.Identity)
            if identity and not is_in and not is_out:
                bypass[name] = [a for a, b in g.edges if b == name]
            elif identity and is_in:
                nodes[name] = input_node(name)
                if is_out:  # the input handed straight out
                    out = fresh(name + ".output")
                    nodes[out] = output_node(name)
                    edges.append((name, out))
            elif identity:
                nodes[name] = output_node(name)
            elif is_in != is_out:
                # The graph's input or output keeps its name (an NIR Input/Output node); the layer
                # behind it becomes "<name>.node", so a round trip returns the same keys.
                rename[name] = fresh(name + ".node")
                nodes[rename[name]] = self.node(layer, g.shape_of(name))
                if is_in:
                    nodes[name] = input_node(name)
                    edges.append((name, rename[name]))
                else:
                    nodes[name] = output_node(name)
                    edges.append((rename[name], name))
            else:
                nodes[name] = self.node(layer, g.shape_of(name))
                if is_in:
                    src = fresh(name + ".input")
                    nodes[src] = input_node(name)
                    edges.append((src, name))
                if is_out:
                    out = fresh(name + ".output")
                    nodes[out] = output_node(name)
                    edges.append((name, out))

        def sources(a):
            return [s for p in bypass[a] for s in sources(p)] if a in bypass else [rename.get(a, a)]

        for a, b in g.edges:
            if b in bypass:
                continue
            edges.extend((s, rename.get(b, b)) for s in sources(a))
        return nir.NIRGraph(nodes=nodes, edges=list(dict.fromkeys(edges)), type_check=False)


def to_nir(model: AbstractLayer, *, input_shape: Optional[tuple[int, ...]] = None, dt: Optional[float] = None):
    r"""An ``nir.NIRGraph`` of a spikax model, with ``dt`` and the discrete-time convention in its metadata.

    Exports :class:`~spikax.Linear` (Affine, or Linear without bias, weights transposed to NIR's
    ``(out, in)``), :class:`~spikax.Sequential` (a chain), :class:`~spikax.Recurrent` (a nested
    graph ``input -> cell <-> w_rec``, ``cell -> output``), :class:`~spikax.layers.Graph`, the
    convolution, pooling, Flatten, Scale, Threshold and Delay layers, and the neurons with an NIR
    counterpart: :class:`~spikax.IF` (IF), :class:`~spikax.LI` (LI), :class:`~spikax.LIFNode`
    (LIF, ``tau`` = steps x dt), :class:`~spikax.LIF` (CubaLIF with Rockpool's fields: one
    synapse, no noise), :class:`~spikax.CubaLIF` / :class:`~spikax.CubaLI` (CubaLIF/LIF,
    CubaLI/LI) and :class:`~spikax.neurons.Integrator` (I). Each neuron node's metadata says how
    spikax steps it (reset, ``fire_at``, integrator), so :func:`from_nir` rebuilds the same model;
    the graph's metadata holds ``dt`` (s), ``"exporter": "spikax"`` and the convention.

    Models NIR cannot express (AdEx, ALIF, EIF, QIF, Izhikevich, DynapSim, custom ``Neuron``\ s)
    raise a ``ValueError`` saying so.

    **Arguments:** ``model``; ``input_shape``: the step shape of the input (needed when the first
    layer does not fix it, e.g. a convolution's spatial size); ``dt`` (s): defaults to the
    neurons' (all must agree).
    """
    from ... import __version__

    if dt is None:  # the neurons' step, found before any Delay needs it
        steps = {
            float(m.dt)
            for m in jax.tree.leaves(model, is_leaf=lambda x: isinstance(x, AbstractNeuron))
            if isinstance(m, AbstractNeuron)
        }
        if len(steps) > 1:
            raise ValueError(
                f"the model's neurons run at different steps {sorted(steps)} s: pass `dt=`, the graph's physical step "
                "(each neuron's own step is recorded in its node)"
            )
        dt = steps.pop() if steps else None
    ex = _Export(dt)
    if input_shape is None:
        input_shape = _guess_input(model)
    input_shape = tuple(int(d) for d in input_shape)
    if isinstance(model, (L.Sequential, L.Recurrent, L.Graph)):
        g = ex.graph(model, input_shape)
    else:
        g = ex.graph(L.Sequential(model), input_shape)
    nodes = dict(g.nodes)
    conventions = sorted(ex.conventions) or ["nir"]
    g = ex.nir.NIRGraph(
        nodes=nodes,
        edges=g.edges,
        type_check=False,
        metadata={
            "exporter": "spikax",
            "spikax_version": __version__,
            "dt": float(ex.dt if ex.dt is not None else 0.0),
            "convention": conventions[0] if len(conventions) == 1 else "mixed",
        },
    )
    return g


def _guess_input(model) -> tuple[int, ...]:
    first = model
    while isinstance(first, L.Sequential):
        first = first.layers[0]
    if isinstance(first, L.Graph):
        return next(iter(dict(first.inputs).values()))
    if isinstance(first, L.Linear):
        return (first.in_features,)
    if isinstance(first, L.Recurrent):
        return tuple(jax.tree.leaves(first.w_rec)[0].shape[1:])
    if isinstance(first, N.LIF):
        return (first.in_features,)
    raise ValueError(
        f"to_nir cannot tell the input shape of a model starting with {type(first).__name__}: pass `input_shape=`"
    )
