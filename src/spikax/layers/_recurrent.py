"""Recurrent connections around any neuron: the library's one recurrence."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, PyTree

from .._types import AbstractLayer, AbstractNeuron, starting_state, step_shape
from .._validate import check_final_state, check_finite
from ..simulate import record_function, simulate

__all__ = ["Recurrent", "RecurrentState"]


class RecurrentState(eqx.Module):
    """State of :class:`Recurrent`: the cell's state and its last output (fed back next step)."""

    cell: PyTree
    output: Array


def _is_none(x) -> bool:
    return x is None


def _add_feedback(x: PyTree, feedback: PyTree) -> PyTree:
    """``x + feedback`` leaf by leaf, where ``None`` means "nothing here" on either side."""

    def add(a, b):
        if b is None:
            return a
        return b if a is None else a + b

    return jax.tree.map(add, x, feedback, is_leaf=_is_none)


class Recurrent(AbstractLayer):
    r"""Feed a neuron's output back into its input: $x'_t = x_t + y_{t-1} W_{rec}$.

    ``w_rec[pre, post]``: row ``pre`` is the input one unit of output of neuron ``pre``
    delivers in the next step, in the cell's input layout. It is an array ``(pre, post)`` for a
    cell whose input is one array (for :class:`spikax.LIF`, Rockpool's
    ``i_syn += x + S_{t-1} W_{rec}`` with ``post = n_neurons * n_synapses``), and the cell's own
    input PyTree with ``(pre, post)`` leaves otherwise: for
    :class:`spikax.devices.dynapse.DynapSim`, a :class:`~spikax.devices.dynapse.Synapses` of one
    weight matrix per synapse type (or the ``(pre, post, 4)`` array, converted on construction).
    Because its rows are inputs, the cell checks them as inputs (shape, sign, finiteness).

    Only the feedback product runs inside the time loop; the cell's loop invariants are derived
    once, and the cell's adjoint is used. With ``record=True`` the cell's state traces are
    returned at the top level.
    """

    cell: AbstractNeuron
    w_rec: PyTree

    def __init__(self, cell: AbstractNeuron, w_rec: PyTree):
        if not isinstance(cell, AbstractNeuron):
            raise TypeError(f"`cell` must be a spikax neuron (AbstractNeuron), got {type(cell).__name__}")
        if not isinstance(w_rec, eqx.Module):
            w_rec = jnp.asarray(w_rec)
            if w_rec.ndim < 2:
                raise ValueError(
                    f"`w_rec` must be 2-D (pre = cell outputs, post = cell inputs), got shape {w_rec.shape}"
                )
        # The rows are inputs to the cell: its own input check validates them and lays them
        # out as its steps expect (the key only feeds noise draws, which are discarded).
        try:
            self.w_rec = cell.prepare(w_rec, jax.random.key(0), name="w_rec")[0]
        except ValueError as err:
            # The cell words its shape errors for sequences: here the leading axis is `pre`.
            message = str(err).replace("(T, ", "(pre, ").replace(" for one sample (batch with jax.vmap)", "")
            raise ValueError(message) from None
        self.cell = cell
        n_pre = {leaf.shape[0] for leaf in jax.tree.leaves(self.w_rec)}
        out = jax.eval_shape(
            lambda: cell.step(cell.init_state(step_shape(self.w_rec)), _first(self.w_rec), key=jax.random.key(0))[1]
        )
        if len(n_pre) != 1 or out.shape != (n_pre.pop(),):
            raise ValueError(
                f"`w_rec` has {jax.tree.leaves(self.w_rec)[0].shape[0]} rows, so its rows expect a cell output of "
                f"shape ({jax.tree.leaves(self.w_rec)[0].shape[0]},), but the cell outputs {out.shape}"
            )

    @property
    def n_outputs(self) -> int:
        return jax.tree.leaves(self.w_rec)[0].shape[0]

    def init_state(self, input_shape=None) -> RecurrentState:
        input_shape = step_shape(self.w_rec) if input_shape is None else tuple(input_shape)
        dtype = jax.tree.leaves(self.w_rec)[0].dtype
        return RecurrentState(cell=self.cell.init_state(input_shape), output=jnp.zeros(self.n_outputs, dtype))

    def __call__(self, xs, state=None, *, key=None, record=False):
        """Run ``xs`` ``(T, post)``: ``(outputs (T, pre), RecurrentState, record)``."""
        cell, w_rec = self.cell, self.w_rec
        xs, per_step = cell.prepare(xs, key)
        if not _compatible(xs, w_rec):
            raise ValueError(
                f"`xs` steps have shape {step_shape(xs)}, but the rows of `w_rec` (the cell's input) have shape "
                f"{step_shape(w_rec)}"
            )
        check_finite("xs", xs), check_finite("params", cell.params), check_finite("w_rec", w_rec)
        coeffs = cell.derive(cell.params, cell.dt)
        state = starting_state(self, state, xs)

        def step(st, inputs):
            x, p = inputs
            feedback = jax.tree.map(lambda w: st.output @ w, w_rec)
            cell_state, y = cell.advance(coeffs, st.cell, _add_feedback(x, feedback), p)
            return RecurrentState(cell=cell_state, output=y), y

        cell_record = record_function(record, lambda st, y: cell.observe(coeffs, st, y))
        rec_fn = None if cell_record is None else (lambda st, y: cell_record(st.cell, y))
        ys, final, rec = simulate(step, state, (xs, per_step), record=rec_fn, adjoint=cell.adjoint)
        what = f"Recurrent({type(cell).__name__})"
        final, (ys, rec) = check_final_state(what, final, (ys, rec), (cell.params, w_rec))
        return ys, final, rec


def _first(tree):
    return jax.tree.map(lambda a: a[0], tree)


def _compatible(xs, w_rec) -> bool:
    """Input and feedback PyTrees of one layout and step shape (``None`` where a part has no input)."""
    x1, w1 = jax.eval_shape(lambda: (_first(xs), _first(w_rec)))

    def check(a, b):
        if a is not None and b is not None and a.shape != b.shape:
            raise ValueError

    try:
        jax.tree.map(check, x1, w1, is_leaf=_is_none)
    except (ValueError, TypeError):
        return False
    return True
