r"""Parametric LIF: SpikingJelly's LIFNode with a trainable membrane time constant (Fang et al. 2021)."""

from __future__ import annotations

from typing import Optional

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike

from .._types import AbstractSurrogate
from .._validate import as_param, is_concrete
from ..surrogate import Sigmoid
from ._base import AbstractChargeFireReset, check_cfr_config

__all__ = ["PLIF", "PLIFParams", "plif_charge"]


class PLIFParams(eqx.Module):
    """Parameters of :class:`PLIF` (dimensionless: time is counted in steps)."""

    w: Array
    r"""Trainable pre-activation of the decay rate: $1/\tau = \mathrm{sigmoid}(w)$, so $\tau > 1$
    for every real $w$. Scalar (one time constant per layer, as SpikingJelly) or per neuron."""
    v_threshold: Array
    """Firing threshold."""
    v_reset: Optional[Array]
    """Hard-reset potential; ``None`` for soft (subtractive) reset, the leak then targets 0."""

    @property
    def tau(self) -> Array:
        """The membrane time constant in steps, $1/\\mathrm{sigmoid}(w)$."""
        return 1.0 / jax.nn.sigmoid(self.w)


def plif_charge(params: PLIFParams, v: Array, x: Array, decay_input: bool) -> Array:
    r"""With $k = \mathrm{sigmoid}(w)$ and $V_r$ = ``v_reset`` (0 under soft reset):

    - ``decay_input=True``:  $H = V + k\,(X - (V - V_r))$
    - ``decay_input=False``: $H = V - k\,(V - V_r) + X$
    """
    k = jax.nn.sigmoid(params.w)
    v_rest = 0.0 if params.v_reset is None else params.v_reset
    if decay_input:
        return v + (x - (v - v_rest)) * k
    return v - (v - v_rest) * k + x


class PLIF(AbstractChargeFireReset):
    r"""Parametric leaky integrate-and-fire neuron: :class:`spikax.LIFNode` with a learnable $\tau$.

    The decay rate is $k = 1/\tau = \mathrm{sigmoid}(w)$ with $w$ a trainable parameter
    initialised to $w_0 = -\ln(\tau_0 - 1)$, so that $\tau$ starts at ``init_tau`` and stays
    above one step whatever the optimiser does. Charge: :func:`plif_charge`; fire with
    $\Theta(0) = 1$; hard or soft reset. Gradients reach $w$ through
    $\partial k/\partial w = k(1 - k)$.

    **Arguments:** ``init_tau`` (2 steps, > 1; scalar for one $\tau$ shared by the layer as in
    the paper, or an array for one per neuron), ``v_threshold`` (1), ``v_reset`` (0 or
    ``None``), ``decay_input`` (``True``), ``spike_fn`` (``Sigmoid(4)``), ``detach_reset``
    (``False``), ``dt`` (s per step, a label only).

    Reference: Fang et al. (2021), *Incorporating learnable membrane time constant to enhance
    learning of spiking neural networks*, ICCV, doi:10.1109/ICCV48922.2021.00266;
    ``spikingjelly.activation_based.neuron.ParametricLIFNode``.
    """

    params: PLIFParams
    spike_fn: AbstractSurrogate
    decay_input: bool = eqx.field(static=True)
    dt: float = eqx.field(static=True)
    fire_at: str = eqx.field(static=True)
    detach_reset: bool = eqx.field(static=True)

    def __init__(
        self,
        *,
        init_tau: ArrayLike = 2.0,
        v_threshold: ArrayLike = 1.0,
        v_reset: Optional[ArrayLike] = 0.0,
        decay_input: bool = True,
        spike_fn: Optional[AbstractSurrogate] = None,
        detach_reset: bool = False,
        dt: float = 1.0,
    ):
        spike_fn = Sigmoid(4.0) if spike_fn is None else spike_fn
        self.dt = check_cfr_config(">=", spike_fn, dt)
        init_tau = as_param("init_tau", init_tau, positive=True)
        if is_concrete(init_tau) and not bool(jnp.all(init_tau > 1.0)):
            raise ValueError(
                f"`init_tau` must be > 1 step (tau = 1/sigmoid(w) is always above 1), got {np.asarray(init_tau)}"
            )
        self.params = PLIFParams(
            w=-jnp.log(init_tau - 1.0),
            v_threshold=as_param("v_threshold", v_threshold),
            v_reset=None if v_reset is None else as_param("v_reset", v_reset),
        )
        self.decay_input = bool(decay_input)
        self.spike_fn = spike_fn
        self.fire_at = ">="
        self.detach_reset = bool(detach_reset)

    def charge(self, v, x):
        return plif_charge(self.params, v, x, self.decay_input)


