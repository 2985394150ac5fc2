r"""A network as a graph of layers: several inputs into one node, branches, and recurrent cycles.

What NIR graphs need beyond :class:`spikax.Sequential`: a node may take several edges (their
outputs are summed), feed several nodes, and lie on a cycle.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp

from .._types import AbstractLayer, AbstractNeuron, check_state
from ..simulate import simulate, state_fields

__all__ = ["Graph"]


class Identity(AbstractLayer):
    """$y_t = x_t$: the pass-through that stands for an inner graph's input or output."""

    def init_state(self, input_shape=None):
        return None

    def __call__(self, xs, state=None, *, key=None, record=False):
        return jnp.asarray(xs), None, ({} if record else None)


def _sccs(names: Sequence[str], succ: Mapping[str, Sequence[str]]) -> list[list[str]]:
    """Strongly connected components (Tarjan), in topological order of the condensation."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        # Iterative DFS: graphs from files may be deep enough to hit Python's recursion limit.
        work = [(v, iter(succ[v]))]
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v), on.add(v)
        while work:
            node, it = work[-1]
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter[0]
                    counter[0] += 1
                    stack.append(w), on.add(w)
                    work.append((w, iter(succ[w])))
                    break
                if w in on:
                    low[node] = min(low[node], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on.discard(w)
                        comp.append(w)
                        if w == node:
                            break
                    out.append(comp)

    for v in names:
        if v not in index:
            visit(v)
    return out[::-1]


def _min_delay(layer) -> int:
    from ._elementwise import Delay

    return min(layer.delays) if isinstance(layer, Delay) else 0


def _cycle(comp, nodes, edges) -> tuple[tuple[str, ...], frozenset, frozenset]:
    """How a strongly connected group of nodes is stepped: ``(order, delayed edges, delay lines)``.

    Its Delays of at least one step (the delay lines) close every loop through them with exactly
    their steps. The loops that remain without them are closed by their neurons: the edges from a
    neuron to a node of its remaining loop carry the previous step (the delayed edges). Every other
    edge carries the current step, and ``order`` runs each node after the nodes it reads now.
    """
    members = set(comp)
    lines = frozenset(n for n in comp if _min_delay(nodes[n]) >= 1)
    inner = [(a, b) for a, b in edges if a in members and b in members and a not in lines]
    succ = {n: [b for a, b in inner if a == n] for n in comp}
    delayed = set()
    for group in _sccs(list(comp), succ):
        looped = set(group)
        if len(group) > 1 or group[0] in succ[group[0]]:
            delayed |= {
                (a, b) for a, b in inner if a in looped and b in looped and isinstance(nodes[a], AbstractNeuron)
            }
    needs = {n: [a for a, b in inner if b == n and (a, b) not in delayed] for n in comp}
    order, done = [], set()
    while len(order) < len(comp):
        ready = [n for n in comp if n not in done and all(m in done for m in needs[n])]
        if not ready:
            stuck = sorted(n for n in comp if n not in done)
            raise ValueError(
                f"the loop through {stuck} has no neuron or Delay of at least one step to carry the past: it is an "
                "algebraic loop (a neuron inside a composite layer such as Sequential does not count: make it a "
                "node of its own)"
            )
        order.extend(ready), done.update(ready)
    return tuple(order), frozenset(delayed), lines


def _peek(delay, state, x):
    """A Delay's output this step, from its history only (every delay >= 1 step)."""
    return delay(jnp.zeros_like(x)[None], state)[0][0]


def _has_state(layer) -> bool:
    if isinstance(layer, AbstractNeuron):
        return True
    try:
        return bool(jax.tree.leaves(jax.eval_shape(lambda: layer.init_state(None))))
    except (ValueError, TypeError):
        return True  # it needs an input shape to build its state: it has one


