r"""Exponential integrate-and-fire neuron (Fourcaud-Trocmé et al. 2003)."""

from __future__ import annotations

from typing import Optional

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike

from .._types import AbstractSurrogate
from .._validate import as_param, check_time_constant, is_concrete
from ..surrogate import FastSigmoid
from ._base import AbstractChargeFireReset, check_cfr_config
from ._exp import exp_term

__all__ = ["EIF", "EIFParams", "eif_charge"]


class EIFParams(eqx.Module):
    """Parameters of :class:`EIF` (scalars or broadcastable to the neurons)."""

    tau: Array
    """Membrane time constant (s), > 0."""
    delta_T: Array
    r"""Sharpness $\Delta_T$ of the spike initiation (units of v), > 0."""
    v_rh: Array
    r"""Rheobase threshold $v_{rh}$: centre of the exponential term."""
    v_rest: Array
    """Resting potential."""
    v_threshold: Array
    """Spike cut-off (a spike is $H \\ge v_{threshold}$), > ``v_rh``."""
    v_reset: Array
    """Potential after a spike."""


def eif_charge(p: EIFParams, v: Array, x: Array, dt: float) -> Array:
    r"""$H = V + \frac{dt}{\tau}\big(-(V - v_{rest}) + \Delta_T e^{(V - v_{rh})/\Delta_T} + X\big)$ (forward Euler)."""
    return v + dt / p.tau * (p.v_rest - v + exp_term(v, p.v_rh, p.delta_T, p.v_threshold) + x)


class EIF(AbstractChargeFireReset):
    r"""Exponential integrate-and-fire neuron.

    $$\tau \frac{dv}{dt} = -(v - v_{rest}) + \Delta_T\, e^{(v - v_{rh})/\Delta_T} + R I,$$

    one forward-Euler step per ``dt`` (:func:`eif_charge`, $R = 1$: the input is in units of v),
    spike when $H \ge v_{threshold}$, hard reset to ``v_reset``. The state starts at
    ``v_rest``. With ``dt=1`` and ``tau`` counted in steps this is SpikingJelly's ``EIFNode``
    (``theta_rh`` is ``v_rh``); its defaults are the ones here, with ``tau`` in seconds.

    The exponential is evaluated at $\min(v, v_{threshold})$ with a capped exponent (see
    :func:`spikax.neurons.exp_term`), so it never overflows.

    **Arguments:** ``tau`` (20 ms), ``delta_T`` (1), ``v_rh`` (0.8), ``v_rest`` (0),
    ``v_threshold`` (1), ``v_reset`` (-0.1), ``dt`` (1 ms), ``spike_fn`` (``FastSigmoid(25)``),
    ``detach_reset``.

    Reference: Fourcaud-Trocmé, Hansel, van Vreeswijk & Brunel (2003), *How spike generation
    mechanisms determine the neuronal response to fluctuating inputs*, J. Neurosci. 23(37),
    doi:10.1523/JNEUROSCI.23-37-11628.2003.
    """

    params: EIFParams
    spike_fn: AbstractSurrogate
    dt: float = eqx.field(static=True)
    fire_at: str = eqx.field(static=True)
    detach_reset: bool = eqx.field(static=True)

    def __init__(
        self,
        *,
        tau: ArrayLike = 20e-3,
        delta_T: ArrayLike = 1.0,
        v_rh: ArrayLike = 0.8,
        v_rest: ArrayLike = 0.0,
        v_threshold: ArrayLike = 1.0,
        v_reset: ArrayLike = -0.1,
        dt: float = 1e-3,
        spike_fn: Optional[AbstractSurrogate] = None,
        detach_reset: bool = False,
    ):
        spike_fn = FastSigmoid() if spike_fn is None else spike_fn
        self.dt = check_cfr_config(">=", spike_fn, dt)
        p = EIFParams(
            tau=as_param("tau", tau, positive=True),
            delta_T=as_param("delta_T", delta_T, positive=True),
            v_rh=as_param("v_rh", v_rh),
            v_rest=as_param("v_rest", v_rest),
            v_threshold=as_param("v_threshold", v_threshold),
            v_reset=as_param("v_reset", v_reset),
        )
        if is_concrete(p.v_threshold) and not bool(jnp.all(p.v_threshold > p.v_rh)):
            raise ValueError(
                f"`v_threshold` (the spike cut-off, {p.v_threshold}) must be above `v_rh` ({p.v_rh})"
            )
        check_time_constant("tau", p.tau, self.dt, euler=True)
        self.params = p
        self.spike_fn = spike_fn
        self.fire_at = ">="
        self.detach_reset = bool(detach_reset)

    def initial_v(self):
        return self.params.v_rest

    def charge(self, v, x):
        return eif_charge(self.params, v, x, self.dt)
