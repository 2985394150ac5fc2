r"""NIR's leaky neurons, with the discrete-time update an explicit choice: ``CubaLIF`` (with a
synaptic current, or without one: NIR ``LIF``) and ``CubaLI`` (the same, without spikes).

NIR defines them in continuous time (Pedersen et al. 2024, doi:10.1038/s41467-024-52259-9):

$$\tau_{syn}\,\dot I = -I + w_{in}\,x,\qquad \tau_{mem}\,\dot v = (v_{leak} - v) + R\,I$$

(NIR ``LIF``: no synapse, $R\,x$ drives $v$ directly), spike when $v$ crosses
$v_{threshold}$, reset to $v_{reset}$. The libraries that read and write NIR discretise this
differently, and a graph only reproduces its author's spikes under the author's update. So the
update is configuration, each choice named:

- ``integrator``: ``"euler"`` (forward Euler, NIR's reference), ``"exact"`` (exponential
  integration with the drive held over the step, exact for a constant drive) or ``"decay"``
  (exact decay factors, forward-Euler input gains $dt/\tau$: Rockpool's and Sinabs' LIF);
- ``current``: whether the membrane is driven by the synaptic current before this step's update
  (``"old"``: NIR's simultaneous Euler step, Norse) or after it (``"new"``: snnTorch);
- ``reset``: subtract the threshold (``v_reset=None``) or set ``v_reset``, and ``reset_at``:
  ``"same"`` step (the state after a spike is reset) or ``"next"`` (snnTorch: the state keeps
  the potential it fired with, and the reset is applied in the next step, after its decay and
  input);
- ``fire_at``: ``">"`` (NIR, Norse, snnTorch) or ``">="``.

Per step, with decay factors $d$ and input gains $g$ from the integrator:

$$I_t = d_{syn} I_{t-1} + g_{syn}\,w_{in}\,x_t,\qquad
H_t = d_{mem} V_{t-1} + g_{mem}\,(v_{leak} + R\,u_t),\quad u_t = I_{t-1}\ \text{or}\ I_t$$

| integrator | $d$ | $g$ |
|---|---|---|
| euler | $1 - dt/\tau$ | $dt/\tau$ |
| exact | $e^{-dt/\tau}$ | $1 - e^{-dt/\tau}$ |
| decay | $e^{-dt/\tau}$ | $dt/\tau$ |

then $S_t = \Theta(H_t - v_{th})$ and the reset (:func:`spikax.neurons.reset`) of $H_t$ by $S_t$
(``reset_at="same"``) or of $H_{t+1}$ by $S_t$ (``"next"``).
"""

from __future__ import annotations

from typing import Optional

import equinox as eqx
import jax.numpy as jnp
from jax import lax
from jaxtyping import Array, ArrayLike

from .._adjoint import AbstractAdjoint, DirectAdjoint
from .._types import AbstractNeuron, AbstractSurrogate, Key, ParamLike
from .._validate import as_param, check_choice, check_dt, check_time_constant
from ..surrogate import FastSigmoid
from ._base import (
    check_param_shapes,
    check_params,
    check_threshold_above_rest,
    configure,
    fire,
    optional_param,
    reset,
    sequence,
)

__all__ = [
    "INTEGRATORS",
    "CubaLI",
    "CubaLIF",
    "CubaLIFCoeffs",
    "CubaLIFParams",
    "CubaLIFState",
    "Integrator",
    "cubalif_charge",
    "cubalif_derive",
]

#: The discrete-time updates of :class:`CubaLIF` (the table in the module docstring).
INTEGRATORS = ("euler", "exact", "decay")


class CubaLIFParams(eqx.Module):
    """Parameters of :class:`CubaLIF` and :class:`CubaLI` (NIR names and units)."""

    tau_syn: Optional[ArrayLike]
    """Synaptic time constant (s), > 0; ``None``: no synaptic current (NIR ``LIF`` / ``LI``)."""
    tau_mem: ArrayLike
    """Membrane time constant (s), > 0."""
    r: ArrayLike
    """Resistance: potential per unit of current."""
    v_leak: ArrayLike
    """Resting potential."""
    w_in: ArrayLike
    """Input weight of the synaptic current (ignored without a synapse)."""
    v_threshold: Optional[ArrayLike] = None
    """Firing threshold (``None`` for :class:`CubaLI`)."""
    v_reset: Optional[ArrayLike] = None
    """Potential after a spike; ``None``: subtract the threshold."""


class CubaLIFState(eqx.Module):
    """State of :class:`CubaLIF` / :class:`CubaLI`."""

    v: Array
    """Membrane potential (after the reset, or as it fired when the reset waits for the next step)."""
    i_syn: Optional[Array]
    """Synaptic current (``None`` without a synapse)."""
    s: Optional[Array] = None
    """The last step's spikes, when the reset is applied in the next step (else ``None``)."""


