r"""Adaptive exponential integrate-and-fire neurons: Norse's dimensionless form and the physical form."""

from __future__ import annotations

from typing import Optional

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from .. import surrogate
from .._types import AbstractSurrogate
from .._validate import as_param, check_choice, check_count, check_time_constant, is_concrete
from ..surrogate import FastSigmoid
from ._base import AbstractSpikingNeuron, check_cfr_config, check_neuron_input, check_step_shape
from ._exp import exp_term

__all__ = [
    "NAUD2008",
    "AdEx",
    "AdExCoeffs",
    "AdExParams",
    "AdExState",
    "LIFAdEx",
    "LIFAdExParams",
    "LIFAdExState",
    "adex_charge",
    "lif_adex_charge",
]


# --------------------------------------------------------------------------------------------
# Norse's LIFAdEx (dimensionless, rates instead of time constants)
# --------------------------------------------------------------------------------------------


class LIFAdExParams(eqx.Module):
    """Parameters of :class:`LIFAdEx` (Norse's names and defaults; every field ``(n,)``)."""

    adaptation_current: Float[Array, " n"]
    r"""$a$: sub-threshold coupling of the adaptation to $v - v_{leak}$ (1/unit of v)."""
    adaptation_spike: Float[Array, " n"]
    """$b$: jump of the adaptation current at each spike (units of v)."""
    delta_T: Float[Array, " n"]
    r"""$\Delta_T$: sharpness of the exponential spike initiation (units of v), > 0."""
    tau_ada_inv: Float[Array, " n"]
    """Inverse adaptation time constant (1/s), > 0."""
    tau_syn_inv: Float[Array, " n"]
    """Inverse synaptic time constant (1/s), > 0."""
    tau_mem_inv: Float[Array, " n"]
    """Inverse membrane time constant (1/s), > 0."""
    v_leak: Float[Array, " n"]
    """Leak (resting) potential."""
    v_th: Float[Array, " n"]
    """Threshold: centre of the exponential term and spike threshold ($v' > v_{th}$)."""
    v_reset: Float[Array, " n"]
    """Potential after a spike."""

    @property
    def v_threshold(self):
        return self.v_th


class LIFAdExState(eqx.Module):
    """State of :class:`LIFAdEx` (every field ``(n,)``)."""

    v: Float[Array, " n"]
    """Membrane potential."""
    i: Float[Array, " n"]
    """Synaptic input current (stays 0 in the current-encoder form)."""
    a: Float[Array, " n"]
    """Adaptation current."""


