r"""Leaky integrate-and-fire neuron with an adaptive threshold (Bellec et al. 2018, LSNN)."""

from __future__ import annotations

from typing import Optional

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

from .._types import AbstractSurrogate
from .._validate import as_param, check_choice, check_count, check_time_constant
from ..surrogate import Triangle
from ._base import AbstractSpikingNeuron, check_cfr_config, check_neuron_input, check_step_shape

__all__ = ["ALIF", "ALIFCoeffs", "ALIFParams", "ALIFState"]


class ALIFParams(eqx.Module):
    """Parameters of :class:`ALIF`, every field ``(n,)``."""

    tau_mem: Float[Array, " n"]
    """Membrane time constant (s), > 0."""
    tau_adapt: Float[Array, " n"]
    """Time constant of the threshold adaptation (s), > 0."""
    beta: Float[Array, " n"]
    r"""Adaptation strength $\beta$ (units of v per unit of $a$), >= 0; 0 gives a plain LIF."""
    v_threshold: Float[Array, " n"]
    r"""Baseline threshold $b_0$."""
    v_reset: Optional[Float[Array, " n"]]
    """``None``: subtract the (adapted) threshold at a spike; else reset to this value."""


class ALIFState(eqx.Module):
    """State of :class:`ALIF` (``(n,)`` each)."""

    v: Float[Array, " n"]
    """Membrane potential."""
    a: Float[Array, " n"]
    """Threshold adaptation variable (a low-pass filter of the neuron's own spikes)."""


class ALIFCoeffs(eqx.Module):
    alpha: Array
    rho: Array
    beta: Array
    v_threshold: Array
    v_reset: Optional[Array]


class ALIF(AbstractSpikingNeuron):
    r"""Adaptive-threshold LIF, the "ALIF" neuron of LSNNs (Bellec et al. 2018).

    With $\alpha = e^{-dt/\tau_{mem}}$ and $\rho = e^{-dt/\tau_{adapt}}$, per step:

    $$H_t = \alpha V_{t-1} + (1 - \alpha) X_t,\qquad A_t = b_0 + \beta a_{t-1},\qquad
    S_t = \Theta(H_t - A_t),$$
    $$V_t = H_t - S_t A_t\ \text{(default; or hard reset)},\qquad a_t = \rho\, a_{t-1} + (1 - \rho) S_t.$$

    The threshold rises by $\beta(1-\rho)$ at each spike and relaxes with $\tau_{adapt}$: the
    slow memory that lets LSNNs hold information over seconds. Bellec et al. subtract the
    threshold at the next step's update; here the reset is applied in the step of the spike
    (charge / fire / reset), with the same threshold dynamics.

    **Arguments:** ``n_neurons``; ``tau_mem`` (20 ms), ``tau_adapt`` (200 ms), ``beta`` (1.8,
    Bellec et al.'s value), ``v_threshold`` (1), ``reset`` (``"subtract"`` or ``"zero"``);
    ``dt`` (1 ms); ``spike_fn`` (``Triangle(1)``, a piecewise-linear pseudo-derivative as in the
    paper, scaled here per unit of v); ``detach_reset``.

    Reference: Bellec, Salaj, Subramoney, Legenstein & Maass (2018), *Long short-term memory and
    learning-to-learn in networks of spiking neurons*, NeurIPS, arXiv:1803.09574.
    """

    params: ALIFParams
    spike_fn: AbstractSurrogate
    n_neurons: int = eqx.field(static=True)
    dt: float = eqx.field(static=True)
    fire_at: str = eqx.field(static=True)
    detach_reset: bool = eqx.field(static=True)

    def __init__(
        self,
        n_neurons: int,
        *,
        tau_mem: ArrayLike = 20e-3,
        tau_adapt: ArrayLike = 200e-3,
        beta: ArrayLike = 1.8,
        v_threshold: ArrayLike = 1.0,
        reset: str = "subtract",
        dt: float = 1e-3,
        spike_fn: Optional[AbstractSurrogate] = None,
        detach_reset: bool = False,
    ):
        n = check_count("n_neurons", n_neurons)
        check_choice("reset", reset, ("subtract", "zero"))
        spike_fn = Triangle(1.0) if spike_fn is None else spike_fn
        self.dt = check_cfr_config(">=", spike_fn, dt)
        shape = (n,)
        self.params = ALIFParams(
            tau_mem=as_param("tau_mem", tau_mem, shape=shape, positive=True),
            tau_adapt=as_param("tau_adapt", tau_adapt, shape=shape, positive=True),
            beta=as_param("beta", beta, shape=shape, nonnegative=True),
            v_threshold=as_param("v_threshold", v_threshold, shape=shape, positive=True),
            v_reset=None if reset == "subtract" else jnp.zeros(shape),
        )
        check_time_constant("tau_mem", self.params.tau_mem, self.dt, euler=False)
        check_time_constant("tau_adapt", self.params.tau_adapt, self.dt, euler=False)
        self.spike_fn = spike_fn
        self.n_neurons = n
        self.fire_at = ">="
        self.detach_reset = bool(detach_reset)

    def init_state(self, input_shape=None) -> ALIFState:
        check_step_shape(self, input_shape)
        zeros = jnp.zeros_like(self.params.tau_mem)
        return ALIFState(v=zeros, a=zeros)

    def check_input(self, xs):
        check_neuron_input("xs", xs, self.n_neurons)

    def derive(self) -> ALIFCoeffs:
        p = self.params
        return ALIFCoeffs(
            alpha=jnp.exp(-self.dt / p.tau_mem),
            rho=jnp.exp(-self.dt / p.tau_adapt),
            beta=p.beta,
            v_threshold=p.v_threshold,
            v_reset=p.v_reset,
        )

    def charge(self, coeffs, state, x):
        return ALIFState(v=coeffs.alpha * state.v + (1.0 - coeffs.alpha) * x, a=state.a)

    def threshold(self, coeffs, h):
        return coeffs.v_threshold + coeffs.beta * h.a

    def on_spike(self, coeffs, h, s):
        return ALIFState(v=h.v, a=coeffs.rho * h.a + (1.0 - coeffs.rho) * s)
