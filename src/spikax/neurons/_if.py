"""Integrate-and-fire neuron with NIR semantics."""

from __future__ import annotations

from typing import Optional

import equinox as eqx
from jaxtyping import Array, ArrayLike

from .._adjoint import AbstractAdjoint
from .._types import AbstractSurrogate, Key, ParamLike
from .._validate import as_param
from ..surrogate import FastSigmoid
from ._base import (
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

__all__ = ["IF", "IFCoeffs", "IFParams", "if_charge", "if_derive"]


class IFParams(eqx.Module):
    """Parameters of :class:`IF` (NIR names)."""

    r: ArrayLike
    """Resistance: volts per (input unit x second); scalar or per neuron."""
    v_threshold: ArrayLike
    """Threshold (V)."""
    v_reset: Optional[ArrayLike]
    """Reset potential (V); ``None`` for the subtractive reset."""


class IFCoeffs(eqx.Module):
    """Loop invariants of :class:`IF`: the gain per step ``dt * r``."""

    gain: ArrayLike
    v_threshold: ArrayLike
    v_reset: Optional[ArrayLike]


def if_derive(params: IFParams, dt: float) -> IFCoeffs:
    r"""The voltage step per input unit, $dt\,R$."""
    return IFCoeffs(gain=dt * params.r, v_threshold=params.v_threshold, v_reset=params.v_reset)


def if_charge(coeffs: IFCoeffs, state: NeuronState, x: Array) -> NeuronState:
    r"""NIR ``IF``, $\dot v = R\,I$, one forward-Euler step: $H = V + dt\,R\,X$."""
    return NeuronState(v=state.v + coeffs.gain * x)


class IF(AbstractSpikingNeuron):
    r"""Integrate-and-fire (NIR ``IF``): $\frac{dv}{dt} = R\,I$, forward Euler with explicit ``dt``.

    Per step: $H = V + dt\,R\,X$; $S = \Theta(H - V_{th})$ with $\Theta(0) = 0$ (NIR's
    $v > v_{th}$; ``fire_at=">="`` to change it); $V = V_{reset}$ where $S = 1$ (or
    $V = H - V_{th} S$ with ``v_reset=None``). The state starts at ``v_reset`` (0 when
    subtractive) and takes the input's shape.

    To integrate one input unit per step, as the per-step ``v += I`` convention of Sinabs and
    the NIR paper's CNN, set ``r = 1/dt``.

    **Arguments:** ``params`` (:class:`IFParams`; :meth:`create` builds them from values),
    ``dt`` in s (1e-3), ``spike_fn`` (``FastSigmoid(25)``), ``fire_at`` (``">"``),
    ``detach_reset`` (``False``), ``adjoint``.

    **Training.** The defaults (``FastSigmoid(25)``, ``detach_reset=False``, ``dt`` = 1 ms) are a
    training setting: for a constant input, 2 spikes in 50 ms and 25 in 0.5 s give
    |d count/d input| = 1.3 and 15 (ratio 11; ``tests/test_gradients.py``).

    Reference: Pedersen et al. (2024), *Neuromorphic intermediate representation*,
    doi:10.1038/s41467-024-52259-9.
    """

    params: IFParams
    spike_fn: AbstractSurrogate
    adjoint: AbstractAdjoint
    dt: float = eqx.field(static=True)
    fire_at: str = eqx.field(static=True)
    detach_reset: bool = eqx.field(static=True)

    def __init__(
        self,
        params: IFParams,
        *,
        dt: float = 1e-3,
        spike_fn: Optional[AbstractSurrogate] = None,
        fire_at: str = ">",
        detach_reset: bool = False,
        adjoint: Optional[AbstractAdjoint] = None,
    ):
        check_params("IF", params, IFParams)
        check_param_shapes(params, ("r", "v_threshold", "v_reset"))
        check_threshold_above_rest(params)
        self.dt, self.spike_fn, self.fire_at, self.detach_reset, self.adjoint = configure(
            dt=dt, spike_fn=spike_fn, default_spike_fn=FastSigmoid, fire_at=fire_at,
            detach_reset=detach_reset, adjoint=adjoint,
        )
        self.params = params

    @classmethod
    def create(
        cls,
        *,
        r: ParamLike = 1.0,
        v_threshold: ParamLike = 1.0,
        v_reset: Optional[ParamLike] = 0.0,
        dt: float = 1e-3,
        spike_fn: Optional[AbstractSurrogate] = None,
        fire_at: str = ">",
        detach_reset: bool = False,
        adjoint: Optional[AbstractAdjoint] = None,
    ) -> "IF":
        """From values: ``r`` (1), ``v_threshold`` (1), ``v_reset`` (0, or ``None``); the rest as for :class:`IF`."""
        params = IFParams(
            r=as_param("r", r), v_threshold=as_param("v_threshold", v_threshold),
            v_reset=optional_param("v_reset", v_reset),
        )
        return cls(params, dt=dt, spike_fn=spike_fn, fire_at=fire_at, detach_reset=detach_reset, adjoint=adjoint)

    def init_state(self, input_shape=None) -> NeuronState:
        return one_variable_state(self.params, () if input_shape is None else input_shape)

    def prepare(self, xs, key: Key, *, name="xs"):
        return sequence(xs, name), None

    derive = staticmethod(if_derive)
    charge = staticmethod(if_charge)
    threshold = staticmethod(fixed_threshold)
    on_spike = staticmethod(no_jump)
