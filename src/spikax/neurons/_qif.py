r"""Quadratic integrate-and-fire neuron (Latham et al. 2000; Ermentrout & Kopell 1986)."""

from __future__ import annotations

from typing import Optional

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike

from .._types import AbstractSurrogate
from .._validate import as_param, check_time_constant, is_concrete
from ..surrogate import FastSigmoid
from ._base import AbstractChargeFireReset, check_cfr_config

__all__ = ["QIF", "QIFParams", "qif_charge"]


class QIFParams(eqx.Module):
    """Parameters of :class:`QIF` (scalars or broadcastable to the neurons)."""

    tau: Array
    """Membrane time constant (s), > 0."""
    a0: Array
    """Sharpness of the quadratic (1/unit of v), > 0."""
    v_c: Array
    r"""Critical voltage $v_c$ (> ``v_rest``): above it, the neuron takes off without input."""
    v_rest: Array
    """Resting potential (the stable fixed point without input)."""
    v_threshold: Array
    """Spike cut-off (a spike is $H \\ge v_{threshold}$), > ``v_c``."""
    v_reset: Array
    """Potential after a spike."""


def qif_charge(p: QIFParams, v: Array, x: Array, dt: float) -> Array:
    r"""$H = V + \frac{dt}{\tau}\big(a_0 (V - v_{rest})(V - v_c) + X\big)$ (forward Euler)."""
    return v + dt / p.tau * (p.a0 * (v - p.v_rest) * (v - p.v_c) + x)


class QIF(AbstractChargeFireReset):
    r"""Quadratic integrate-and-fire neuron, the normal form of a type-I (saddle-node) neuron.

    $$\tau \frac{dv}{dt} = a_0 (v - v_{rest})(v - v_c) + R I,$$

    one forward-Euler step per ``dt`` (:func:`qif_charge`, $R = 1$), spike when
    $H \ge v_{threshold}$, hard reset to ``v_reset``; the state starts at ``v_rest``. With a
    constant input above the rheobase $I_{rh} = a_0 (v_c - v_{rest})^2/4$ it fires periodically,
    with a rate that rises from zero as $\sqrt{I - I_{rh}}$. With ``dt=1`` and ``tau`` counted in
    steps this is SpikingJelly's ``QIFNode``, whose defaults are the ones here (``tau`` in s).

    **Arguments:** ``tau`` (20 ms), ``a0`` (1), ``v_c`` (0.8), ``v_rest`` (0), ``v_threshold``
    (1), ``v_reset`` (-0.1), ``dt`` (1 ms), ``spike_fn`` (``FastSigmoid(25)``), ``detach_reset``.

    References: Ermentrout & Kopell (1986), doi:10.1137/0146017; Latham, Richmond, Nelson &
    Nirenberg (2000), doi:10.1152/jn.2000.83.2.808.
    """

    params: QIFParams
    spike_fn: AbstractSurrogate
    dt: float = eqx.field(static=True)
    fire_at: str = eqx.field(static=True)
    detach_reset: bool = eqx.field(static=True)

    def __init__(
        self,
        *,
        tau: ArrayLike = 20e-3,
        a0: ArrayLike = 1.0,
        v_c: ArrayLike = 0.8,
        v_rest: ArrayLike = 0.0,
        v_threshold: ArrayLike = 1.0,
        v_reset: ArrayLike = -0.1,
        dt: float = 1e-3,
        spike_fn: Optional[AbstractSurrogate] = None,
        detach_reset: bool = False,
    ):
        spike_fn = FastSigmoid() if spike_fn is None else spike_fn
        self.dt = check_cfr_config(">=", spike_fn, dt)
        p = QIFParams(
            tau=as_param("tau", tau, positive=True),
            a0=as_param("a0", a0, positive=True),
            v_c=as_param("v_c", v_c),
            v_rest=as_param("v_rest", v_rest),
            v_threshold=as_param("v_threshold", v_threshold),
            v_reset=as_param("v_reset", v_reset),
        )
        if is_concrete(p.v_c) and not bool(jnp.all(p.v_c > p.v_rest)):
            raise ValueError(f"`v_c` ({p.v_c}) must be above `v_rest` ({p.v_rest})")
        if is_concrete(p.v_threshold) and not bool(jnp.all(p.v_threshold > p.v_c)):
            raise ValueError(f"`v_threshold` (the spike cut-off, {p.v_threshold}) must be above `v_c` ({p.v_c})")
        check_time_constant("tau", p.tau, self.dt, euler=True)
        self.params = p
        self.spike_fn = spike_fn
        self.fire_at = ">="
        self.detach_reset = bool(detach_reset)

    def initial_v(self):
        return self.params.v_rest

    def charge(self, v, x):
        return qif_charge(self.params, v, x, self.dt)