def lif_adex_charge(
    p: LIFAdExParams, state: LIFAdExState, x: Float[Array, " n"], dt: float, *, synapse: bool = True
) -> LIFAdExState:
    r"""One forward-Euler step of Norse's adaptive exponential LIF, before fire and reset.

    With $\dot{}$ the rates ``tau_*_inv`` and $I = i + x$ (``synapse=True``: the input jumps
    into the synaptic current first) or $I = x$ (``synapse=False``, Norse's current encoder:
    the input drives the membrane directly and $i$ stays put):

    $$v' = v + dt\,\tau_{mem}^{-1}\big(v_{leak} - v + \Delta_T e^{(v - v_{th})/\Delta_T} + I - a\big)$$
    $$i' = I - dt\,\tau_{syn}^{-1} I,\qquad a' = a + dt\,\tau_{ada}^{-1}\big(a_c (v - v_{leak}) - a\big)$$

    (the adaptation sees the old $v$). The exponential is kept finite (:func:`exp_term`).
    """
    current = state.i + x if synapse else x
    dv = p.v_leak - state.v + exp_term(state.v, p.v_th, p.delta_T, p.v_th) + current - state.a
    v = state.v + dt * p.tau_mem_inv * dv
    i = current - dt * p.tau_syn_inv * current if synapse else state.i
    a = state.a + dt * p.tau_ada_inv * (p.adaptation_current * (state.v - p.v_leak) - state.a)
    return LIFAdExState(v=v, i=i, a=a)


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

    All three are the same update (:func:`lif_adex_charge`), composed differently.

    **Arguments** (Norse's names and defaults; scalar or per neuron): ``adaptation_current``
    (a, 4), ``adaptation_spike`` (b, 0.02), ``delta_T`` (0.5), ``tau_ada_inv`` (2 /s),
    ``tau_syn_inv`` (1/5 ms), ``tau_mem_inv`` (1/10 ms), ``v_leak`` (0), ``v_th`` (1),
    ``v_reset`` (0); ``dt`` (1 ms); ``method`` and ``alpha``: Norse's threshold method by name
    (default ``"super"``, 100; see :func:`spikax.surrogate.norse`), or any ``spike_fn``;
    ``detach_reset`` (``False``, as Norse).

    The state starts at $v = v_{leak}$, $i = a = 0$ (Norse's default state).

    Reference: Brette & Gerstner (2005), doi:10.1152/jn.00686.2005; Norse
    (github.com/norse/norse), ``LIFAdExParameters``.
    """

    params: LIFAdExParams
    spike_fn: AbstractSurrogate
    n_neurons: int = eqx.field(static=True)
    synapse: bool = eqx.field(static=True)
    dt: float = eqx.field(static=True)
    fire_at: str = eqx.field(static=True)
    detach_reset: bool = eqx.field(static=True)

    def __init__(
        self,
        n_neurons: int,
        *,
        dt: float = 1e-3,
        adaptation_current: ArrayLike = 4.0,
        adaptation_spike: ArrayLike = 0.02,
        delta_T: ArrayLike = 0.5,
        tau_ada_inv: ArrayLike = 2.0,
        tau_syn_inv: ArrayLike = 1.0 / 5e-3,
        tau_mem_inv: ArrayLike = 1.0 / 1e-2,
        v_leak: ArrayLike = 0.0,
        v_th: ArrayLike = 1.0,
        v_reset: ArrayLike = 0.0,
        synapse: bool = True,
        method: str = "super",
        alpha: ArrayLike = 100.0,
        spike_fn: Optional[AbstractSurrogate] = None,
        detach_reset: bool = False,
    ):
        n = check_count("n_neurons", n_neurons)
        spike_fn = surrogate.norse(method, alpha) if spike_fn is None else spike_fn
        self.dt = check_cfr_config(">", spike_fn, dt)
        shape = (n,)
        rates = {}
        for name, value in (("tau_ada_inv", tau_ada_inv), ("tau_syn_inv", tau_syn_inv), ("tau_mem_inv", tau_mem_inv)):
            rates[name] = as_param(name, value, shape=shape, positive=True)
            check_time_constant(name.replace("_inv", " = 1/" + name), 1.0 / rates[name], self.dt, euler=True)
        self.params = LIFAdExParams(
            adaptation_current=as_param("adaptation_current", adaptation_current, shape=shape),
            adaptation_spike=as_param("adaptation_spike", adaptation_spike, shape=shape),
            delta_T=as_param("delta_T", delta_T, shape=shape, positive=True),
            v_leak=as_param("v_leak", v_leak, shape=shape),
            v_th=as_param("v_th", v_th, shape=shape),
            v_reset=as_param("v_reset", v_reset, shape=shape),
            **rates,
        )
        self.spike_fn = spike_fn
        self.n_neurons = n
        self.synapse = bool(synapse)
        self.fire_at = ">"
        self.detach_reset = bool(detach_reset)

    def init_state(self, input_shape=None) -> LIFAdExState:
        check_step_shape(self, input_shape)
        zeros = jnp.zeros_like(self.params.v_leak)
        return LIFAdExState(v=self.params.v_leak, i=zeros, a=zeros)

    def check_input(self, xs):
        check_neuron_input("xs", xs, self.n_neurons)

    def charge(self, coeffs, state, x):
        return lif_adex_charge(coeffs, state, x, self.dt, synapse=self.synapse)

    def on_spike(self, coeffs, h, s):
        return LIFAdExState(v=h.v, i=h.i, a=h.a + s * coeffs.adaptation_spike)


# --------------------------------------------------------------------------------------------
# The physical AdEx of Brette & Gerstner (2005)
# --------------------------------------------------------------------------------------------


class AdExParams(eqx.Module):
    """Parameters of :class:`AdEx`, SI units, every field ``(n,)``."""

    C: Float[Array, " n"]
    """Membrane capacitance (F), > 0."""
    g_L: Float[Array, " n"]
    """Leak conductance (S), > 0."""
    E_L: Float[Array, " n"]
    """Leak reversal potential (V)."""
    V_T: Float[Array, " n"]
    """Rheobase threshold: centre of the exponential term (V)."""
    Delta_T: Float[Array, " n"]
    """Slope factor (V), > 0."""
    a: Float[Array, " n"]
    """Sub-threshold adaptation conductance (S); negative values are allowed (Naud et al. 2008)."""
    tau_w: Float[Array, " n"]
    """Adaptation time constant (s), > 0."""
    b: Float[Array, " n"]
    """Spike-triggered adaptation jump (A)."""
    V_reset: Float[Array, " n"]
    """Reset potential (V)."""
    V_peak: Float[Array, " n"]
    """Spike cut-off (V), > V_T: a spike is $V > V_{peak}$."""


class AdExState(eqx.Module):
    """State of :class:`AdEx` (every field ``(n,)``)."""

    v: Float[Array, " n"]
    """Membrane potential V (V)."""
    w: Float[Array, " n"]
    """Adaptation current w (A)."""


class AdExCoeffs(eqx.Module):
    """Loop invariants of :class:`AdEx` for one ``dt``."""

    dt_over_C: Array
    dt_over_tau_w: Array
    g_L: Array
    E_L: Array
    V_T: Array
    Delta_T: Array
    a: Array
    b: Array
    v_threshold: Array
    v_reset: Array


def adex_charge(c: AdExCoeffs, state: AdExState, current: Float[Array, " n"]) -> AdExState:
    r"""One forward-Euler step of the AdEx equations (V and w both from the old state).

    $$C\dot V = -g_L (V - E_L) + g_L \Delta_T e^{(V - V_T)/\Delta_T} - w + I,\qquad
    \tau_w \dot w = a (V - E_L) - w.$$
    """
    v, w = state.v, state.w
    drive = -c.g_L * (v - c.E_L) + c.g_L * exp_term(v, c.V_T, c.Delta_T, c.v_threshold) - w + current
    return AdExState(v=v + c.dt_over_C * drive, w=w + c.dt_over_tau_w * (c.a * (v - c.E_L) - w))


#: Naud, Marcille, Clopath & Gerstner (2008), Table 1: the eight firing patterns of Fig. 4,
#: in SI units, with the step current ``I`` (A) that shows each pattern from rest.
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


class AdEx(AbstractSpikingNeuron):
    r"""Adaptive exponential integrate-and-fire neuron (Brette & Gerstner 2005), SI units.

    $$C\frac{dV}{dt} = -g_L (V - E_L) + g_L \Delta_T\, e^{(V - V_T)/\Delta_T} - w + I,\qquad
    \tau_w \frac{dw}{dt} = a (V - E_L) - w,$$

    integrated with forward Euler (V and w both from the old state, :func:`adex_charge`); a
    spike is $V > V_{peak}$, after which $V \leftarrow V_{reset}$ and $w \leftarrow w + b$. The
    state starts at $V = E_L$, $w = 0$. Input: a current in A per step, ``(T, n)``; output:
    spikes ``(T, n)``. The exponential is evaluated at $\min(V, V_{peak})$ with its exponent
    capped (see :func:`spikax.neurons.exp_term`), so no step produces inf or NaN.

    Forward Euler needs ``dt`` well below $\Delta_T C / (g_L e^{(V_{peak}-V_T)/\Delta_T})$ to
    resolve the upswing; the firing patterns are reproduced at ``dt = 0.1 ms`` (default).

    **Arguments** (scalar or per neuron; defaults: the regular-spiking cell of Brette &
    Gerstner 2005): ``C`` (281 pF), ``g_L`` (30 nS), ``E_L`` (-70.6 mV), ``V_T`` (-50.4 mV),
    ``Delta_T`` (2 mV), ``a`` (4 nS), ``tau_w`` (144 ms), ``b`` (80.5 pA), ``V_reset``
    (-70.6 mV), ``V_peak`` (20 mV); ``dt`` (0.1 ms); ``spike_fn`` (``FastSigmoid(500)``, a
    width of ~2 mV); ``detach_reset``.

    :meth:`naud2008` builds the eight published firing patterns (:data:`NAUD2008`).

    References: Brette & Gerstner (2005), doi:10.1152/jn.00686.2005; Naud et al. (2008),
    doi:10.1007/s00422-008-0264-7.
    """

    params: AdExParams
    spike_fn: AbstractSurrogate
    n_neurons: int = eqx.field(static=True)
    dt: float = eqx.field(static=True)
    fire_at: str = eqx.field(static=True)
    detach_reset: bool = eqx.field(static=True)

    def __init__(
        self,
        n_neurons: int = 1,
        *,
        dt: float = 1e-4,
        C: ArrayLike = 281e-12,
        g_L: ArrayLike = 30e-9,
        E_L: ArrayLike = -70.6e-3,
        V_T: ArrayLike = -50.4e-3,
        Delta_T: ArrayLike = 2e-3,
        a: ArrayLike = 4e-9,
        tau_w: ArrayLike = 144e-3,
        b: ArrayLike = 80.5e-12,
        V_reset: ArrayLike = -70.6e-3,
        V_peak: ArrayLike = 20e-3,
        spike_fn: Optional[AbstractSurrogate] = None,
        detach_reset: bool = False,
    ):
        n = check_count("n_neurons", n_neurons)
        spike_fn = FastSigmoid(500.0) if spike_fn is None else spike_fn
        self.dt = check_cfr_config(">", spike_fn, dt)
        shape = (n,)
        p = AdExParams(
            C=as_param("C", C, shape=shape, positive=True),
            g_L=as_param("g_L", g_L, shape=shape, positive=True),
            E_L=as_param("E_L", E_L, shape=shape),
            V_T=as_param("V_T", V_T, shape=shape),
            Delta_T=as_param("Delta_T", Delta_T, shape=shape, positive=True),
            a=as_param("a", a, shape=shape),
            tau_w=as_param("tau_w", tau_w, shape=shape, positive=True),
            b=as_param("b", b, shape=shape),
            V_reset=as_param("V_reset", V_reset, shape=shape),
            V_peak=as_param("V_peak", V_peak, shape=shape),
        )
        if is_concrete(p.V_peak) and not bool(jnp.all(p.V_peak > p.V_T)):
            raise ValueError(
                f"`V_peak` must be above `V_T` (the spike cut-off lies past the exponential's onset), "
                f"got V_peak = {np.asarray(p.V_peak).min():.4g} V and V_T = {np.asarray(p.V_T).max():.4g} V"
            )
        check_time_constant("C/g_L", p.C / p.g_L, self.dt, euler=True)
        check_time_constant("tau_w", p.tau_w, self.dt, euler=True)
        self.params = p
        self.spike_fn = spike_fn
        self.n_neurons = n
        self.fire_at = ">"
        self.detach_reset = bool(detach_reset)

    @classmethod
    def naud2008(cls, name: str, n_neurons: int = 1, *, dt: float = 1e-4, V_peak: float = 0.0, **kwargs) -> "AdEx":
        """One of the eight firing patterns of Naud et al. (2008), Table 1.

        ``name``: ``"tonic spiking"``, ``"adaptation"``, ``"initial burst"``, ``"regular
        bursting"``, ``"delayed accelerating"``, ``"delayed regular bursting"``, ``"transient
        spiking"`` or ``"irregular spiking"`` (underscores also work). The pattern shows under a
        step current ``NAUD2008[name]["I"]`` from rest: 500, 500, 400, 210, 300, 110, 180 and
        160 pA respectively. ``V_peak`` defaults to 0 mV; other keyword arguments are passed on.
        """
        key = str(name).replace("_", " ").lower()
        check_choice("name", key, tuple(NAUD2008))
        values = {k: v for k, v in NAUD2008[key].items() if k != "I"}
        return cls(n_neurons, dt=dt, V_peak=V_peak, **{**values, **kwargs})

    def init_state(self, input_shape=None) -> AdExState:
        check_step_shape(self, input_shape)
        return AdExState(v=self.params.E_L, w=jnp.zeros_like(self.params.E_L))

    def check_input(self, xs):
        check_neuron_input("xs", xs, self.n_neurons, what="n_neurons; currents in A")

    def derive(self) -> AdExCoeffs:
        p = self.params
        return AdExCoeffs(
            dt_over_C=self.dt / p.C,
            dt_over_tau_w=self.dt / p.tau_w,
            g_L=p.g_L,
            E_L=p.E_L,
            V_T=p.V_T,
            Delta_T=p.Delta_T,
            a=p.a,
            b=p.b,
            v_threshold=p.V_peak,
            v_reset=p.V_reset,
        )

    def charge(self, coeffs, state, x):
        return adex_charge(coeffs, state, x)

    def on_spike(self, coeffs, h, s):
        return AdExState(v=h.v, w=h.w + s * coeffs.b)
