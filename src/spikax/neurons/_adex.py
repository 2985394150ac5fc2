r"""Adaptive exponential integrate-and-fire neurons: Norse's dimensionless form and the physical form."""

from __future__ import annotations

from typing import Optional

import equinox as eqx
import jax.numpy as jnp
from jax import lax
from jaxtyping import Array, ArrayLike, Float

from .. import surrogate
from .._adjoint import AbstractAdjoint
from .._types import AbstractSurrogate, Key, ParamLike
from .._validate import as_param, check_choice, check_count, check_time_constant
from ..surrogate import FastSigmoid
from ._base import (
    AbstractParamsCoeffs,
    AbstractSpikingNeuron,
    check_above,
    check_params,
    check_step_shape,
    configure,
    fixed_threshold,
    sequence,
)
from ._eif import CUT_PAST_ONSET
from ._exp import exp_term

__all__ = [
    "NAUD2008",
    "AdEx",
    "AdExCoeffs",
    "AdExParams",
    "AdExState",
    "LIFAdEx",
    "LIFAdExCoeffs",
    "LIFAdExParams",
    "LIFAdExState",
    "adex_charge",
    "adex_derive",
    "adex_on_spike",
    "lif_adex_charge",
    "lif_adex_derive",
    "lif_adex_on_spike",
]


# --------------------------------------------------------------------------------------------
# Norse's LIFAdEx (dimensionless)
# --------------------------------------------------------------------------------------------


class LIFAdExParams(eqx.Module):
    """Parameters of :class:`LIFAdEx` (Norse's model and defaults, NIR's names; every field ``(n,)``)."""

    adaptation_current: Float[ArrayLike, " n"]
    r"""$a$: sub-threshold coupling of the adaptation to $v - v_{leak}$ (1/unit of v)."""
    adaptation_spike: Float[ArrayLike, " n"]
    """$b$: jump of the adaptation current at each spike (units of v)."""
    delta_T: Float[ArrayLike, " n"]
    r"""$\Delta_T$: sharpness of the exponential spike initiation (units of v), > 0."""
    tau_adapt: Float[ArrayLike, " n"]
    """Adaptation time constant (s), > 0 (Norse's ``1/tau_ada_inv``)."""
    tau_syn: Float[ArrayLike, " n"]
    """Synaptic time constant (s), > 0 (Norse's ``1/tau_syn_inv``)."""
    tau_mem: Float[ArrayLike, " n"]
    """Membrane time constant (s), > 0 (Norse's ``1/tau_mem_inv``)."""
    v_leak: Float[ArrayLike, " n"]
    """Leak (resting) potential."""
    v_threshold: Float[ArrayLike, " n"]
    """Threshold: centre of the exponential term and spike threshold ($v' > v_{threshold}$)."""
    v_reset: Float[ArrayLike, " n"]
    """Potential after a spike."""


class LIFAdExState(eqx.Module):
    """State of :class:`LIFAdEx` (every field ``(n,)``)."""

    v: Float[Array, " n"]
    """Membrane potential."""
    i: Float[Array, " n"]
    """Synaptic input current (stays 0 in the current-encoder form)."""
    a: Float[Array, " n"]
    """Adaptation current."""


class LIFAdExCoeffs(AbstractParamsCoeffs):
    """Loop invariants of :class:`LIFAdEx` (:func:`lif_adex_derive`)."""

    dt_mem: ArrayLike
    dt_syn: ArrayLike
    dt_adapt: ArrayLike
    params: LIFAdExParams
    synapse: bool = eqx.field(static=True)



def lif_adex_derive(params: LIFAdExParams, dt: float, *, synapse: bool = True) -> LIFAdExCoeffs:
    r"""The Euler factors $dt\,\tau_{mem}^{-1}$, $dt\,\tau_{syn}^{-1}$, $dt\,\tau_{adapt}^{-1}$ (in
    Norse's order: the rate, then times ``dt``); ``synapse=False`` is the current-encoder form."""
    return LIFAdExCoeffs(
        dt_mem=dt * (1.0 / params.tau_mem),
        dt_syn=dt * (1.0 / params.tau_syn),
        dt_adapt=dt * (1.0 / params.tau_adapt),
        params=params,
        synapse=synapse,
    )


