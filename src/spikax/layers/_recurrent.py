"""Recurrent connections around any neuron layer."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, PyTree

from .._types import AbstractNeuron
from .._validate import as_param, check_input
from ..neurons._base import record_function
from ..simulate import simulate, state_fields

__all__ = ["Recurrent", "RecurrentState"]


class RecurrentState(eqx.Module):
    """State of :class:`Recurrent`: the cell's state and its last output (fed back next step)."""

    cell: PyTree
    output: Array


class Recurrent(eqx.Module):
    r"""Feed a neuron layer's output back into its input: $x'_t = x_t + y_{t-1} W_{rec}$.

    ``w_rec[pre, post]`` maps the cell's output (``pre``) to its input channels (``post``), so
    spikes of step $t-1$ arrive with the input of step $t$. For :class:`spikax.LIF` this is
    Rockpool's ``i_syn += x + S_{t-1} W_{rec}``, with ``w_rec`` of shape
    ``(n_neurons, n_neurons * n_synapses)``.

    Only this product runs inside the time loop; the cell's loop invariants are prepared once.
    With ``record=True`` the cell's state traces are returned at the top level.
    """

    cell: AbstractNeuron
    w_rec: Float[Array, "pre post"]

    def __init__(self, cell: AbstractNeuron, w_rec: ArrayLike):
        if not isinstance(cell, AbstractNeuron):
            raise TypeError(f"`cell` must be a spikax neuron (AbstractNeuron), got {type(cell).__name__}")
        w_rec = as_param("w_rec", w_rec)
        if w_rec.ndim != 2:
            raise ValueError(f"`w_rec` must be 2-D (pre = cell outputs, post = cell inputs), got shape {w_rec.shape}")
        self.cell = cell
        self.w_rec = w_rec

    def init_state(self, input_shape=None) -> RecurrentState:
        input_shape = (self.w_rec.shape[1],) if input_shape is None else tuple(input_shape)
        output = jnp.zeros(self.w_rec.shape[0], self.w_rec.dtype)
        return RecurrentState(cell=self.cell.init_state(input_shape), output=output)

    def _check_output_size(self, cell_state, xs) -> None:
        out = jax.eval_shape(lambda: self.cell.step(cell_state, xs[0], key=jax.random.key(0))[1])
        if out.shape != (self.w_rec.shape[0],):
            raise ValueError(
                f"`w_rec` has shape {self.w_rec.shape}, so its rows expect a cell output of shape "
                f"({self.w_rec.shape[0]},), but the cell outputs {out.shape}"
            )

    def __call__(self, xs, state=None, *, key=None, record=False):
        """Run ``xs`` ``(T, post)``: ``(outputs (T, pre), RecurrentState, record)``."""
        xs = jnp.asarray(xs)
        check_input("xs", xs, (self.w_rec.shape[1],), what="the cell's input channels = w_rec.shape[1]")
        if state is None:
            state = self.init_state(xs.shape[1:])
        self._check_output_size(state.cell, xs)
        coeffs, extras = self.cell.prepare(xs, key)
        w_rec = self.w_rec

        def step(st, inputs):
            x, extra = inputs
            cell_state, y = self.cell.advance(coeffs, st.cell, x + st.output @ w_rec, extra)
            return RecurrentState(cell=cell_state, output=y), y

        cell_record = record_function(record)
        if record is True:
            rec_fn = lambda st, y: state_fields(st.cell)  # noqa: E731
        elif cell_record is not None:
            rec_fn = lambda st, y: cell_record(st.cell, y)  # noqa: E731
        else:
            rec_fn = None
        return simulate(step, state, (xs, extras), record=rec_fn)
