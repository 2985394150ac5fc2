r"""SpikingJelly's clock-driven LIF neuron, and PLIF: the same neuron with a trainable time constant."""

from __future__ import annotations

from typing import Optional, Union

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike

from .._adjoint import AbstractAdjoint
from .._types import AbstractSurrogate, Key, ParamLike
from .._validate import as_param, is_concrete
from ..surrogate import Sigmoid
from ._base import (
    AbstractParamsCoeffs,
    check_params,
    AbstractSpikingNeuron,
    NeuronState,
    configure,
    fixed_threshold,
    no_jump,
    one_variable_state,
    optional_param,
    sequence,
    check_param_shapes,
    check_threshold_above_rest,
)

__all__ = ["PLIF", "LIFNode", "LIFNodeCoeffs", "LIFNodeParams", "PLIFParams", "lifnode_charge", "lifnode_derive"]


class LIFNodeParams(eqx.Module):
    """Parameters of :class:`LIFNode` (dimensionless: time is counted in steps)."""

    tau: ArrayLike
    """Membrane time constant in steps, >= 1; scalar or broadcastable to the neurons."""
    v_threshold: ArrayLike
    """Firing threshold (units of the input)."""
    v_reset: Optional[ArrayLike]
    """Hard-reset potential; ``None`` for the subtractive reset, the leak then targets 0."""

    def per_tau(self, d: ArrayLike) -> ArrayLike:
        r"""$d/\tau$, as SpikingJelly's ``LIFNode`` computes it (a division)."""
        return d / self.tau


class PLIFParams(eqx.Module):
    r"""Parameters of a parametric LIF (:func:`PLIF`): the time constant as a trainable $w$."""

    w: ArrayLike
    r"""Pre-activation of the decay rate: $k = 1/\tau = \mathrm{sigmoid}(w)$, so $\tau > 1$ for
    every real $w$. Scalar (one time constant per layer, as SpikingJelly) or per neuron."""
    v_threshold: ArrayLike
    """Firing threshold."""
    v_reset: Optional[ArrayLike]
    """Hard-reset potential; ``None`` for the subtractive reset, the leak then targets 0."""

    def per_tau(self, d: ArrayLike) -> ArrayLike:
        r"""$d/\tau = d\,\mathrm{sigmoid}(w)$, as SpikingJelly's ``ParametricLIFNode`` computes it."""
        return d * jax.nn.sigmoid(self.w)

    @property
    def tau(self) -> ArrayLike:
        r"""The membrane time constant in steps, $1/\mathrm{sigmoid}(w)$."""
        return 1.0 / jax.nn.sigmoid(self.w)


class LIFNodeCoeffs(AbstractParamsCoeffs):
    """Loop invariants of :class:`LIFNode` (:func:`lifnode_derive`): the parameters, whose
    ``per_tau`` is the one place the two parameterisations differ, and the leak target."""

    params: Union[LIFNodeParams, PLIFParams]
    v_rest: ArrayLike
    decay_input: bool = eqx.field(static=True)


def lifnode_derive(params: Union[LIFNodeParams, PLIFParams], dt: float, *, decay_input: bool = True) -> LIFNodeCoeffs:
    """The leak target $V_r$ (``v_reset``, 0 under the subtractive reset) beside the parameters.
    ``dt`` does not enter: time is counted in steps."""
    v_rest = jnp.zeros((), jnp.result_type(float)) if params.v_reset is None else params.v_reset
    return LIFNodeCoeffs(params=params, v_rest=v_rest, decay_input=decay_input)


def lifnode_charge(coeffs: LIFNodeCoeffs, state: NeuronState, x: Array) -> NeuronState:
    r"""SpikingJelly ``LIFNode`` charge with $V_r$ = ``coeffs.v_rest``:

    - ``decay_input=True``:  $H = V + \frac{1}{\tau}\,(X - (V - V_r))$
    - ``decay_input=False``: $H = V - \frac{1}{\tau}\,(V - V_r) + X$

    $\frac{1}{\tau}$ is applied by the parameters (``params.per_tau``): a division by $\tau$ for
    :class:`LIFNodeParams`, a product with $\mathrm{sigmoid}(w)$ for :class:`PLIFParams`, each as
    SpikingJelly computes it.
    """
    v, per_tau = state.v, coeffs.params.per_tau
    if coeffs.decay_input:
        return NeuronState(v=v + per_tau(x - (v - coeffs.v_rest)))
    return NeuronState(v=v - per_tau(v - coeffs.v_rest) + x)


