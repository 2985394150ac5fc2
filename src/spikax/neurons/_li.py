"""Leaky integrator (no spikes) with NIR semantics."""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike

from .._types import AbstractNeuron
from .._validate import as_param, check_dt, check_time_constant
from ._base import NeuronState, run_neuron

__all__ = ["LI", "LIParams", "li_charge"]


class LIParams(eqx.Module):
    """Parameters of :class:`LI` (NIR names)."""

    tau: Array
    """Time constant (s), > 0; scalar or per neuron."""
    r: Array
    """Resistance: volts per input unit."""
    v_leak: Array
    """Resting potential (V)."""


def li_charge(params, v: Array, x: Array, dt: float) -> Array:
    r"""NIR ``LI``, $\tau\dot v = (v_{leak} - v) + R\,I$, one forward-Euler step:

    $V_t = V_{t-1} + \frac{dt}{\tau}\,(v_{leak} - V_{t-1} + R\,X_t)$.

    ``params`` needs ``tau``, ``r`` and ``v_leak``; any PyTree with those fields works, so this
    is also the charge of an NIR ``LIF`` under :class:`spikax.Neuron`.
    """
    return v + (dt / params.tau) * (params.v_leak - v + params.r * x)


class LI(AbstractNeuron):
    r"""Leaky integrator (NIR ``LI``): $\tau\,\dot v = (v_{leak} - v) + R\,I$, forward Euler.

    Outputs the membrane potential at every step (a typical read-out). The state starts at
    ``v_leak`` and takes the input's shape broadcast with the parameters.

    **Arguments:** ``tau`` in s (default 20e-3; forward Euler needs ``dt <= tau``: larger ``dt``
    raises), ``r`` (1), ``v_leak`` (0), ``dt`` in s (1e-3).

    Reference: Pedersen et al. (2024), doi:10.1038/s41467-024-52259-9.
    """

    params: LIParams
    dt: float = eqx.field(static=True)

    def __init__(self, *, tau: ArrayLike = 20e-3, r: ArrayLike = 1.0, v_leak: ArrayLike = 0.0, dt: float = 1e-3):
        self.dt = check_dt(dt)
        tau = as_param("tau", tau, positive=True)
        check_time_constant("tau", tau, self.dt, euler=True)
        self.params = LIParams(tau=tau, r=as_param("r", r), v_leak=as_param("v_leak", v_leak))

    def init_state(self, input_shape):
        p = self.params
        shape = jnp.broadcast_shapes(tuple(input_shape), p.tau.shape, p.r.shape, p.v_leak.shape)
        return NeuronState(v=jnp.broadcast_to(p.v_leak, shape))

    def prepare(self, xs, key):
        return None, None

    def advance(self, coeffs, state, x, extra):
        v = li_charge(self.params, state.v, x, self.dt)
        return NeuronState(v=v), v

    def __call__(self, xs, state=None, *, key=None, record=False):
        """Run ``xs`` ``(T, ...)``: returns ``(v (T, ...), final NeuronState, record)``."""
        return run_neuron(self, xs, state, key=key, record=record)
