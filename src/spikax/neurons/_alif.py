r"""Leaky integrate-and-fire neuron with an adaptive threshold (Bellec et al. 2018, LSNN)."""

from __future__ import annotations

from typing import Optional

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

from .._adjoint import AbstractAdjoint
from .._types import AbstractSurrogate, Key, ParamLike
from .._validate import as_param, check_count, check_time_constant
from ..surrogate import Triangle
from ._base import AbstractSpikingNeuron, check_params, check_step_shape, configure, optional_param, sequence

__all__ = [
    "ALIF",
    "ALIFCoeffs",
    "ALIFParams",
    "ALIFState",
    "alif_charge",
    "alif_derive",
    "alif_on_spike",
    "alif_threshold",
]


class ALIFParams(eqx.Module):
    """Parameters of :class:`ALIF`, every field ``(n,)``."""

    tau_mem: Float[ArrayLike, " n"]
    """Membrane time constant (s), > 0."""
    tau_adapt: Float[ArrayLike, " n"]
    """Time constant of the threshold adaptation (s), > 0."""
    beta: Float[ArrayLike, " n"]
    r"""Adaptation strength $\beta$ (units of v per unit of $a$), >= 0; 0 gives a plain LIF."""
    v_threshold: Float[ArrayLike, " n"]
    r"""Baseline threshold $b_0$."""
    v_reset: Optional[Float[ArrayLike, " n"]] = None
    """``None``: subtract the (adapted) threshold at a spike; else reset to this value."""


class ALIFState(eqx.Module):
    """State of :class:`ALIF` (``(n,)`` each)."""

    v: Float[Array, " n"]
    """Membrane potential."""
    a: Float[Array, " n"]
    """Threshold adaptation variable (a low-pass filter of the neuron's own spikes)."""


class ALIFCoeffs(eqx.Module):
    """Loop invariants of :class:`ALIF` (:func:`alif_derive`)."""

    alpha: ArrayLike
    rho: ArrayLike
    beta: ArrayLike
    v_threshold: ArrayLike
    v_reset: Optional[ArrayLike]


def alif_derive(params: ALIFParams, dt: float) -> ALIFCoeffs:
    r"""$\alpha = e^{-dt/\tau_{mem}}$ and $\rho = e^{-dt/\tau_{adapt}}$."""
    return ALIFCoeffs(
        alpha=jnp.exp(-dt / params.tau_mem),
        rho=jnp.exp(-dt / params.tau_adapt),
        beta=params.beta,
        v_threshold=params.v_threshold,
        v_reset=params.v_reset,
    )


def alif_charge(coeffs: ALIFCoeffs, state: ALIFState, x: Float[Array, " n"]) -> ALIFState:
    r"""$H_t = \alpha V_{t-1} + (1 - \alpha) X_t$; the adaptation is unchanged until the spike."""
    return ALIFState(v=coeffs.alpha * state.v + (1.0 - coeffs.alpha) * x, a=state.a)


def alif_threshold(coeffs: ALIFCoeffs, h: ALIFState) -> Array:
    r"""The adapted threshold $A_t = b_0 + \beta\,a_{t-1}$."""
    return coeffs.v_threshold + coeffs.beta * h.a


def alif_on_spike(coeffs: ALIFCoeffs, h: ALIFState, s: Array) -> ALIFState:
    r"""The adaptation low-pass filters the spikes: $a_t = \rho\, a_{t-1} + (1 - \rho) S_t$."""
    return ALIFState(v=h.v, a=coeffs.rho * h.a + (1.0 - coeffs.rho) * s)


