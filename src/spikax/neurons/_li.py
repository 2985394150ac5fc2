"""Leaky integrator (no spikes) with NIR semantics."""

from __future__ import annotations

from typing import Optional

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike

from .._adjoint import AbstractAdjoint, DirectAdjoint
from .._types import AbstractNeuron, Key, ParamLike
from .._validate import as_param, check_dt, check_time_constant
from ._base import NeuronState, check_param_shapes, check_params, sequence

__all__ = ["LI", "LICoeffs", "LIParams", "li_charge", "li_derive"]


class LIParams(eqx.Module):
    """Parameters of :class:`LI` (NIR names)."""

    tau: ArrayLike
    """Time constant (s), > 0; scalar or per neuron."""
    r: ArrayLike
    """Resistance: volts per input unit."""
    v_leak: ArrayLike
    """Resting potential (V)."""


class LICoeffs(eqx.Module):
    """Loop invariants of :class:`LI`."""

    dt_over_tau: ArrayLike
    r: ArrayLike
    v_leak: ArrayLike


def li_derive(params: LIParams, dt: float) -> LICoeffs:
    r"""The Euler factor $dt/\tau$."""
    return LICoeffs(dt_over_tau=dt / params.tau, r=params.r, v_leak=params.v_leak)


def li_charge(coeffs: LICoeffs, state: NeuronState, x: Array) -> NeuronState:
    r"""NIR ``LI``, $\tau\dot v = (v_{leak} - v) + R\,I$, one forward-Euler step:

    $V_t = V_{t-1} + \frac{dt}{\tau}\,(v_{leak} - V_{t-1} + R\,X_t)$.
    """
    v = state.v
    return NeuronState(v=v + coeffs.dt_over_tau * (coeffs.v_leak - v + coeffs.r * x))


class LI(AbstractNeuron):
    r"""Leaky integrator (NIR ``LI``): $\tau\,\dot v = (v_{leak} - v) + R\,I$, forward Euler.

    It never fires: its output is the membrane potential of every step (a typical read-out),
    and its reset stage keeps the charged state. The state starts at ``v_leak`` and takes the
    input's shape broadcast with the parameters.

    **Arguments:** ``params`` (:class:`LIParams`; :meth:`create` builds them from values),
    ``dt`` in s (1e-3; forward Euler needs ``dt <= tau``: larger ``dt`` raises), ``adjoint``.

    **Training.** Linear in its input and state, it needs no surrogate; the gradient of the
    summed potential grows with the run: 33 over 50 ms, 481 over 0.5 s for a constant input
    (ratio 15; ``tests/test_gradients.py``).

    Reference: Pedersen et al. (2024), doi:10.1038/s41467-024-52259-9.
    """

    params: LIParams
    dt: float = eqx.field(static=True)
    adjoint: AbstractAdjoint

    def __init__(self, params: LIParams, *, dt: float = 1e-3, adjoint: Optional[AbstractAdjoint] = None):
        check_params("LI", params, LIParams)
        check_param_shapes(params, ("tau", "r", "v_leak"))
        as_param("tau", params.tau, positive=True)  # checks concrete values only
        self.dt = check_dt(dt)
        check_time_constant("tau", params.tau, self.dt, euler=True)
        self.params = params
        self.adjoint = DirectAdjoint() if adjoint is None else adjoint
        if not isinstance(self.adjoint, AbstractAdjoint):
            raise TypeError(f"`adjoint` must be a spikax adjoint (e.g. sx.RecomputeAdjoint()), got {adjoint!r}")

    @classmethod
    def create(
        cls, *, tau: ParamLike = 20e-3, r: ParamLike = 1.0, v_leak: ParamLike = 0.0, dt: float = 1e-3, adjoint=None
    ) -> "LI":
        """From values: ``tau`` (s, 20 ms), ``r`` (1), ``v_leak`` (0)."""
        tau = as_param("tau", tau, positive=True)
        params = LIParams(tau=tau, r=as_param("r", r), v_leak=as_param("v_leak", v_leak))
        return cls(params, dt=dt, adjoint=adjoint)

    def init_state(self, input_shape=None) -> NeuronState:
        p = self.params
        step = () if input_shape is None else tuple(input_shape)
        shape = jnp.broadcast_shapes(step, p.tau.shape, p.r.shape, p.v_leak.shape)
        return NeuronState(v=jnp.broadcast_to(p.v_leak, shape))

    def prepare(self, xs, key: Key, *, name="xs"):
        return sequence(xs, name), None

    derive = staticmethod(li_derive)
    charge = staticmethod(li_charge)

    def fire(self, coeffs, h):
        return h.v

    def reset(self, coeffs, h, y):
        return h

    def observe(self, coeffs, state, y):
        return {}
