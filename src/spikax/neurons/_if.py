"""Integrate-and-fire neuron with NIR semantics."""

from __future__ import annotations

from typing import Optional

import equinox as eqx
from jaxtyping import Array, ArrayLike

from .._types import AbstractSurrogate
from .._validate import as_param
from ..surrogate import FastSigmoid
from ._base import AbstractChargeFireReset, check_cfr_config

__all__ = ["IF", "IFParams", "if_charge"]


class IFParams(eqx.Module):
    """Parameters of :class:`IF` (NIR names)."""

    r: Array
    """Resistance: volts per (input unit x second); scalar or per neuron."""
    v_threshold: Array
    """Threshold (V)."""
    v_reset: Optional[Array]
    """Reset potential (V); ``None`` for subtractive reset."""


def if_charge(params: IFParams, v: Array, x: Array, dt: float) -> Array:
    r"""NIR ``IF``, $\dot v = R\,I$, one forward-Euler step: $H = V + dt\,R\,X$."""
    return v + dt * params.r * x


class IF(AbstractChargeFireReset):
    r"""Integrate-and-fire (NIR ``IF``): $\frac{dv}{dt} = R\,I$, forward Euler with explicit ``dt``.

    Per step: $H = V + dt\,R\,X$; $S = \Theta(H - V_{th})$ with $\Theta(0) = 0$ (NIR's
    $v > v_{th}$; ``fire_at=">="`` to change it); $V = V_{reset}$ where $S = 1$ (or
    $V = H - V_{th} S$ with ``v_reset=None``). The state starts at ``v_reset`` (0 when soft)
    and takes the input's shape.

    To integrate one input unit per step, as the per-step ``v += I`` convention of Sinabs and
    the NIR paper's CNN, set ``r = 1/dt``.

    **Arguments:** ``r`` (default 1), ``v_threshold`` (1), ``v_reset`` (0 or ``None``),
    ``dt`` in s (1e-3), ``spike_fn`` (``FastSigmoid(25)``), ``fire_at`` (``">"``),
    ``detach_reset`` (``False``).

    Reference: Pedersen et al. (2024), *Neuromorphic intermediate representation*,
    doi:10.1038/s41467-024-52259-9.
    """

    params: IFParams
    spike_fn: AbstractSurrogate
    dt: float = eqx.field(static=True)
    fire_at: str = eqx.field(static=True)
    detach_reset: bool = eqx.field(static=True)

    def __init__(
        self,
        *,
        r: ArrayLike = 1.0,
        v_threshold: ArrayLike = 1.0,
        v_reset: Optional[ArrayLike] = 0.0,
        dt: float = 1e-3,
        spike_fn: Optional[AbstractSurrogate] = None,
        fire_at: str = ">",
        detach_reset: bool = False,
    ):
        spike_fn = FastSigmoid() if spike_fn is None else spike_fn
        self.dt = check_cfr_config(fire_at, spike_fn, dt)
        self.params = IFParams(
            r=as_param("r", r),
            v_threshold=as_param("v_threshold", v_threshold),
            v_reset=None if v_reset is None else as_param("v_reset", v_reset),
        )
        self.spike_fn = spike_fn
        self.fire_at = fire_at
        self.detach_reset = bool(detach_reset)

    def charge(self, v, x):
        return if_charge(self.params, v, x, self.dt)