class ALIF(AbstractSpikingNeuron):
    r"""Adaptive-threshold LIF, the "ALIF" neuron of LSNNs (Bellec et al. 2018).

    With $\alpha = e^{-dt/\tau_{mem}}$ and $\rho = e^{-dt/\tau_{adapt}}$, per step:

    $$H_t = \alpha V_{t-1} + (1 - \alpha) X_t,\qquad A_t = b_0 + \beta a_{t-1},\qquad
    S_t = \Theta(H_t - A_t),$$
    $$V_t = H_t - S_t A_t\ \text{(default; or reset to } v_{reset}),\qquad a_t = \rho\, a_{t-1} + (1 - \rho) S_t.$$

    The threshold rises by $\beta(1-\rho)$ at each spike and relaxes with $\tau_{adapt}$: the
    slow memory that lets LSNNs hold information over seconds. Bellec et al. subtract the
    threshold at the next step's update; here the reset is applied in the step of the spike
    (charge / fire / reset), with the same threshold dynamics. Input ``(T, n)``.

    **Arguments:** ``params`` (:class:`ALIFParams`; :meth:`create` builds them from values),
    ``dt`` (1 ms), ``spike_fn`` (``Triangle(1)``, a piecewise-linear pseudo-derivative as in the
    paper, scaled here per unit of v), ``detach_reset``, ``adjoint``.

    **Training.** The defaults (``Triangle(1)``, ``detach_reset=False``, ``dt`` = 1 ms) keep
    the gradient of a run's spike count finite and growing like the count: from a 50-ms to a
    0.5-s run at a constant input of 3 (5 and 52 spikes) it grows 8x
    (``tests/test_gradients.py``). The threshold's adaptation passes the spikes' surrogate
    gradient on with the factor $\beta(1 - \rho)$ = 0.009 per spike, and decays by $\rho$.

    Reference: Bellec, Salaj, Subramoney, Legenstein & Maass (2018), *Long short-term memory and
    learning-to-learn in networks of spiking neurons*, NeurIPS, arXiv:1803.09574.
    """

    params: ALIFParams
    spike_fn: AbstractSurrogate
    adjoint: AbstractAdjoint
    dt: float = eqx.field(static=True)
    fire_at: str = eqx.field(static=True)
    detach_reset: bool = eqx.field(static=True)

    def __init__(
        self,
        params: ALIFParams,
        *,
        dt: float = 1e-3,
        spike_fn: Optional[AbstractSurrogate] = None,
        detach_reset: bool = False,
        adjoint: Optional[AbstractAdjoint] = None,
    ):
        check_params("ALIF", params, ALIFParams)
        self.dt, self.spike_fn, self.fire_at, self.detach_reset, self.adjoint = configure(
            dt=dt, spike_fn=spike_fn, default_spike_fn=lambda: Triangle(1.0), fire_at=">=",
            detach_reset=detach_reset, adjoint=adjoint,
        )
        check_time_constant("tau_mem", params.tau_mem, self.dt, euler=False)
        check_time_constant("tau_adapt", params.tau_adapt, self.dt, euler=False)
        self.params = params

    @classmethod
    def create(
        cls,
        n_neurons: int,
        *,
        tau_mem: ParamLike = 20e-3,
        tau_adapt: ParamLike = 200e-3,
        beta: ParamLike = 1.8,
        v_threshold: ParamLike = 1.0,
        v_reset: Optional[ParamLike] = None,
        dt: float = 1e-3,
        spike_fn: Optional[AbstractSurrogate] = None,
        detach_reset: bool = False,
        adjoint: Optional[AbstractAdjoint] = None,
    ) -> "ALIF":
        """From values: ``tau_mem`` (20 ms), ``tau_adapt`` (200 ms), ``beta`` (1.8, Bellec et
        al.'s value), ``v_threshold`` (1), ``v_reset`` (``None``: subtract; e.g. 0)."""
        shape = (check_count("n_neurons", n_neurons),)
        params = ALIFParams(
            tau_mem=as_param("tau_mem", tau_mem, shape=shape, positive=True),
            tau_adapt=as_param("tau_adapt", tau_adapt, shape=shape, positive=True),
            beta=as_param("beta", beta, shape=shape, nonnegative=True),
            v_threshold=as_param("v_threshold", v_threshold, shape=shape, positive=True),
            v_reset=optional_param("v_reset", v_reset, shape=shape),
        )
        return cls(params, dt=dt, spike_fn=spike_fn, detach_reset=detach_reset, adjoint=adjoint)

    @property
    def n_neurons(self) -> int:
        return self.params.tau_mem.shape[0]

    def init_state(self, input_shape=None) -> ALIFState:
        check_step_shape("ALIF", self.n_neurons, input_shape)
        zeros = jnp.zeros_like(self.params.tau_mem)
        # At rest: v_reset, or 0 under the subtractive reset; no adaptation yet.
        v = zeros if self.params.v_reset is None else jnp.broadcast_to(self.params.v_reset, zeros.shape)
        return ALIFState(v=v, a=zeros)

    def prepare(self, xs, key: Key, *, name="xs"):
        return sequence(xs, name, (self.n_neurons,), what="n_neurons"), None

    derive = staticmethod(alif_derive)
    charge = staticmethod(alif_charge)
    threshold = staticmethod(alif_threshold)
    on_spike = staticmethod(alif_on_spike)
