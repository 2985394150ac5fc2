r"""Izhikevich's (2003) simple model, with the named cell classes of the paper's Fig. 2."""

from __future__ import annotations

from typing import Optional

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

from .._types import AbstractSurrogate
from .._validate import as_param, check_choice, check_count
from ..surrogate import FastSigmoid
from ._base import AbstractSpikingNeuron, check_cfr_config, check_neuron_input, check_step_shape

__all__ = [
    "IZHIKEVICH_PRESETS",
    "Izhikevich",
    "IzhikevichParams",
    "IzhikevichState",
    "izhikevich_charge",
    "izhikevich_rest",
]

#: Izhikevich (2003), Fig. 2: (a, b, c, d) of each cortical and thalamic cell class.
IZHIKEVICH_PRESETS: dict[str, tuple[float, float, float, float]] = {
    "regular spiking": (0.02, 0.2, -65.0, 8.0),
    "intrinsically bursting": (0.02, 0.2, -55.0, 4.0),
    "chattering": (0.02, 0.2, -50.0, 2.0),
    "fast spiking": (0.1, 0.2, -65.0, 2.0),
    "low-threshold spiking": (0.02, 0.25, -65.0, 2.0),
    "thalamo-cortical": (0.02, 0.25, -65.0, 0.05),
    "resonator": (0.1, 0.26, -65.0, 2.0),
}
_ALIASES = {"rs": "regular spiking", "ib": "intrinsically bursting", "ch": "chattering", "fs": "fast spiking",
            "lts": "low-threshold spiking", "tc": "thalamo-cortical", "rz": "resonator"}


class IzhikevichParams(eqx.Module):
    """Parameters of :class:`Izhikevich` in the paper's units (mV and ms), every field ``(n,)``."""

    a: Float[Array, " n"]
    """Recovery rate of u (1/ms), > 0."""
    b: Float[Array, " n"]
    """Sensitivity of u to sub-threshold v."""
    c: Float[Array, " n"]
    """Reset potential after a spike (mV)."""
    d: Float[Array, " n"]
    """Jump of u after a spike (mV/ms)."""
    v_peak: Float[Array, " n"]
    """Spike cut-off (mV; 30 in the paper); a spike is $v \\ge v_{peak}$."""

    @property
    def v_threshold(self):
        return self.v_peak

    @property
    def v_reset(self):
        return self.c


class IzhikevichState(eqx.Module):
    """State of :class:`Izhikevich` (``(n,)`` each)."""

    v: Float[Array, " n"]
    """Membrane potential (mV)."""
    u: Float[Array, " n"]
    """Recovery variable (mV/ms)."""


def izhikevich_charge(p: IzhikevichParams, state: IzhikevichState, current: Array, dt_ms: float) -> IzhikevichState:
    r"""One step of $\dot v = 0.04 v^2 + 5 v + 140 - u + I$, $\dot u = a (b v - u)$ (t in ms).

    Forward Euler for $v$ with the old $u$, then $u$ with the new $v$ (the order of the
    paper's reference code).
    """
    v, u = state.v, state.u
    v_new = v + dt_ms * (0.04 * v * v + 5.0 * v + 140.0 - u + current)
    return IzhikevichState(v=v_new, u=u + dt_ms * p.a * (p.b * v_new - u))


def izhikevich_rest(b: Array) -> Array:
    r"""The resting potential (mV): the stable fixed point without input.

    With $u = b v$ at rest, $0.04 v^2 + (5 - b) v + 140 = 0$; its lower root is the resting
    state (-70 mV for $b = 0.2$, -62.6 mV for the resonator's 0.26). Above $b \approx 0.267$
    there is no rest (the cell fires without input); -65 mV, the paper's initial value, is used.
    """
    disc = (5.0 - b) ** 2 - 4.0 * 0.04 * 140.0
    root = (-(5.0 - b) - jnp.sqrt(jnp.maximum(disc, 0.0))) / (2.0 * 0.04)
    return jnp.where(disc >= 0.0, root, -65.0)


