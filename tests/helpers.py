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


#: float32 machine epsilon (2**-23).
EPS32 = float(np.finfo(np.float32).eps)


def assert_close_to_rounding(actual, desired, n_roundings: int = 256):
    """``|actual - desired| <= n_roundings * eps32 * max|desired|`` elementwise.

    For results that went through matrix products whose summation order differs between the
    two sides (``vmap`` against a loop, ``jit`` against eager: XLA blocks a batched product
    differently, and AVX2 and AVX-512 kernels differ again). Each output is then a sum whose
    terms are as large as the largest output, and every addition may round differently, so the
    error scales with the largest value, not with the element's own (a small element that is
    the cancellation of large terms has a large *relative* error). ``n_roundings`` bounds the
    number of differently rounded operations an output depends on, each off by at most one ulp
    of the largest term: steps remembered x operations per step. The default 256 is for a few
    layers with time constants of 5-10 steps and products of up to 8 terms (measured: up to 64
    between runs split at different steps on an AVX-512 Zen 4). A real error (a lost state, a
    wrong noise draw, a flipped spike) is 1e-3 or more of the largest value, i.e. > 8000.
    """
    actual, desired = np.asarray(actual, np.float64), np.asarray(desired, np.float64)
    assert actual.shape == desired.shape, f"shapes differ: {actual.shape} vs {desired.shape}"
    scale = max(float(np.abs(desired).max(initial=0.0)), np.finfo(np.float32).tiny)
    err = float(np.abs(actual - desired).max(initial=0.0))
    assert err <= n_roundings * EPS32 * scale, (
        f"max |difference| = {err:.3g} = {err / (EPS32 * scale):.1f} eps32 * max|desired| "
        f"(max|desired| = {scale:.4g}); allowed {n_roundings}"
    )


def assert_trees_close(a, b, **kw):
    la, ta = jax.tree.flatten(a)
    lb, tb = jax.tree.flatten(b)
    assert ta == tb, f"tree structures differ: {ta} vs {tb}"
    for x, y in zip(la, lb):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), **kw)