class CubaLIFCoeffs(eqx.Module):
    """Loop invariants of :class:`CubaLIF` (:func:`cubalif_derive`)."""

    d_syn: Optional[ArrayLike]
    g_syn: Optional[ArrayLike]
    d_mem: ArrayLike
    g_mem: ArrayLike
    r: ArrayLike
    v_leak: ArrayLike
    w_in: ArrayLike
    v_threshold: Optional[ArrayLike]
    v_reset: Optional[ArrayLike]
    new_current: bool = eqx.field(static=True)


def _factors(tau: ArrayLike, dt: float, integrator: str, xp=jnp) -> tuple[ArrayLike, ArrayLike]:
    """``(decay, gain)`` of the integrator (``xp=numpy`` for float64 host arithmetic)."""
    k = dt / xp.asarray(tau)
    if integrator == "euler":
        return 1.0 - k, k
    a = xp.exp(-k)
    return a, (1.0 - a) if integrator == "exact" else k


def cubalif_derive(
    params: CubaLIFParams, dt: float, *, integrator: str = "euler", current: str = "old"
) -> CubaLIFCoeffs:
    r"""Decay factors and input gains of the chosen integrator (table in the module docstring)."""
    d_mem, g_mem = _factors(params.tau_mem, dt, integrator)
    d_syn, g_syn = (None, None) if params.tau_syn is None else _factors(params.tau_syn, dt, integrator)
    return CubaLIFCoeffs(
        d_syn=d_syn,
        g_syn=g_syn,
        d_mem=d_mem,
        g_mem=g_mem,
        r=params.r,
        v_leak=params.v_leak,
        w_in=params.w_in,
        v_threshold=params.v_threshold,
        v_reset=params.v_reset,
        new_current=current == "new",
    )


def cubalif_charge(coeffs: CubaLIFCoeffs, state: CubaLIFState, x: Array) -> CubaLIFState:
    r"""One step of the dynamics: $I_t = d_{syn} I_{t-1} + g_{syn} w_{in} x_t$,
    $H_t = d_{mem} V + g_{mem} (v_{leak} + R u_t)$, with $u_t$ the old or new current (or $x_t$
    without a synapse). A reset waiting from the last step (``state.s``) is applied to $H_t$."""
    if state.i_syn is None:
        i_syn, drive = None, x
    else:
        i_syn = coeffs.d_syn * state.i_syn + coeffs.g_syn * (coeffs.w_in * x)
        drive = i_syn if coeffs.new_current else state.i_syn
    h = coeffs.d_mem * state.v + coeffs.g_mem * (coeffs.v_leak + coeffs.r * drive)
    if state.s is not None:
        h = reset(h, state.s, coeffs.v_threshold, coeffs.v_reset)
    return CubaLIFState(v=h, i_syn=i_syn, s=state.s)


def _params(tau_syn, tau_mem, r, v_leak, w_in, v_threshold=None, v_reset=None) -> CubaLIFParams:
    """:class:`CubaLIFParams` from values, each checked (for the ``create`` constructors)."""
    return CubaLIFParams(
        tau_syn=optional_param("tau_syn", tau_syn, positive=True),
        tau_mem=as_param("tau_mem", tau_mem, positive=True),
        r=as_param("r", r),
        v_leak=as_param("v_leak", v_leak),
        w_in=as_param("w_in", w_in),
        v_threshold=v_threshold,
        v_reset=optional_param("v_reset", v_reset),
    )


def _check(params: CubaLIFParams, dt: float, integrator: str, current: str, names) -> None:
    check_choice("integrator", integrator, INTEGRATORS)
    check_choice("current", current, ("old", "new"))
    check_param_shapes(params, names)
    euler = integrator == "euler"
    for name in ("tau_mem", "tau_syn"):
        if getattr(params, name) is not None:
            as_param(name, getattr(params, name), positive=True)
            check_time_constant(name, getattr(params, name), dt, euler=euler)


def _state(params: CubaLIFParams, input_shape, delayed: bool, start: str) -> CubaLIFState:
    names = ("tau_syn", "tau_mem", "r", "v_leak", "w_in", "v_threshold", "v_reset")
    shape = jnp.broadcast_shapes(
        () if input_shape is None else tuple(input_shape),
        *(jnp.shape(getattr(params, n)) for n in names if getattr(params, n) is not None),
    )
    dtype = jnp.result_type(float)
    # "v_reset": 0 under the subtractive reset (snnTorch, Sinabs, Rockpool start at 0);
    # "v_leak": at rest (Norse, and every leaky integrator).
    if start == "v_reset":
        v0 = jnp.zeros((), dtype) if params.v_reset is None else params.v_reset
    else:
        v0 = params.v_leak
    v = jnp.broadcast_to(jnp.asarray(v0, dtype), shape)
    i = None if params.tau_syn is None else jnp.zeros(shape, dtype)
    return CubaLIFState(v=v, i_syn=i, s=jnp.zeros(shape, dtype) if delayed else None)