def lif_adex_charge(coeffs: LIFAdExCoeffs, state: LIFAdExState, x: Float[Array, " n"]) -> LIFAdExState:
    r"""One forward-Euler step of Norse's adaptive exponential LIF, before fire and reset.

    With $I = i + x$ (``synapse=True``: the input jumps into the synaptic current first) or
    $I = x$ (``synapse=False``, Norse's current encoder: the input drives the membrane directly
    and $i$ stays put):

    $$v' = v + \frac{dt}{\tau_{mem}}\big(v_{leak} - v + \Delta_T e^{(v - v_{th})/\Delta_T} + I - a\big)$$
    $$i' = I - \frac{dt}{\tau_{syn}} I,\qquad a' = a + \frac{dt}{\tau_{adapt}}\big(a_c (v - v_{leak}) - a\big)$$

    (the adaptation sees the old $v$). The exponential is kept finite (:func:`exp_term`).
    """
    p = coeffs.params
    current = state.i + x if coeffs.synapse else x
    dv = p.v_leak - state.v + exp_term(state.v, p.v_threshold, p.delta_T, p.v_threshold) + current - state.a
    v = state.v + coeffs.dt_mem * dv
    i = current - coeffs.dt_syn * current if coeffs.synapse else state.i
    a = state.a + coeffs.dt_adapt * (p.adaptation_current * (state.v - p.v_leak) - state.a)
    return LIFAdExState(v=v, i=i, a=a)


def lif_adex_on_spike(coeffs: LIFAdExCoeffs, h: LIFAdExState, s: Array) -> LIFAdExState:
    """The adaptation jumps at a spike: $a \\mathrel{+}= b\\,S$."""
    return LIFAdExState(v=h.v, i=h.i, a=h.a + s * coeffs.params.adaptation_spike)