class Izhikevich(AbstractSpikingNeuron):
    r"""Izhikevich's simple spiking model (2003).

    $$\dot v = 0.04 v^2 + 5 v + 140 - u + I,\qquad \dot u = a (b v - u),$$
    $$v \ge 30\ \text{mV}:\quad v \leftarrow c,\ u \leftarrow u + d,$$

    with $v$ in mV, time in ms (``dt`` is given in s, as everywhere in spikax) and $I$ in the
    paper's units (mV/ms). One step is :func:`izhikevich_charge`; the state starts at rest,
    $v = v_{rest}$ (:func:`izhikevich_rest`), $u = b\,v_{rest}$, not at the paper's -65 mV from
    which the resonator fires a spurious spike while it settles.

    ``preset=`` picks a cell class of the paper's Fig. 2: ``"regular spiking"`` (RS),
    ``"intrinsically bursting"`` (IB), ``"chattering"`` (CH), ``"fast spiking"`` (FS),
    ``"low-threshold spiking"`` (LTS), ``"thalamo-cortical"`` (TC), ``"resonator"`` (RZ); the
    abbreviations work too. Explicit ``a, b, c, d`` override the preset's values.

    **Arguments:** ``n_neurons``; ``a, b, c, d`` (default: regular spiking); ``v_peak``
    (30 mV); ``dt`` (0.1 ms: forward Euler needs well under 1 ms for the quadratic upswing; the
    paper's code used two 0.5-ms steps for v); ``spike_fn`` (``FastSigmoid(0.5)``, per mV);
    ``detach_reset``.

    Reference: Izhikevich (2003), *Simple model of spiking neurons*, IEEE Trans. Neural Netw.
    14(6), doi:10.1109/TNN.2003.820440.
    """

    params: IzhikevichParams
    spike_fn: AbstractSurrogate
    n_neurons: int = eqx.field(static=True)
    dt: float = eqx.field(static=True)
    fire_at: str = eqx.field(static=True)
    detach_reset: bool = eqx.field(static=True)

    def __init__(
        self,
        n_neurons: int = 1,
        *,
        preset: str = "regular spiking",
        a: Optional[ArrayLike] = None,
        b: Optional[ArrayLike] = None,
        c: Optional[ArrayLike] = None,
        d: Optional[ArrayLike] = None,
        v_peak: ArrayLike = 30.0,
        dt: float = 1e-4,
        spike_fn: Optional[AbstractSurrogate] = None,
        detach_reset: bool = False,
    ):
        n = check_count("n_neurons", n_neurons)
        key = _ALIASES.get(str(preset).lower(), str(preset).lower().replace("_", " "))
        check_choice("preset", key, tuple(IZHIKEVICH_PRESETS) + tuple(_ALIASES))
        defaults = IZHIKEVICH_PRESETS[key]
        spike_fn = FastSigmoid(0.5) if spike_fn is None else spike_fn
        self.dt = check_cfr_config(">=", spike_fn, dt)
        if self.dt > 1e-3:
            raise ValueError(
                f"`dt` = {self.dt:g} s is too large for the Izhikevich model with forward Euler "
                "(the quadratic upswing diverges); use dt <= 1e-3 s (1e-4 recommended)"
            )
        values = [default if given is None else given for default, given in zip(defaults, (a, b, c, d))]
        shape = (n,)
        self.params = IzhikevichParams(
            a=as_param("a", values[0], shape=shape, positive=True),
            b=as_param("b", values[1], shape=shape),
            c=as_param("c", values[2], shape=shape),
            d=as_param("d", values[3], shape=shape),
            v_peak=as_param("v_peak", v_peak, shape=shape),
        )
        self.spike_fn = spike_fn
        self.n_neurons = n
        self.fire_at = ">="
        self.detach_reset = bool(detach_reset)

    def init_state(self, input_shape=None) -> IzhikevichState:
        check_step_shape(self, input_shape)
        return IzhikevichState(v=(v := izhikevich_rest(self.params.b)), u=self.params.b * v)

    def check_input(self, xs):
        check_neuron_input("xs", xs, self.n_neurons, what="n_neurons; currents in mV/ms")

    def charge(self, coeffs, state, x):
        return izhikevich_charge(coeffs, state, x, self.dt * 1e3)

    def on_spike(self, coeffs, h, s):
        return IzhikevichState(v=h.v, u=h.u + s * coeffs.d)
