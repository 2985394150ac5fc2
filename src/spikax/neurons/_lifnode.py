"""SpikingJelly's clock-driven leaky integrate-and-fire neuron."""

from __future__ import annotations

from typing import Optional

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike

from .._types import AbstractSurrogate
from .._validate import as_param, is_concrete
from ..surrogate import Sigmoid
from ._base import AbstractChargeFireReset, check_cfr_config

__all__ = ["LIFNode", "LIFNodeParams", "lifnode_charge"]


class LIFNodeParams(eqx.Module):
    """Parameters of :class:`LIFNode` (dimensionless: time is counted in steps)."""

    tau: Array
    """Membrane time constant in steps, >= 1; scalar or broadcastable to the neurons."""
    v_threshold: Array
    """Firing threshold (units of the input)."""
    v_reset: Optional[Array]
    """Hard-reset potential; ``None`` for soft (subtractive) reset, the leak then targets 0."""


def lifnode_charge(params: LIFNodeParams, v: Array, x: Array, decay_input: bool) -> Array:
    r"""SpikingJelly ``LIFNode`` charge, with $V_r$ = ``v_reset`` (0 under soft reset).

    - ``decay_input=True``:  $H = V + \frac{1}{\tau}\,(X - (V - V_r))$
    - ``decay_input=False``: $H = V - \frac{1}{\tau}\,(V - V_r) + X$
    """
    v_rest = 0.0 if params.v_reset is None else params.v_reset
    if decay_input:
        return v + (x - (v - v_rest)) / params.tau
    return v - (v - v_rest) / params.tau + x


class LIFNode(AbstractChargeFireReset):
    r"""Leaky integrate-and-fire neuron of SpikingJelly (clock-driven, time in steps).

    Charge (see :func:`lifnode_charge`), fire $S = \Theta(H - V_{th})$ with $\Theta(0) = 1$,
    reset $V = H(1 - S) + V_{reset} S$ (hard) or $V = H - V_{th} S$ (``v_reset=None``, soft).
    The state starts at $V_{reset}$ (0 under soft reset) and takes the input's shape, so any
    neuron shape works (e.g. ``(T, C, H, W)`` after a convolution).

    **Arguments:**

    - ``tau``: membrane time constant in steps (>= 1; default 2).
    - ``v_threshold``: threshold (default 1). ``v_reset``: reset potential or ``None`` (default 0).
    - ``decay_input``: whether the input is divided by ``tau`` (default ``True``).
    - ``spike_fn``: surrogate, default ``Sigmoid(4)`` (SpikingJelly's default).
    - ``detach_reset``: stop the reset's gradient (default ``False``).
    - ``dt``: seconds per step; used only to label time (the dynamics are in steps).

    Reference: Fang et al. (2023), *SpikingJelly*, doi:10.1126/sciadv.adi1480;
    ``spikingjelly.activation_based.neuron.LIFNode``.
    """

    params: LIFNodeParams
    spike_fn: AbstractSurrogate
    decay_input: bool = eqx.field(static=True)
    dt: float = eqx.field(static=True)
    fire_at: str = eqx.field(static=True)
    detach_reset: bool = eqx.field(static=True)

    def __init__(
        self,
        *,
        tau: ArrayLike = 2.0,
        v_threshold: ArrayLike = 1.0,
        v_reset: Optional[ArrayLike] = 0.0,
        decay_input: bool = True,
        spike_fn: Optional[AbstractSurrogate] = None,
        detach_reset: bool = False,
        dt: float = 1.0,
    ):
        spike_fn = Sigmoid(4.0) if spike_fn is None else spike_fn
        self.dt = check_cfr_config(">=", spike_fn, dt)
        tau = as_param("tau", tau, positive=True)
        if is_concrete(tau) and not bool(jnp.all(tau >= 1.0)):
            raise ValueError(
                f"`tau` must be >= 1 (it is counted in steps; below 1 the charge overshoots), got {tau}"
            )
        self.params = LIFNodeParams(
            tau=tau,
            v_threshold=as_param("v_threshold", v_threshold),
            v_reset=None if v_reset is None else as_param("v_reset", v_reset),
        )
        self.decay_input = bool(decay_input)
        self.spike_fn = spike_fn
        self.fire_at = ">="
        self.detach_reset = bool(detach_reset)

    def charge(self, v, x):
        return lifnode_charge(self.params, v, x, self.decay_input)