class CubaLIF(AbstractNeuron):
    r"""Current-based LIF of NIR (``CubaLIF``; ``LIF`` when ``tau_syn`` is ``None``), its update explicit.

    See the module docstring for the equations and the choices: ``integrator`` (``"euler"``),
    ``current`` (``"old"``), ``reset_at`` (``"same"``), ``fire_at`` (``">"``); the reset is
    subtractive when ``params.v_reset`` is ``None``. The state starts with zero current and
    ``v`` at ``v_init``: ``"v_reset"`` (default; 0 when subtractive) or ``"v_leak"`` (at rest,
    as Norse); it takes the input's shape. Input steps are currents per neuron (any neuron
    shape); the output is spikes.

    **Arguments:** ``params`` (:class:`CubaLIFParams`; :meth:`create` builds them from values),
    ``dt`` (s), ``integrator``, ``current``, ``reset_at``, ``fire_at``, ``v_init``, ``spike_fn``
    (default ``FastSigmoid(25)``), ``detach_reset``, ``adjoint``.

    Reference: Pedersen et al. (2024), doi:10.1038/s41467-024-52259-9; Eshraghian et al.
    (2023), doi:10.1109/JPROC.2023.3308088 (snnTorch's update).
    """

    params: CubaLIFParams
    spike_fn: AbstractSurrogate
    adjoint: AbstractAdjoint
    dt: float = eqx.field(static=True)
    integrator: str = eqx.field(static=True)
    current: str = eqx.field(static=True)
    reset_at: str = eqx.field(static=True)
    fire_at: str = eqx.field(static=True)
    v_init: str = eqx.field(static=True)
    detach_reset: bool = eqx.field(static=True)

    def __init__(
        self,
        params: CubaLIFParams,
        *,
        dt: float = 1e-3,
        integrator: str = "euler",
        current: str = "old",
        reset_at: str = "same",
        fire_at: str = ">",
        v_init: str = "v_reset",
        spike_fn: Optional[AbstractSurrogate] = None,
        detach_reset: bool = False,
        adjoint: Optional[AbstractAdjoint] = None,
    ):
        check_params("CubaLIF", params, CubaLIFParams)
        if params.v_threshold is None:
            raise ValueError("CubaLIF needs `v_threshold` (a neuron without one is a CubaLI)")
        self.dt, self.spike_fn, self.fire_at, self.detach_reset, self.adjoint = configure(
            dt=dt,
            spike_fn=spike_fn,
            default_spike_fn=FastSigmoid,
            fire_at=fire_at,
            detach_reset=detach_reset,
            adjoint=adjoint,
        )
        _check(
            params,
            self.dt,
            integrator,
            current,
            ("tau_syn", "tau_mem", "r", "v_leak", "w_in", "v_threshold", "v_reset"),
        )
        check_choice("reset_at", reset_at, ("same", "next"))
        check_choice("v_init", v_init, ("v_reset", "v_leak"))
        self.v_init = v_init
        check_threshold_above_rest(params)
        self.params, self.integrator, self.current, self.reset_at = params, integrator, current, reset_at

    @classmethod
    def create(
        cls,
        *,
        tau_syn: Optional[ParamLike] = 5e-3,
        tau_mem: ParamLike = 10e-3,
        r: ParamLike = 1.0,
        v_leak: ParamLike = 0.0,
        w_in: ParamLike = 1.0,
        v_threshold: ParamLike = 1.0,
        v_reset: Optional[ParamLike] = 0.0,
        **config,
    ) -> "CubaLIF":
        """From values (s for the time constants; ``tau_syn=None`` for NIR's ``LIF``;
        ``v_reset=None`` for the subtractive reset); ``config`` as for :class:`CubaLIF`."""
        params = _params(tau_syn, tau_mem, r, v_leak, w_in, as_param("v_threshold", v_threshold), v_reset)
        return cls(params, **config)

    def init_state(self, input_shape=None) -> CubaLIFState:
        return _state(self.params, input_shape, self.reset_at == "next", self.v_init)

    def prepare(self, xs, key: Key, *, name="xs"):
        return sequence(xs, name), None

    def derive(self, params, dt):
        return cubalif_derive(params, dt, integrator=self.integrator, current=self.current)

    charge = staticmethod(cubalif_charge)

    def fire(self, coeffs, h):
        return fire(self.spike_fn, h.v, coeffs.v_threshold, self.fire_at)

    def reset(self, coeffs, h, s):
        s_reset = lax.stop_gradient(s) if self.detach_reset else s
        if self.reset_at == "next":
            return CubaLIFState(v=h.v, i_syn=h.i_syn, s=s_reset)
        return CubaLIFState(v=reset(h.v, s_reset, coeffs.v_threshold, coeffs.v_reset), i_syn=h.i_syn, s=None)

    def observe(self, coeffs, state, y):
        return {}