class LIFNode(AbstractSpikingNeuron):
    r"""Leaky integrate-and-fire neuron of SpikingJelly (clock-driven, time in steps).

    Charge (see :func:`lifnode_charge`), fire $S = \Theta(H - V_{th})$ with $\Theta(0) = 1$,
    reset $V = H(1 - S) + V_{reset} S$ (hard) or $V = H - V_{th} S$ (``v_reset=None``). The
    state starts at $V_{reset}$ (0 under the subtractive reset) and takes the input's shape, so
    any neuron shape works (e.g. ``(T, C, H, W)`` after a convolution).

    ``params`` is :class:`LIFNodeParams` ($\tau$ given) or :class:`PLIFParams` ($\tau$ trained
    through $w$, see :func:`PLIF`): the one equation, two parameterisations of its rate.

    **Arguments:** ``params``; ``decay_input``: whether the input is scaled by $1/\tau$ (default
    ``True``); ``spike_fn`` (default ``Sigmoid(4)``, SpikingJelly's); ``detach_reset``
    (``False``); ``dt``: seconds per step, a label only (the dynamics are in steps);
    ``adjoint``. :meth:`create` builds it from values.

    **Training.** The defaults (``Sigmoid(4)``, hard reset, ``detach_reset=False``) are a
    training setting: for a constant input, 25 spikes in 50 steps and 250 in 500 give
    |d count/d input| = 26 and 255 (ratio 10; the same for :func:`PLIF`;
    ``tests/test_gradients.py``).

    Reference: Fang et al. (2023), *SpikingJelly*, doi:10.1126/sciadv.adi1480;
    ``spikingjelly.activation_based.neuron.LIFNode``.
    """

    params: Union[LIFNodeParams, PLIFParams]
    spike_fn: AbstractSurrogate
    adjoint: AbstractAdjoint
    dt: float = eqx.field(static=True)
    fire_at: str = eqx.field(static=True)
    detach_reset: bool = eqx.field(static=True)
    decay_input: bool = eqx.field(static=True)

    def __init__(
        self,
        params: Union[LIFNodeParams, PLIFParams],
        *,
        decay_input: bool = True,
        spike_fn: Optional[AbstractSurrogate] = None,
        detach_reset: bool = False,
        dt: float = 1.0,
        adjoint: Optional[AbstractAdjoint] = None,
    ):
        check_params("LIFNode", params, (LIFNodeParams, PLIFParams))
        check_param_shapes(params, ("w" if isinstance(params, PLIFParams) else "tau", "v_threshold", "v_reset"))
        check_threshold_above_rest(params)
        self.dt, self.spike_fn, self.fire_at, self.detach_reset, self.adjoint = configure(
            dt=dt, spike_fn=spike_fn, default_spike_fn=lambda: Sigmoid(4.0), fire_at=">=",
            detach_reset=detach_reset, adjoint=adjoint,
        )
        self.params = params
        self.decay_input = bool(decay_input)

    @classmethod
    def create(
        cls,
        *,
        tau: ParamLike = 2.0,
        v_threshold: ParamLike = 1.0,
        v_reset: Optional[ParamLike] = 0.0,
        decay_input: bool = True,
        parametric: bool = False,
        spike_fn: Optional[AbstractSurrogate] = None,
        detach_reset: bool = False,
        dt: float = 1.0,
        adjoint: Optional[AbstractAdjoint] = None,
    ) -> "LIFNode":
        """From values: ``tau`` in steps (>= 1; default 2), ``v_threshold`` (1), ``v_reset``
        (0, or ``None`` for the subtractive reset); ``parametric=True`` stores the time constant
        as PLIF's trainable $w$ (:class:`PLIFParams`, ``tau`` > 1); the rest as for :class:`LIFNode`."""
        tau = as_param("tau", tau, positive=True)
        if parametric and is_concrete(tau) and not bool(jnp.all(tau > 1.0)):
            raise ValueError(f"`tau` must be > 1 step (tau = 1/sigmoid(w) is always above 1), got {np.asarray(tau)}")
        if is_concrete(tau) and not bool(jnp.all(tau >= 1.0)):
            raise ValueError(
                f"`tau` must be >= 1 (it is counted in steps; below 1 the charge overshoots), got {np.asarray(tau)}"
            )
        v_threshold, v_reset = as_param("v_threshold", v_threshold), optional_param("v_reset", v_reset)
        if parametric:
            params = PLIFParams(w=-jnp.log(tau - 1.0), v_threshold=v_threshold, v_reset=v_reset)
        else:
            params = LIFNodeParams(tau=tau, v_threshold=v_threshold, v_reset=v_reset)
        config = dict(spike_fn=spike_fn, detach_reset=detach_reset, dt=dt, adjoint=adjoint)
        return cls(params, decay_input=decay_input, **config)

    def init_state(self, input_shape=None) -> NeuronState:
        return one_variable_state(self.params, () if input_shape is None else input_shape)

    def prepare(self, xs, key: Key, *, name="xs"):
        return sequence(xs, name), None

    def derive(self, params, dt):
        return lifnode_derive(params, dt, decay_input=self.decay_input)

    charge = staticmethod(lifnode_charge)
    threshold = staticmethod(fixed_threshold)
    on_spike = staticmethod(no_jump)


def PLIF(**kwargs) -> LIFNode:
    r"""Parametric LIF (Fang et al. 2021): a :class:`LIFNode` whose time constant is trained.

    ``PLIF(**kwargs)`` is ``LIFNode.create(parametric=True, **kwargs)``. The decay rate is
    $k = 1/\tau = \mathrm{sigmoid}(w)$ with $w$ (``params.w``) a trainable parameter initialised
    to $w_0 = -\ln(\tau_0 - 1)$, so that $\tau$ starts at ``tau`` (in steps, > 1; default 2;
    a scalar for one $\tau$ shared by the layer as in the paper, or an array for one per neuron)
    and stays above one step whatever the optimiser does; gradients reach $w$ through
    $\partial k/\partial w = k(1 - k)$. Everything else is :class:`LIFNode`'s.

    Reference: Fang et al. (2021), *Incorporating learnable membrane time constant to enhance
    learning of spiking neural networks*, ICCV, doi:10.1109/ICCV48922.2021.00266;
    ``spikingjelly.activation_based.neuron.ParametricLIFNode``.
    """
    return LIFNode.create(parametric=True, **kwargs)