class Graph(AbstractLayer):
    r"""Layers connected by edges, run over whole sequences: $x_n = \sum_{(m, n) \in E} y_m$.

    Each node is a spikax layer; its input is the sum of the outputs of the nodes with an edge
    into it (a node named in ``inputs`` takes the graph's input, and ``outputs`` names the nodes
    whose outputs the graph returns). Nodes outside any cycle run one after the other over the
    whole sequence, as in :class:`spikax.Sequential`, so feed-forward weights and convolutions are
    one operation over all ``T`` steps.

    **Cycles.** The nodes of a cycle run step by step in one loop. A loop through a
    :class:`~spikax.layers.Delay` of at least one step is closed by it and takes exactly the
    Delay's steps. A loop without one is closed by its neurons: an edge from a neuron to a node of
    that loop carries the neuron's output of the *previous* step (zero before the first step).
    Every other edge carries the current step. So ``neuron -> w_rec -> neuron`` is
    $x_t + W_{rec}^\top y_{t-1} + b$ at every step, the semantics of :class:`spikax.Recurrent`
    (plus the recurrent bias from the first step on, as snnTorch's ``RLeaky``). A loop with
    neither is an error (an algebraic loop).

    **Arguments:**

    - ``nodes``: ``{name: layer}``.
    - ``edges``: ``(source, target)`` pairs of node names.
    - ``inputs``: ``{name: step shape}``: the nodes that receive the graph's input (an input
      node is usually an identity) and the shape of one input step.
    - ``outputs``: names of the nodes whose outputs are returned.

    Called as ``ys, state, record = graph(xs)``: ``xs`` ``(T, *step shape)`` for one input, or
    ``{input name: sequence}``; ``ys`` the output sequence, or ``{output name: sequence}`` when
    there are several. The state is ``{node name: state}`` for the nodes with state, plus
    ``"__previous__"``: the delayed outputs of each cycle. ``record=True`` gives
    ``{node name: {"output": (T, ...), **the node's record}}`` (for a neuron on a cycle, its
    state fields, e.g. ``"v"``, after each step).
    """

    nodes: dict
    edges: tuple[tuple[str, str], ...] = eqx.field(static=True)
    inputs: tuple[tuple[str, tuple[int, ...]], ...] = eqx.field(static=True)
    outputs: tuple[str, ...] = eqx.field(static=True)
    plan: tuple = eqx.field(static=True)
    shapes: tuple[tuple[str, tuple[int, ...]], ...] = eqx.field(static=True)

    def __init__(
        self,
        nodes: Mapping[str, AbstractLayer],
        edges: Sequence[tuple[str, str]],
        *,
        inputs: Mapping[str, Sequence[int]],
        outputs: Sequence[str],
    ):
        nodes = dict(nodes)
        for name, layer in nodes.items():
            if not isinstance(name, str):
                raise TypeError(f"node names must be strings, got {name!r}")
            if not isinstance(layer, AbstractLayer):
                raise TypeError(f"node {name!r} ({type(layer).__name__}) is not a spikax layer")
        edges = tuple((str(a), str(b)) for a, b in edges)
        for a, b in edges:
            for end in (a, b):
                if end not in nodes:
                    raise ValueError(f"edge ({a!r}, {b!r}) names node {end!r}, which is not in the graph")
        if len(set(edges)) != len(edges):
            dup = next(e for e in edges if edges.count(e) > 1)
            raise ValueError(f"edge {dup} appears twice")
        inputs = tuple((str(n), tuple(int(d) for d in s)) for n, s in dict(inputs).items())
        outputs = tuple(str(n) for n in outputs)
        if not inputs or not outputs:
            raise ValueError("a Graph needs at least one input node and one output node")
        for n in [i for i, _ in inputs] + list(outputs):
            if n not in nodes:
                raise ValueError(f"input/output node {n!r} is not in the graph")
        self.nodes, self.edges, self.inputs, self.outputs = nodes, edges, inputs, outputs

        preds = {n: [a for a, b in edges if b == n] for n in nodes}
        succ = {n: [b for a, b in edges if a == n] for n in nodes}
        input_names = {n for n, _ in inputs}
        for n in nodes:
            if not preds[n] and n not in input_names:
                raise ValueError(f"node {n!r} has no incoming edge and is not an input: nothing drives it")
        plan = []
        for comp in _sccs(list(nodes), succ):
            cyclic = len(comp) > 1 or comp[0] in succ[comp[0]]
            if not cyclic:
                plan.append((comp[0],))
                continue
            order, _, _ = _cycle(comp, nodes, edges)
            plan.append(tuple(order))
        self.plan = tuple(plan)
        self.shapes = tuple(self._infer_shapes(dict(inputs), preds).items())

    # -- structure ---------------------------------------------------------------------------

    def _preds(self, n: str) -> list[str]:
        return [a for a, b in self.edges if b == n]

    def _stateful(self) -> set:
        return {n for n in self.nodes if _has_state(self.nodes[n])}

    def _delayed(self, stage) -> set:
        """The neurons of a cycle with an edge that carries their previous step."""
        return {a for a, _ in _cycle(stage, self.nodes, self.edges)[1]}

    def _cyclic(self, stage) -> bool:
        return len(stage) > 1 or (stage[0], stage[0]) in self.edges

    def _infer_shapes(self, inputs: dict, preds) -> dict:
        """The step shape of every node's input, and of its output (``name + "/out"``)."""
        shapes: dict[str, tuple[int, ...]] = {}

        def out_shape(n, in_shape):
            layer = self.nodes[n]
            st = layer.init_state(in_shape)
            y = jax.eval_shape(lambda: layer(jnp.zeros((1,) + in_shape), st, key=jax.random.key(0))[0])
            return tuple(y.shape[1:])

        def in_shape(n, known):
            parts = [known[m + "/out"] for m in preds[n] if m + "/out" in known]
            if n in inputs:
                parts.append(inputs[n])
            if not parts:
                return None
            try:
                return tuple(jnp.broadcast_shapes(*parts)) if len(set(parts)) > 1 else parts[0]
            except ValueError:
                raise ValueError(
                    f"node {n!r} receives edges of step shapes {parts}, which do not broadcast to one shape"
                ) from None

        for stage in self.plan:
            # A cycle's shapes spread from the edges entering it: one pass per node reaches all.
            for _ in range(len(stage) + 1 if self._cyclic(stage) else 1):
                for n in stage:
                    s = in_shape(n, shapes)
                    if s is None:
                        continue
                    try:
                        shapes[n], shapes[n + "/out"] = s, out_shape(n, s)
                    except (ValueError, TypeError) as err:
                        raise ValueError(f"node {n!r} cannot take input steps of shape {s}: {err}") from None
            for n in stage:
                if n not in shapes:
                    raise ValueError(f"node {n!r}: no edge brings it an input of known shape")
        return shapes

    def shape_of(self, name: str, output: bool = False) -> tuple[int, ...]:
        """The step shape of node ``name``'s input (or output, with ``output=True``)."""
        return dict(self.shapes)[name + ("/out" if output else "")]

    # -- running -----------------------------------------------------------------------------

    def init_state(self, input_shape=None) -> dict:
        shapes = dict(self.shapes)
        stateful = self._stateful()
        state: dict[str, Any] = {n: self.nodes[n].init_state(shapes[n]) for n in self.nodes if n in stateful}
        previous = {}
        for stage in self.plan:
            if self._cyclic(stage):
                for n in self._delayed(stage):
                    previous[n] = jnp.zeros(shapes[n + "/out"], jnp.result_type(float))
        state["__previous__"] = previous
        return state

    def _check_inputs(self, xs) -> dict:
        names = [n for n, _ in self.inputs]
        if not isinstance(xs, Mapping):
            if len(names) != 1:
                raise ValueError(f"this Graph has {len(names)} inputs {names}: pass `xs` as {{name: sequence}}")
            xs = {names[0]: xs}
        unknown = set(xs) - set(names)
        if unknown or set(names) - set(xs):
            raise ValueError(f"`xs` must have one sequence per input {names}, got {sorted(xs)}")
        out, lengths = {}, set()
        for n, shape in self.inputs:
            a = jnp.asarray(xs[n])
            if a.ndim < 1 or tuple(a.shape[1:]) != shape:
                raise ValueError(f"input {n!r} must be (T, {', '.join(map(str, shape))}), got shape {a.shape}")
            if not jnp.issubdtype(a.dtype, jnp.floating):
                a = a.astype(jnp.result_type(float))
            out[n] = a
            lengths.add(a.shape[0])
        if len(lengths) != 1:
            raise ValueError(f"the input sequences must share their length T, got {sorted(lengths)}")
        return out

    def __call__(self, xs, state=None, *, key=None, record=False):
        xs = self._check_inputs(xs)
        n_steps = next(iter(xs.values())).shape[0]
        if state is None:
            state = self.init_state()
        else:
            check_state(self, state, ())
        stateful = self._stateful()
        names = list(self.nodes)
        keys = dict(zip(names, jax.random.split(key, len(names)))) if key is not None else {n: None for n in names}
        values: dict[str, Any] = {}
        new_state = {"__previous__": {}}
        records: dict[str, Any] = {}
        shapes = dict(self.shapes)

        def external(n, members=()):
            parts = [values[m] for m in self._preds(n) if m not in members]
            if n in xs:
                parts.append(xs[n])
            if not parts:
                return jnp.zeros((n_steps,) + shapes[n], jnp.result_type(float))
            total = parts[0]
            for p in parts[1:]:
                total = total + p
            return total

        for stage in self.plan:
            if not self._cyclic(stage):
                n = stage[0]
                y, st, rec = self.nodes[n](external(n), state.get(n), key=keys[n], record=record)
                values[n] = y
                if n in stateful:
                    new_state[n] = st
                if record:
                    records[n] = {"output": y, **(rec if isinstance(rec, dict) else {"record": rec})}
                continue
            ys, finals, prev, traces = self._run_cycle(stage, external, state, keys, stateful, record)
            for n in stage:
                values[n] = ys[n]
                if n in stateful:
                    new_state[n] = finals[n]
                if record:
                    records[n] = {"output": ys[n], **traces.get(n, {})}
            new_state["__previous__"].update(prev)
        outs = {n: values[n] for n in self.outputs}
        ys = outs[self.outputs[0]] if len(self.outputs) == 1 else outs
        return ys, new_state, (records if record else None)

    def _run_cycle(self, stage, external, state, keys, stateful, record):
        members = set(stage)
        ext, per_step, coeffs = {}, {}, {}
        for n in stage:
            layer, x = self.nodes[n], external(n, members)
            if isinstance(layer, AbstractNeuron):
                x, per_step[n] = layer.prepare(x, keys[n])
                coeffs[n] = layer.derive(layer.params, layer.dt)  # loop invariants, once
            ext[n] = x
        _, delayed_edges, delay_lines = _cycle(stage, self.nodes, self.edges)
        delayed = {a for a, _ in delayed_edges}
        carry0 = ({n: state[n] for n in stage if n in stateful}, {n: state["__previous__"][n] for n in delayed})

        def step(carry, inputs):
            states, previous = carry
            x_t, p_t = inputs
            # A delay line of d >= 1 steps outputs what it took d steps ago: known before this step.
            now = {n: _peek(self.nodes[n], states[n], x_t[n]) for n in delay_lines}
            new_states = {}
            for n in stage:
                x = x_t[n]
                for m in self._preds(n):
                    if m in members:
                        x = x + (previous[m] if (m, n) in delayed_edges else now[m])
                layer = self.nodes[n]
                if isinstance(layer, AbstractNeuron):
                    new_states[n], y = layer.advance(coeffs[n], states[n], x, p_t.get(n))
                else:
                    y, st, _ = layer(x[None], states.get(n), key=None)
                    y = y[0]
                    if n in stateful:
                        new_states[n] = st
                if n not in delay_lines:
                    now[n] = y
            return (new_states, {m: now[m] for m in delayed}), now

        def keep(carry, y):  # with record=True: the state fields of the cycle's neurons, per step
            return {n: state_fields(st) for n, st in carry[0].items() if isinstance(self.nodes[n], AbstractNeuron)}

        adjoints = [self.nodes[n].adjoint for n in stage if isinstance(self.nodes[n], AbstractNeuron)]
        ys, (finals, prev), traces = simulate(
            step, carry0, (ext, per_step), record=keep if record else None, adjoint=adjoints[0] if adjoints else None
        )
        return ys, finals, prev, traces or {}