class LIFAdEx(AbstractSpikingNeuron):
    r"""Adaptive exponential LIF in Norse's form (``norse.torch.functional.lif_adex``).

    Per step (forward Euler, :func:`lif_adex_charge`), then spikes $z = \Theta(v' - v_{th})$
    (strict, as Norse), $v'' = (1 - z)\,v' + z\,v_{reset}$ and $a'' = a' + z\,b$.

    - Called on ``xs`` ``(T, n)``: the **feed-forward** step, ``xs`` are input currents added to
      $i$ before the voltage update ($i_{jump} = i + W_{in} z_{in}$ with a :class:`spikax.Linear`
      in front).
    - ``sx.Recurrent(LIFAdEx(...), w_rec)``: the **recurrent** step,
      $i_{jump} = i + W_{in} z_{in} + W_{rec} z_{t-1}$.
    - ``synapse=False``: the **current encoder** (``lif_adex_current_encoder``), the input
      current drives $v$ directly.

    All three are the same update (:func:`lif_adex_charge`), composed differently. The state
    starts at $v = v_{leak}$, $i = a = 0$ (Norse's default state).

    **Arguments:** ``params`` (:class:`LIFAdExParams`; :meth:`create` builds them from values);
    ``synapse`` (``True``); ``dt`` (1 ms); ``spike_fn`` (default: Norse's ``"super"`` with
    alpha 100, see :func:`spikax.surrogate.norse`); ``detach_reset`` (``False``, as Norse);
    ``adjoint``.

    **Training.** Norse's defaults (``"super"`` with alpha 100, ``detach_reset=False``, ``dt``
    = 1 ms) keep the gradient of a run's spike count finite and growing like the count: from
    a 50-ms to a 0.5-s run it grows 12x (feed-forward, input 0.5 per step: 8 and 47 spikes)
    and 15x (current encoder, input 2.5: 9 and 47 spikes; ``tests/test_gradients.py``).
    Its threshold sits at the exponential's centre and the reset is one unit below it, so
    the reset's surrogate term $(v_{reset} - H)\,\sigma(H - v_{th})$ stays below one (0.86
    at most in the feed-forward run), not near 95 as in the millivolt Izhikevich model.

    Reference: Brette & Gerstner (2005), doi:10.1152/jn.00686.2005; Norse
    (github.com/norse/norse), ``LIFAdExParameters``.
    """

    params: LIFAdExParams
    spike_fn: AbstractSurrogate
    adjoint: AbstractAdjoint
    dt: float = eqx.field(static=True)
    fire_at: str = eqx.field(static=True)
    detach_reset: bool = eqx.field(static=True)
    synapse: bool = eqx.field(static=True)

    def __init__(
        self,
        params: LIFAdExParams,
        *,
        synapse: bool = True,
        dt: float = 1e-3,
        spike_fn: Optional[AbstractSurrogate] = None,
        detach_reset: bool = False,
        adjoint: Optional[AbstractAdjoint] = None,
    ):
        check_params("LIFAdEx", params, LIFAdExParams)
        self.dt, self.spike_fn, self.fire_at, self.detach_reset, self.adjoint = configure(
            dt=dt, spike_fn=spike_fn, default_spike_fn=lambda: surrogate.norse("super", 100.0), fire_at=">",
            detach_reset=detach_reset, adjoint=adjoint,
        )
        for name in ("tau_adapt", "tau_syn", "tau_mem"):
            check_time_constant(name, getattr(params, name), self.dt, euler=True)
        self.params = params
        self.synapse = bool(synapse)

    @classmethod
    def create(
        cls,
        n_neurons: int,
        *,
        adaptation_current: ParamLike = 4.0,
        adaptation_spike: ParamLike = 0.02,
        delta_T: ParamLike = 0.5,
        tau_adapt: ParamLike = 0.5,
        tau_syn: ParamLike = 5e-3,
        tau_mem: ParamLike = 1e-2,
        v_leak: ParamLike = 0.0,
        v_threshold: ParamLike = 1.0,
        v_reset: ParamLike = 0.0,
        synapse: bool = True,
        method: str = "super",
        alpha: ParamLike = 100.0,
        spike_fn: Optional[AbstractSurrogate] = None,
        dt: float = 1e-3,
        detach_reset: bool = False,
        adjoint: Optional[AbstractAdjoint] = None,
    ) -> "LIFAdEx":
        """From values, Norse's defaults (scalar or per neuron): ``adaptation_current`` (a, 4),
        ``adaptation_spike`` (b, 0.02), ``delta_T`` (0.5), ``tau_adapt`` (0.5 s), ``tau_syn``
        (5 ms), ``tau_mem`` (10 ms), ``v_leak`` (0), ``v_threshold`` (1), ``v_reset`` (0);
        ``method`` and ``alpha``: Norse's threshold method by name (default ``"super"``, 100;
        see :func:`spikax.surrogate.norse`), unless ``spike_fn`` is given."""
        shape = (check_count("n_neurons", n_neurons),)
        params = LIFAdExParams(
            adaptation_current=as_param("adaptation_current", adaptation_current, shape=shape),
            adaptation_spike=as_param("adaptation_spike", adaptation_spike, shape=shape),
            delta_T=as_param("delta_T", delta_T, shape=shape, positive=True),
            tau_adapt=as_param("tau_adapt", tau_adapt, shape=shape, positive=True),
            tau_syn=as_param("tau_syn", tau_syn, shape=shape, positive=True),
            tau_mem=as_param("tau_mem", tau_mem, shape=shape, positive=True),
            v_leak=as_param("v_leak", v_leak, shape=shape),
            v_threshold=as_param("v_threshold", v_threshold, shape=shape),
            v_reset=as_param("v_reset", v_reset, shape=shape),
        )
        spike_fn = surrogate.norse(method, alpha) if spike_fn is None else spike_fn
        return cls(params, synapse=synapse, dt=dt, spike_fn=spike_fn, detach_reset=detach_reset, adjoint=adjoint)

    @property
    def n_neurons(self) -> int:
        return self.params.v_leak.shape[0]

    def init_state(self, input_shape=None) -> LIFAdExState:
        check_step_shape("LIFAdEx", self.n_neurons, input_shape)
        zeros = jnp.zeros_like(self.params.v_leak)
        return LIFAdExState(v=self.params.v_leak, i=zeros, a=zeros)

    def prepare(self, xs, key: Key, *, name="xs"):
        return sequence(xs, name, (self.n_neurons,), what="n_neurons"), None

    def derive(self, params, dt):
        return lif_adex_derive(params, dt, synapse=self.synapse)

    charge = staticmethod(lif_adex_charge)
    threshold = staticmethod(fixed_threshold)
    on_spike = staticmethod(lif_adex_on_spike)


