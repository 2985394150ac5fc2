"""Shared test utilities."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

import spikax as sx
from spikax._types import step_shape


def python_loop(cell, xs, state=None, *, key=None):
    """Run a neuron step by step in plain Python (no scan): the reference for ``__call__``."""
    xs, per_step = cell.prepare(xs, key)
    state = cell.init_state(step_shape(xs)) if state is None else state
    coeffs = cell.derive(cell.params, cell.dt)
    ys = []
    for t in range(jax.tree.leaves(xs)[0].shape[0]):
        at = lambda tree, t=t: None if tree is None else jax.tree.map(lambda e: e[t], tree)  # noqa: E731
        state, y = cell.advance(coeffs, state, at(xs), at(per_step))
        ys.append(y)
    return jnp.stack(ys), state


class SmoothSigmoid(sx.AbstractSurrogate):
    """A smooth twin of the spike: forward sigmoid(k (v - theta)), exact derivative.

    Used for gradient checks: with it, the whole model is differentiable, so finite
    differences must match autodiff through the time loop.
    """

    slope: jax.Array = eqx.field(converter=jnp.asarray, default=4.0)

    def __call__(self, v, threshold, fire_at=">="):
        return jax.nn.sigmoid(self.slope * (v - threshold))


def assert_trees_close(a, b, **kw):
    la, ta = jax.tree.flatten(a)
    lb, tb = jax.tree.flatten(b)
    assert ta == tb, f"tree structures differ: {ta} vs {tb}"
    for x, y in zip(la, lb):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), **kw)