class CubaLI(AbstractNeuron):
    r"""NIR's leaky integrator with a synaptic current (``CubaLI``; ``LI`` when ``tau_syn`` is ``None``).

    :class:`CubaLIF`'s charge without threshold: the output is $v$ of every step (a read-out).
    The state starts at $v_{leak}$ with zero current. ``integrator`` and ``current`` as for
    :class:`CubaLIF`.
    """

    params: CubaLIFParams
    adjoint: AbstractAdjoint
    dt: float = eqx.field(static=True)
    integrator: str = eqx.field(static=True)
    current: str = eqx.field(static=True)

    def __init__(
        self,
        params: CubaLIFParams,
        *,
        dt: float = 1e-3,
        integrator: str = "euler",
        current: str = "old",
        adjoint: Optional[AbstractAdjoint] = None,
    ):
        check_params("CubaLI", params, CubaLIFParams)
        self.dt = check_dt(dt)
        _check(params, self.dt, integrator, current, ("tau_syn", "tau_mem", "r", "v_leak", "w_in"))
        self.params, self.integrator, self.current = params, integrator, current
        self.adjoint = DirectAdjoint() if adjoint is None else adjoint
        if not isinstance(self.adjoint, AbstractAdjoint):
            raise TypeError(f"`adjoint` must be a spikax adjoint (e.g. sx.RecomputeAdjoint()), got {adjoint!r}")

    @classmethod
    def create(
        cls,
        *,
        tau_syn: Optional[ParamLike] = 5e-3,
        tau_mem: ParamLike = 10e-3,
        r: ParamLike = 1.0,
        v_leak: ParamLike = 0.0,
        w_in: ParamLike = 1.0,
        **config,
    ) -> "CubaLI":
        """From values; ``config`` as for :class:`CubaLI`."""
        params = _params(tau_syn, tau_mem, r, v_leak, w_in)
        return cls(params, **config)

    def init_state(self, input_shape=None) -> CubaLIFState:
        return _state(self.params, input_shape, False, "v_leak")

    def prepare(self, xs, key: Key, *, name="xs"):
        return sequence(xs, name), None

    def derive(self, params, dt):
        return cubalif_derive(params, dt, integrator=self.integrator, current=self.current)

    charge = staticmethod(cubalif_charge)

    def fire(self, coeffs, h):
        return h.v

    def reset(self, coeffs, h, y):
        return h

    def observe(self, coeffs, state, y):
        return {}


class Integrator(AbstractNeuron):
    r"""NIR's integrator ``I``: $\dot v = R\,x$, $V_t = V_{t-1} + dt\,R\,x_t$ (exact for an input held
    over the step). The output is $v$ of every step; the state (:class:`NeuronState`-like
    :class:`CubaLIFState` without current) starts at 0."""

    params: CubaLIFParams
    adjoint: AbstractAdjoint
    dt: float = eqx.field(static=True)

    def __init__(self, r: ParamLike = 1.0, *, dt: float = 1e-3, adjoint: Optional[AbstractAdjoint] = None):
        self.dt = check_dt(dt)
        r = as_param("r", r)
        zero = jnp.zeros_like(r)
        self.params = CubaLIFParams(tau_syn=None, tau_mem=jnp.ones_like(r), r=r, v_leak=zero, w_in=jnp.ones_like(r))
        self.adjoint = DirectAdjoint() if adjoint is None else adjoint

    def init_state(self, input_shape=None) -> CubaLIFState:
        shape = jnp.broadcast_shapes(() if input_shape is None else tuple(input_shape), jnp.shape(self.params.r))
        return CubaLIFState(v=jnp.zeros(shape, jnp.result_type(float)), i_syn=None)

    def prepare(self, xs, key: Key, *, name="xs"):
        return sequence(xs, name), None

    def derive(self, params, dt):
        return params.r * dt

    def charge(self, coeffs, state, x):
        return CubaLIFState(v=state.v + coeffs * x, i_syn=None)

    def fire(self, coeffs, h):
        return h.v

    def reset(self, coeffs, h, y):
        return h

    def observe(self, coeffs, state, y):
        return {}