# --------------------------------------------------------------------------------------------
# The physical AdEx of Brette & Gerstner (2005)
# --------------------------------------------------------------------------------------------


class AdExParams(eqx.Module):
    """Parameters of :class:`AdEx`, SI units, every field ``(n,)``."""

    C: Float[ArrayLike, " n"]
    """Membrane capacitance (F), > 0."""
    g_L: Float[ArrayLike, " n"]
    """Leak conductance (S), > 0."""
    v_leak: Float[ArrayLike, " n"]
    """Leak reversal potential $E_L$ (V)."""
    v_rh: Float[ArrayLike, " n"]
    """Rheobase threshold $V_T$: centre of the exponential term (V)."""
    delta_T: Float[ArrayLike, " n"]
    r"""Slope factor $\Delta_T$ (V), > 0."""
    a: Float[ArrayLike, " n"]
    """Sub-threshold adaptation conductance (S); negative values are allowed (Naud et al. 2008)."""
    tau_w: Float[ArrayLike, " n"]
    """Adaptation time constant (s), > 0."""
    b: Float[ArrayLike, " n"]
    """Spike-triggered adaptation jump (A)."""
    v_reset: Float[ArrayLike, " n"]
    """Reset potential $V_{reset}$ (V)."""
    v_threshold: Float[ArrayLike, " n"]
    """Spike cut-off $V_{peak}$ (V), > ``v_rh``: a spike is $V > V_{peak}$."""


class AdExState(eqx.Module):
    """State of :class:`AdEx` (every field ``(n,)``)."""

    v: Float[Array, " n"]
    """Membrane potential V (V)."""
    w: Float[Array, " n"]
    """Adaptation current w (A)."""


class AdExCoeffs(AbstractParamsCoeffs):
    """Loop invariants of :class:`AdEx` for one ``dt`` (:func:`adex_derive`), and whether the
    adaptation's update passes the gradient of $V$ (:func:`adex_charge`)."""

    dt_over_C: ArrayLike
    dt_over_tau_w: ArrayLike
    params: AdExParams
    detach_adaptation: bool = eqx.field(static=True, default=True)


def adex_derive(params: AdExParams, dt: float, *, detach_adaptation: bool = True) -> AdExCoeffs:
    r"""The Euler factors $dt/C$ and $dt/\tau_w$."""
    return AdExCoeffs(
        dt_over_C=dt / params.C, dt_over_tau_w=dt / params.tau_w, params=params, detach_adaptation=detach_adaptation
    )


def adex_charge(coeffs: AdExCoeffs, state: AdExState, x: Float[Array, " n"]) -> AdExState:
    r"""One forward-Euler step of the AdEx equations (V and w both from the old state).

    $$C\dot V = -g_L (V - E_L) + g_L \Delta_T e^{(V - V_T)/\Delta_T} - w + I,\qquad
    \tau_w \dot w = a (V - E_L) - w.$$

    With ``coeffs.detach_adaptation`` (the default) the update of $w$ reads $V$'s value but
    not its gradient, $\partial w'/\partial V = 0$; the values are the same either way. Why:
    in the upswing $V$'s sensitivity is the spike-time shift, $\delta V \approx \dot V\,
    \delta t$, which grows with $e^{(V - V_T)/\Delta_T}$; the exact hybrid system cancels its
    effect on $w$ at the reset (where $\dot w$ jumps by $a (V_{reset} - V_{peak})/\tau_w$ at the
    shifted spike time) and a discrete step does not, so through $w$ it multiplied the gradient
    by up to 54 per inter-spike interval (delayed regular bursting, reset detached: 1e10
    after 0.5 s), see :class:`AdEx`.
    """
    p, v, w = coeffs.params, state.v, state.w
    drive = -p.g_L * (v - p.v_leak) + p.g_L * exp_term(v, p.v_rh, p.delta_T, p.v_threshold) - w + x
    v_seen = lax.stop_gradient(v) if coeffs.detach_adaptation else v
    return AdExState(v=v + coeffs.dt_over_C * drive, w=w + coeffs.dt_over_tau_w * (p.a * (v_seen - p.v_leak) - w))


