"""Shared type aliases and the two abstract base classes every model builds on."""

from __future__ import annotations

import abc
from typing import Any, Callable, Optional, Union

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray, PyTree

Scalar = Float[Array, ""]
ScalarLike = Union[float, Float[ArrayLike, ""]]
#: ``record=`` argument of every model: ``False``/``None`` (nothing), ``True`` (every
#: state field) or a function ``fn(state, output) -> PyTree`` choosing what is kept.
RecordSpec = Union[bool, None, Callable[[Any, Any], PyTree]]
Key = Optional[PRNGKeyArray]

__all__ = [
    "AbstractNeuron",
    "AbstractSurrogate",
    "Array",
    "Float",
    "Key",
    "PRNGKeyArray",
    "PyTree",
    "RecordSpec",
    "Scalar",
    "ScalarLike",
]


class AbstractSurrogate(eqx.Module):
    """A spike function: a step forward, a chosen derivative backward.

    Called as ``spike_fn(v, threshold, fire_at=">=")`` and returning spikes (floats) with the
    shape of ``jnp.broadcast(v, threshold)``. Shape parameters (slope, width) are array fields so
    that a family can be swept with ``jax.vmap``.
    """

    @abc.abstractmethod
    def __call__(self, v: Array, threshold: ArrayLike, fire_at: str = ">=") -> Array:
        raise NotImplementedError


class AbstractNeuron(eqx.Module):
    """A neuron layer, unbatched: one sample of shape ``(T, *input_shape)``.

    The time loop is not the neuron's business: a neuron says how to start
    (:meth:`init_state`), what is constant over the loop (:meth:`prepare`, run once, outside
    ``lax.scan``) and how to advance one step (:meth:`advance`). :func:`spikax.run_neuron`
    and :class:`spikax.Recurrent` own the loop.
    """

    @abc.abstractmethod
    def init_state(self, input_shape: tuple[int, ...]) -> PyTree:
        """The state before the first step for one input step of shape ``input_shape``."""

    @abc.abstractmethod
    def prepare(self, xs: Array, key: Key) -> tuple[PyTree, PyTree]:
        """Loop invariants and per-step extras for a whole input sequence ``xs`` ``(T, ...)``.

        Returns ``(coeffs, extras)``: ``coeffs`` are used by every step (decay factors,
        ...); ``extras`` has a leading time axis (e.g. pre-drawn noise) or is ``None``.
        """

    @abc.abstractmethod
    def advance(self, coeffs: PyTree, state: PyTree, x: Array, extra: PyTree) -> tuple[PyTree, Array]:
        """One time step: ``(state, x_t) -> (state, output_t)``."""

    def step(self, state: PyTree, x: Array, *, key: Key = None) -> tuple[PyTree, Array]:
        """One time step outside any loop: ``(state, x_t) -> (state, output_t)``.

        Convenient for interactive use and for tests; a sequence is far faster through
        ``__call__``, which prepares the loop invariants once.
        """
        x = jnp.asarray(x)
        coeffs, extras = self.prepare(x[None], key)
        return self.advance(coeffs, state, x, jax.tree.map(lambda e: e[0], extras))

    @abc.abstractmethod
    def __call__(
        self, xs: Array, state: PyTree = None, *, key: Key = None, record: RecordSpec = False
    ) -> tuple[Array, PyTree, PyTree]:
        """Run a whole sequence: ``outputs, final_state, record``."""