def adex_on_spike(coeffs: AdExCoeffs, h: AdExState, s: Array) -> AdExState:
    r"""$w \leftarrow w + b$ at a spike."""
    return AdExState(v=h.v, w=h.w + s * coeffs.params.b)


#: Naud, Marcille, Clopath & Gerstner (2008), Table 1: the eight firing patterns of Fig. 4,
#: in SI units and the paper's notation (:meth:`AdEx.naud2008` maps it to the parameter names),
#: with the step current ``I`` (A) that shows each pattern from rest.
NAUD2008: dict[str, dict[str, float]] = {
    name: dict(
        C=C * 1e-12, g_L=gL * 1e-9, E_L=EL * 1e-3, V_T=VT * 1e-3, Delta_T=dT * 1e-3, a=a * 1e-9,
        tau_w=tw * 1e-3, b=b * 1e-12, V_reset=Vr * 1e-3, I=I * 1e-12,
    )
    for name, (C, gL, EL, VT, dT, a, tw, b, Vr, I) in {
        # name: C (pF), g_L (nS), E_L (mV), V_T (mV), Delta_T (mV), a (nS), tau_w (ms), b (pA), V_reset (mV), I (pA)
        "tonic spiking": (200, 10, -70, -50, 2, 2, 30, 0, -58, 500),
        "adaptation": (200, 12, -70, -50, 2, 2, 300, 60, -58, 500),
        "initial burst": (130, 18, -58, -50, 2, 4, 150, 120, -50, 400),
        "regular bursting": (200, 10, -58, -50, 2, 2, 120, 100, -46, 210),
        "delayed accelerating": (200, 12, -70, -50, 2, -10, 300, 0, -58, 300),
        "delayed regular bursting": (100, 10, -65, -50, 2, -10, 90, 30, -47, 110),
        "transient spiking": (100, 10, -65, -50, 2, 10, 90, 100, -47, 180),
        "irregular spiking": (100, 12, -60, -50, 2, -11, 130, 30, -48, 160),
    }.items()
}


#: Slope (1/V) of the default surrogate of :class:`AdEx`: a width of 1/20 V = 50 mV, the span
#: from $V_T$ to $V_{peak}$ of the published cells. The crossing step overshoots $V_{peak}$ by
#: 0.5-1 V at the median (forward Euler through the exponential; up to 1e6 V), so a width of a
#: few mV would see only the rare steps that land next to $V_{peak}$ (see :class:`AdEx`).
ADEX_SURROGATE_SLOPE = 20.0

_NAUD_NAMES = {"E_L": "v_leak", "V_T": "v_rh", "Delta_T": "delta_T", "V_reset": "v_reset"}


class AdEx(AbstractSpikingNeuron):
    r"""Adaptive exponential integrate-and-fire neuron (Brette & Gerstner 2005), SI units.

    $$C\frac{dV}{dt} = -g_L (V - E_L) + g_L \Delta_T\, e^{(V - V_T)/\Delta_T} - w + I,\qquad
    \tau_w \frac{dw}{dt} = a (V - E_L) - w,$$

    integrated with forward Euler (V and w both from the old state, :func:`adex_charge`); a
    spike is $V > V_{peak}$, after which $V \leftarrow V_{reset}$ and $w \leftarrow w + b$. The
    state starts at $V = E_L$, $w = 0$. Input: a current in A per step, ``(T, n)``; output:
    spikes ``(T, n)``. The exponential is evaluated at $\min(V, V_{peak})$ with its exponent
    capped (see :func:`spikax.neurons.exp_term`), so no step produces inf or NaN. In the
    parameter names, $E_L$ is ``v_leak``, $V_T$ is ``v_rh``, $\Delta_T$ is ``delta_T``,
    $V_{reset}$ is ``v_reset`` and $V_{peak}$ is ``v_threshold``.

    Forward Euler needs ``dt`` well below $\Delta_T C / (g_L e^{(V_{peak}-V_T)/\Delta_T})$ to
    resolve the upswing; the firing patterns are reproduced at ``dt = 0.1 ms`` (default).

    **Arguments:** ``params`` (:class:`AdExParams`; :meth:`create` builds them from values,
    :meth:`naud2008` from the published patterns); ``dt`` (0.1 ms); ``spike_fn``
    (``FastSigmoid(20)`` per V, a width of 50 mV); ``detach_reset`` (``True``);
    ``detach_adaptation`` (``True``: see :func:`adex_charge`); ``adjoint``. The two
    ``detach_`` options change gradients only, never values.

    **Training.** The defaults are the training setting: ``FastSigmoid(20)``,
    ``detach_reset=True``, ``detach_adaptation=True``, ``dt`` = 0.1 ms. With them the
    gradient of a run's spike count with respect to its input current and every parameter is
    finite for every pattern of :meth:`naud2008` and grows about like the spike count: from a
    50-ms to a 0.5-s run at the pattern's current, 1.1x (transient spiking) to 47x (irregular
    spiking; medians over +-4% of the current, ``tests/test_gradients.py``), against 3e18x
    (delayed regular bursting) and inf (irregular spiking) with both paths below kept. Each
    option removes a gradient path that is multiplied at every spike:

    - the reset of $V$: the exact derivative of the hybrid system through a spike of this
      runaway, $\dot V(V_{reset})/\dot V(V_{peak})$, is below 3e-10 for the published
      cells, and ``detach_reset`` gives 0; the surrogate's $(V_{reset} - H)\,
      \sigma(H - V_{peak})$, multiplied by the upswing's $\partial H/\partial V$, is not small
      whenever a step lands near $V_{peak}$;
    - $V$'s gradient into $w$ (:func:`adex_charge`).

    The surrogate's width: the crossing step overshoots $V_{peak}$ by 0.5-1 V at the median
    (up to 1e6 V: forward Euler through the exponential), so with a width of 2 mV
    (``FastSigmoid(500)``) the gradient comes from the under 1% of steps that land next to
    $V_{peak}$ and varies up to 90x over currents within 4% (at most 3x with the default, but
    for the one-spike transient cell). The irregular-spiking cell is chaotic (float64
    rounding moves its spikes after ~430 ms), so any gradient that follows $V$ into $w$ grows
    exponentially with the run.
    ``detach_reset=False`` or ``detach_adaptation=False`` give the plain surrogate gradient,
    usable over a few spikes only.

    References: Brette & Gerstner (2005), doi:10.1152/jn.00686.2005; Naud et al. (2008),
    doi:10.1007/s00422-008-0264-7.
    """

    params: AdExParams
    spike_fn: AbstractSurrogate
    adjoint: AbstractAdjoint
    dt: float = eqx.field(static=True)
    fire_at: str = eqx.field(static=True)
    detach_reset: bool = eqx.field(static=True)
    detach_adaptation: bool = eqx.field(static=True)

    def __init__(
        self,
        params: AdExParams,
        *,
        dt: float = 1e-4,
        spike_fn: Optional[AbstractSurrogate] = None,
        detach_reset: bool = True,
        detach_adaptation: bool = True,
        adjoint: Optional[AbstractAdjoint] = None,
    ):
        check_params("AdEx", params, AdExParams)
        self.dt, self.spike_fn, self.fire_at, self.detach_reset, self.adjoint = configure(
            dt=dt, spike_fn=spike_fn, default_spike_fn=lambda: FastSigmoid(ADEX_SURROGATE_SLOPE), fire_at=">",
            detach_reset=detach_reset, adjoint=adjoint,
        )
        check_time_constant("C/g_L", params.C / params.g_L, self.dt, euler=True)
        check_time_constant("tau_w", params.tau_w, self.dt, euler=True)
        self.detach_adaptation = bool(detach_adaptation)
        self.params = params

    @classmethod
    def create(
        cls,
        n_neurons: int = 1,
        *,
        C: ParamLike = 281e-12,
        g_L: ParamLike = 30e-9,
        v_leak: ParamLike = -70.6e-3,
        v_rh: ParamLike = -50.4e-3,
        delta_T: ParamLike = 2e-3,
        a: ParamLike = 4e-9,
        tau_w: ParamLike = 144e-3,
        b: ParamLike = 80.5e-12,
        v_reset: ParamLike = -70.6e-3,
        v_threshold: ParamLike = 20e-3,
        dt: float = 1e-4,
        spike_fn: Optional[AbstractSurrogate] = None,
        detach_reset: bool = True,
        detach_adaptation: bool = True,
        adjoint: Optional[AbstractAdjoint] = None,
    ) -> "AdEx":
        """From values (scalar or per neuron; defaults: the regular-spiking cell of Brette &
        Gerstner 2005): ``C`` (281 pF), ``g_L`` (30 nS), ``v_leak`` ($E_L$, -70.6 mV), ``v_rh``
        ($V_T$, -50.4 mV), ``delta_T`` (2 mV), ``a`` (4 nS), ``tau_w`` (144 ms), ``b``
        (80.5 pA), ``v_reset`` (-70.6 mV), ``v_threshold`` ($V_{peak}$, 20 mV); the rest as
        for :class:`AdEx`."""
        shape = (check_count("n_neurons", n_neurons),)
        p = AdExParams(
            C=as_param("C", C, shape=shape, positive=True),
            g_L=as_param("g_L", g_L, shape=shape, positive=True),
            v_leak=as_param("v_leak", v_leak, shape=shape),
            v_rh=as_param("v_rh", v_rh, shape=shape),
            delta_T=as_param("delta_T", delta_T, shape=shape, positive=True),
            a=as_param("a", a, shape=shape),
            tau_w=as_param("tau_w", tau_w, shape=shape, positive=True),
            b=as_param("b", b, shape=shape),
            v_reset=as_param("v_reset", v_reset, shape=shape),
            v_threshold=as_param("v_threshold", v_threshold, shape=shape),
        )
        check_above("v_threshold", p.v_threshold, "v_rh", p.v_rh, CUT_PAST_ONSET)
        return cls(
            p, dt=dt, spike_fn=spike_fn, detach_reset=detach_reset, detach_adaptation=detach_adaptation, adjoint=adjoint
        )

    @classmethod
    def naud2008(cls, name: str, n_neurons: int = 1, *, dt: float = 1e-4, v_threshold: float = 0.0, **kwargs) -> "AdEx":
        """One of the eight firing patterns of Naud et al. (2008), Table 1 (:data:`NAUD2008`).

        ``name``: ``"tonic spiking"``, ``"adaptation"``, ``"initial burst"``, ``"regular
        bursting"``, ``"delayed accelerating"``, ``"delayed regular bursting"``, ``"transient
        spiking"`` or ``"irregular spiking"`` (underscores also work). The pattern shows under a
        step current ``NAUD2008[name]["I"]`` from rest: 500, 500, 400, 210, 300, 110, 180 and
        160 pA respectively. ``v_threshold`` ($V_{peak}$) defaults to 0 mV; other keyword
        arguments go to :meth:`create`.
        """
        key = str(name).replace("_", " ").lower()
        check_choice("name", key, tuple(NAUD2008))
        values = {_NAUD_NAMES.get(k, k): v for k, v in NAUD2008[key].items() if k != "I"}
        return cls.create(n_neurons, dt=dt, v_threshold=v_threshold, **{**values, **kwargs})

    @property
    def n_neurons(self) -> int:
        return self.params.C.shape[0]

    def init_state(self, input_shape=None) -> AdExState:
        check_step_shape("AdEx", self.n_neurons, input_shape)
        return AdExState(v=self.params.v_leak, w=jnp.zeros_like(self.params.v_leak))

    def prepare(self, xs, key: Key, *, name="xs"):
        return sequence(xs, name, (self.n_neurons,), what="n_neurons; currents in A"), None

    def derive(self, params, dt):
        return adex_derive(params, dt, detach_adaptation=self.detach_adaptation)

    charge = staticmethod(adex_charge)
    threshold = staticmethod(fixed_threshold)
    on_spike = staticmethod(adex_on_spike)
