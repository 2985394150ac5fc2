r"""DYNAP-SE2 neuron dynamics: four DPI synapses, AHP, DPI membrane, spikes, refractory period.

All currents in A, times in s, per neuron (shape ``(n,)``; the four synapses are separate
arrays, AMPA, NMDA, GABA, SHUNT: stacking them on an axis of 4 made XLA's loop four times
slower). With $\kappa = (\kappa_n + \kappa_p)/2$ and $I_o$ the dark current, which floors every
current:

**Synapses** (DPI, Bartolozzi & Indiveri 2007, doi:10.1162/neco.2007.19.10.2581). An input
$x \ge 0$ arriving at the start of a step sets a weight current $I_w = x\,I_{scale}$; the synapse
jumps by $\frac{I_{gain}}{I_\tau} I_w (1 - e^{-t_{pulse}/\tau})$ and then decays,
$I(t) = \max(I_o, I\,e^{-t/\tau})$, with $\tau = C U_T/(\kappa I_\tau)$ and
$t_{pulse} = V_{th} C_{pulse}/I_{pulse}$.

**AHP** (spike-frequency adaptation): the same DPI driven by the neuron's own spikes with
$I_{w,ahp}$, jumping at the spike time.

**Membrane** (DPI neuron, Livi & Indiveri 2009, doi:10.1109/ISCAS.2009.5118408; Chicca et al.
2014, doi:10.1109/JPROC.2014.2313954):

$$\tau\left(1 + \frac{I_g}{I_{mem}}\right)\frac{dI_{mem}}{dt} =
I_{mem\infty} + f(I_{mem}) - I_{mem}\left(1 + \frac{I_{ahp} + I_{gaba}}{I_\tau}\right)$$

with $\tau = C_{mem}U_T/(\kappa I_\tau)$, $I_g$ = ``Igain_mem``, $I_\tau$ = ``Itau_mem``,
$I_{mem\infty} = \frac{I_g}{I_\tau}(I_{in} - I_{ahp} - I_{gaba} - I_\tau)$,
$I_{in} = \max(I_{dc} + I_{ampa} + \frac{I_{nmda}}{1 + I_{f,nmda}/I_{mem}} - I_{shunt}, 0)$,
$f(I_{mem}) = \frac{I_{fb}}{I_\tau}(I_{mem} + I_g)$,
$I_{fb} = I_o e^{\frac{\kappa^2}{\kappa+1}V_{mem}/U_T} = I_o (I_{mem}/I_o)^{\kappa/(\kappa+1)}$ and
$V_{mem} = \frac{U_T}{\kappa}\ln(I_{mem}/I_o)$.

**Integration.** In $z = I_{mem} + I_g\ln(I_{mem}/I_o)$ the left-hand side is $\tau\,dz/dt$,
so the equation reads $\tau\,\dot z = \mathrm{RHS}(I_{mem}(z), t)$ and is not stiff where
$\ln I_{mem}$ is (right after a reset under strong input). One Heun (or RK4) step per time step
integrates it, with the synaptic and AHP currents decaying continuously inside the step;
$I_{mem}(z)$ is two Halley steps from an upper bound (3e-6 relative error) with the
implicit-function derivative $dI_{mem}/dz = I_{mem}/(I_{mem} + I_g)$.

**Spikes.** When $I_{mem}$ reaches ``Ispkthr`` inside a step, the crossing time $t^*$ is located
on the quadratic through $z$ at the segment start (value and slope) and end; at $t^*$ the
membrane resets to ``Ireset``, the AHP jumps and the refractory period
$t_{ref} = V_{th}C_{ref}/I_{ref}$ starts, during which the membrane is held at reset (the
synapses keep integrating their input). A refractory period ending inside a step resumes the
integration for the rest of it. One spike per step at most: keep ``dt <= t_ref``.
"""

from __future__ import annotations

from typing import Optional

import equinox as eqx
import jax
import jax.numpy as jnp
from jax import lax
from jaxtyping import Array, Float

from ..._types import AbstractSurrogate
from ._circuit import DynapseParams
from ._translate import pulse_width, tau_from_itau

__all__ = [
    "DynapseCoeffs",
    "Solves",
    "DynapseState",
    "dynapse_derive",
    "dynapse_init_state",
    "dynapse_spike",
    "dynapse_step",
    "imem_from_z",
    "membrane_rhs",
    "vmem_from_imem",
    "z_from_imem",
]

_HALLEY_STEPS = 2

Synapses = tuple  # four (n,) arrays: AMPA, NMDA, GABA, SHUNT


class DynapseState(eqx.Module):
    """State of a population of DYNAP-SE2 neurons (every field ``(n,)``, currents in A)."""

    imem: Float[Array, " n"]
    """Membrane current, >= Io."""
    iampa: Float[Array, " n"]
    """AMPA synaptic current at the end of the last step, >= Io."""
    inmda: Float[Array, " n"]
    """NMDA synaptic current (before the voltage gate), >= Io."""
    igaba: Float[Array, " n"]
    """GABA synaptic current, >= Io."""
    ishunt: Float[Array, " n"]
    """SHUNT synaptic current, >= Io."""
    iahp: Float[Array, " n"]
    """Adaptation (AHP) current, >= Io."""
    t_ref: Float[Array, " n"]
    """Refractory time still to serve at the start of the next step (s), >= 0."""

    @property
    def isyn(self) -> Synapses:
        return (self.iampa, self.inmda, self.igaba, self.ishunt)


class DynapseCoeffs(eqx.Module):
    """Loop invariants derived once from :class:`DynapseParams` and ``dt`` (see :func:`dynapse_derive`).

    Per-synapse quantities are tuples of four ``(n,)`` arrays (AMPA, NMDA, GABA, SHUNT).
    """

    Io: Array
    Itau: Array
    Igain: Array
    gain: Array
    inv_tau: Array
    fb_exp: Array
    Idc: Array
    If_nmda: Array
    inv_tau_syn: Synapses
    syn_jump: Synapses
    syn_decay: Synapses
    inv_tau_ahp: Array
    ahp_jump: Array
    ahp_decay: Array
    t_ref: Array
    Ispkthr: Array
    Ireset: Array
    u_reset: Array
    u_thr: Array
    z_thr: Array
    vmem_scale: Array


def dynapse_derive(p: DynapseParams, dt: float) -> DynapseCoeffs:
    r"""Time constants, jump sizes and decay factors of one step of ``dt`` seconds."""
    kappa = p.kappa
    t_pulse = pulse_width(p.Ipulse, p.C_pulse, p.Vth)
    inv_tau_syn, syn_jump, syn_decay = [], [], []
    for name in ("ampa", "nmda", "gaba", "shunt"):
        itau, igain = getattr(p, f"Itau_{name}"), getattr(p, f"Igain_{name}")
        tau = tau_from_itau(itau, getattr(p, f"C_{name}"), kappa, p.Ut)
        inv_tau_syn.append(1.0 / tau)
        # Jump per unit input: (Igain/Itau) Iw (1 - exp(-t_pulse/tau)) with Iw = Iscale.
        syn_jump.append(igain / itau * p.Iscale * -jnp.expm1(-t_pulse / tau))
        syn_decay.append(jnp.exp(-dt / tau))
    tau_ahp = tau_from_itau(p.Itau_ahp, p.C_ahp, kappa, p.Ut)
    t_pulse_ahp = pulse_width(p.Ipulse_ahp, p.C_pulse_ahp, p.Vth)
    Ig = p.Igain_mem
    return DynapseCoeffs(
        Io=p.Io,
        Itau=p.Itau_mem,
        Igain=Ig,
        gain=Ig / p.Itau_mem,
        inv_tau=1.0 / tau_from_itau(p.Itau_mem, p.C_mem, kappa, p.Ut),
        fb_exp=kappa / (kappa + 1.0),
        Idc=p.Idc,
        If_nmda=p.If_nmda,
        inv_tau_syn=tuple(inv_tau_syn),
        syn_jump=tuple(syn_jump),
        syn_decay=tuple(syn_decay),
        inv_tau_ahp=1.0 / tau_ahp,
        ahp_jump=p.Igain_ahp / p.Itau_ahp * p.Iw_ahp * -jnp.expm1(-t_pulse_ahp / tau_ahp),
        ahp_decay=jnp.exp(-dt / tau_ahp),
        t_ref=pulse_width(p.Iref, p.C_ref, p.Vth),
        Ispkthr=p.Ispkthr,
        Ireset=p.Ireset,
        u_reset=jnp.log(p.Ireset / p.Io),
        u_thr=jnp.log(p.Ispkthr / p.Io),
        z_thr=p.Ispkthr + Ig * jnp.log(p.Ispkthr / p.Io),
        vmem_scale=p.Ut / kappa,
    )


def dynapse_init_state(p: DynapseParams) -> DynapseState:
    """Every current at the dark current ``Io``, no refractory period pending."""
    io = p.Io
    return DynapseState(imem=io, iampa=io, inmda=io, igaba=io, ishunt=io, iahp=io, t_ref=jnp.zeros_like(io))


def z_from_imem(c: DynapseCoeffs, imem: Array) -> Array:
    r"""$z = I_{mem} + I_g \ln(I_{mem}/I_o)$."""
    return imem + c.Igain * jnp.log(imem / c.Io)


@jax.custom_jvp
def _solve_u(z, Io, Ig):
    # u = ln(Imem/Io) solves g(u) = Io e^u + Ig u - z = 0. Both terms are positive for u >= 0,
    # so min(z/Ig, ln(z/Io)) is an upper bound of the root. Two Halley steps from there
    # (cubic convergence, one exp each) leave a relative error below 3e-6 in Imem over
    # Io..1e-6 A; Newton needs four.
    zz = jnp.maximum(z, Io)
    u = jnp.minimum(zz / Ig, jnp.log(zz / Io))
    for _ in range(_HALLEY_STEPS):
        e = Io * jnp.exp(u)
        g = e + Ig * u - zz
        dg = e + Ig
        u = u - 2.0 * g * dg / (2.0 * dg * dg - g * e)
    return jnp.maximum(u, 0.0)


def _implicit_du(z, Io, Ig, u, dz, dIo, dIg):
    e = Io * jnp.exp(u)
    # Implicit derivative of Io e^u + Ig u = z: (e + Ig) du = dz - e/Io dIo - u dIg.
    du = (dz - e / Io * dIo - u * dIg) / (e + Ig)
    return jnp.where(z > Io, du, 0.0)


@_solve_u.defjvp
def _solve_u_jvp(primals, tangents):
    z, Io, Ig = primals
    u = _solve_u(z, Io, Ig)
    return u, _implicit_du(z, Io, Ig, u, *tangents)


@jax.custom_jvp
def _known_u(z, Io, Ig, u):
    # The root of Io e^u + Ig u = z, already found (by the forward pass); only its derivative is
    # computed here.
    return u


@_known_u.defjvp
def _known_u_jvp(primals, tangents):
    z, Io, Ig, u = primals
    return u, _implicit_du(z, Io, Ig, u, *tangents[:3])


class Solves:
    r"""The membrane-current solves of one step: recorded, or replayed.

    A step run with ``Solves()`` records every $u = \ln(I_{mem}/I_o)$ it solves for
    (``.recorded``); run again with ``Solves(recorded)`` on the same inputs it takes those
    values instead of solving again, with the same derivative (the implicit-function rule).
    This is what makes the hand-written VJP of :class:`DynapSim` cheap: its backward pass
    replays the step without the Halley iterations. (Spike times are not recorded: the
    replay finds the same ones from the same values, at the cost of a few operations.)
    """

    def __init__(self, recorded=None):
        self.replay = None if recorded is None else list(recorded)
        self.recorded = []

    def imem_from_z(self, c: "DynapseCoeffs", z: Array) -> tuple[Array, Array]:
        if self.replay is None:
            imem, u = imem_from_z(c, z)
            self.recorded.append(lax.stop_gradient(u))
            return imem, u
        u = _known_u(z, c.Io, c.Igain, lax.stop_gradient(self.replay.pop(0)))
        return c.Io * jnp.exp(u), u


def imem_from_z(c: DynapseCoeffs, z: Array) -> tuple[Array, Array]:
    """Membrane current (A) and $u = \\ln(I_{mem}/I_o)$ from $z$ (floored at ``Io``)."""
    u = _solve_u(z, c.Io, c.Igain)
    return c.Io * jnp.exp(u), u


def vmem_from_imem(c: DynapseCoeffs, imem: Array) -> Array:
    r"""Membrane voltage $V_{mem} = \frac{U_T}{\kappa}\ln(I_{mem}/I_o)$ in V."""
    return c.vmem_scale * jnp.log(imem / c.Io)


def membrane_rhs(c: DynapseCoeffs, imem: Array, u: Array, isyn: Synapses, iahp: Array) -> Array:
    r"""The right-hand side of the DPI neuron equation (A), i.e. $\tau\,dz/dt$.

    ``isyn``: the four synaptic currents (AMPA, NMDA, GABA, SHUNT); ``u = ln(imem/Io)``.
    """
    i_ampa, i_nmda, i_gaba, i_shunt = isyn
    nmda = i_nmda / (1.0 + c.If_nmda / imem)
    i_in = jnp.maximum(c.Idc + i_ampa + nmda - i_shunt, 0.0)
    leak = iahp + i_gaba
    i_inf = c.gain * (i_in - leak - c.Itau)
    i_fb = c.Io * jnp.exp(c.fb_exp * u)
    feedback = i_fb / c.Itau * (imem + c.Igain)
    return i_inf + feedback - imem * (1.0 + leak / c.Itau)


def _decayed(c, current, inv_tau, t):
    return jnp.maximum(c.Io, current * jnp.exp(-t * inv_tau))


def _dzdt(c, z, imem, u, syn, ahp):
    r = membrane_rhs(c, imem, u, syn, ahp) * c.inv_tau
    # At the floor the current cannot fall further.
    return jnp.where((z <= c.Io) & (r < 0), 0.0, r)


def _segment(c, imem0, u0, t0, t1, inputs_at, method, solves):
    """Integrate z from t0 to t1 (per neuron, inside one step); returns z(t0), z(t1), dz/dt(t0).

    The segment starts from a known membrane current ``imem0`` (``u0 = ln(imem0/Io)``), so its
    first stage needs no solve. ``inputs_at(t)`` gives the synaptic and AHP currents at time t.
    """
    h = t1 - t0
    z0 = imem0 + c.Igain * u0

    def stage(z, t):
        imem, u = solves.imem_from_z(c, z)
        return _dzdt(c, z, imem, u, *inputs_at(t))

    k1 = _dzdt(c, z0, imem0, u0, *inputs_at(t0))
    if method == "heun":
        k2 = stage(z0 + h * k1, t1)
        z1 = z0 + 0.5 * h * (k1 + k2)
    elif method == "rk4":
        tm = t0 + 0.5 * h
        k2 = stage(z0 + 0.5 * h * k1, tm)
        k3 = stage(z0 + 0.5 * h * k2, tm)
        k4 = stage(z0 + h * k3, t1)
        z1 = z0 + h / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
    elif method == "euler":
        z1 = z0 + h * k1
    else:  # pragma: no cover - checked by the module
        raise ValueError(f"unknown integration method {method!r}")
    return z0, jnp.maximum(z1, c.Io), k1


def _crossing_fraction(z0, slope0, z1, z_thr, h):
    r"""Fraction $s \in [0, 1]$ of the segment where the quadratic through $z_0$ (slope
    $\dot z_0$) and $z_1$ reaches $z_{thr}$: the root of $A s^2 + B s = z_{thr} - z_0$,
    $s = 2R/(B + \sqrt{B^2 + 4AR})$ with $R = z_{thr} - z_0$ (the form without cancellation).

    Spike times are detached from the gradient, so no guard against inf/NaN in derivatives is
    needed here: fewer branches, and XLA fuses the step into fewer loops.
    """
    b = slope0 * h
    a = z1 - z0 - b
    rise = z_thr - z0
    root = jnp.sqrt(jnp.maximum(b * b + 4.0 * a * rise, 0.0))
    return jnp.clip(2.0 * rise / jnp.maximum(b + root, jnp.finfo(root.dtype).tiny), 0.0, 1.0)


@jax.custom_jvp
def _relu_spike(imem, Ispkthr, Ireset, count):
    return count


@_relu_spike.defjvp
def _relu_spike_jvp(primals, tangents):
    imem, Ispkthr, Ireset, count = primals
    dimem, dthr, _, _ = tangents
    # The DYNAP-SE tutorial's derivative is 1 wherever Imem > Ireset, in spikes per ampere,
    # which makes gradients ~1e-7 of useful size. Divided by Ispkthr it becomes "raising Imem by
    # one threshold current is worth one spike", the same shape at a useful scale.
    active = (imem > Ireset).astype(imem.dtype)
    return count, active * (dimem - dthr) / Ispkthr


def dynapse_spike(
    c: DynapseCoeffs,
    imem_end: Array,
    u_end: Array,
    *,
    spike_fn: Optional[AbstractSurrogate],
    multi_spike: bool,
    max_spikes_per_dt: float,
) -> Array:
    r"""Spike output from the step-end membrane current (before any reset), with its surrogate.

    Forward: 1 where $I_{mem}$ reached ``Ispkthr`` (binary), or
    $\mathrm{clip}(\lceil \ln(I_{mem}/I_{spkthr}) \rceil, 0, S_{max})$ with ``multi_spike``.
    Backward: ``spike_fn=None`` gives the DYNAP-SE tutorial's ReLU-like derivative,
    $\partial S/\partial I_{mem} = [I_{mem} > I_{reset}]/I_{spkthr}$; any :mod:`spikax.surrogate`
    family is applied to $u = \ln(I_{mem}/I_o)$ against $u_{thr} = \ln(I_{spkthr}/I_o)$ (one unit is
    one e-fold of current, $U_T/\kappa$ of membrane voltage).
    """
    if multi_spike:
        count = jnp.clip(jnp.ceil(jnp.log(imem_end / c.Ispkthr)), 0.0, max_spikes_per_dt)
    else:
        count = (imem_end >= c.Ispkthr).astype(imem_end.dtype)
    count = lax.stop_gradient(count)
    if spike_fn is None:
        return _relu_spike(imem_end, c.Ispkthr, c.Ireset, count)
    surrogate = spike_fn(u_end, c.u_thr, ">=")
    # Forward value of ``count``, derivative of the chosen family.
    return count + (surrogate - lax.stop_gradient(surrogate))


def dynapse_step(
    c: DynapseCoeffs,
    state: DynapseState,
    x: Synapses,
    *,
    dt: float,
    method: str = "heun",
    spike_fn: Optional[AbstractSurrogate] = None,
    multi_spike: bool = False,
    max_spikes_per_dt: float = 2.0**16,
    resume_in_step: bool = True,
    solves: Optional[Solves] = None,
) -> tuple[DynapseState, Float[Array, " n"], Float[Array, " n"]]:
    """One step of ``dt`` seconds.

    ``x``: the input of the step, four ``(n,)`` arrays (AMPA, NMDA, GABA, SHUNT) of weighted
    spike counts >= 0, ``None`` where a synapse type gets no input.

    ``resume_in_step=False`` skips integrating after a refractory period that ends inside the
    step, which cannot happen when every ``t_ref >= dt`` (the default chip set-up): it saves a
    second integration per step.

    Gradients: the timing of spikes inside the step and of refractory periods is treated as a
    constant (a detached reset, in surrogate-gradient terms); everything else is differentiated.

    ``solves``: a :class:`Solves` that records (or replays) the step's root solves; a fresh
    one by default.

    Returns ``(state, spikes, imem_end)``; ``imem_end`` is the membrane current at the end of
    the step before any reset (what the surrogate sees).
    """
    solves = Solves() if solves is None else solves
    io = c.Io
    syn0 = tuple(i if xk is None else i + jump * xk for i, jump, xk in zip(state.isyn, c.syn_jump, x))
    syn_end = tuple(jnp.maximum(io, i * d) for i, d in zip(syn0, c.syn_decay))
    ahp_end = jnp.maximum(io, state.iahp * c.ahp_decay)
    dt_arr = jnp.full_like(io, dt)

    def syn_at(t):
        # At the step end the decay factors are precomputed.
        return syn_end if t is dt_arr else tuple(_decayed(c, i, k, t) for i, k in zip(syn0, c.inv_tau_syn))

    def inputs_before_spike(t):
        return syn_at(t), ahp_end if t is dt_arr else _decayed(c, state.iahp, c.inv_tau_ahp, t)

    # Refractory at the start of the step: the membrane is held at reset until `start`.
    # Timing of resets and refractory periods is bookkeeping for the gradient: detached (as a
    # detached reset in surrogate-gradient training), which also halves the backward pass.
    start = lax.stop_gradient(jnp.minimum(state.t_ref, dt))
    imem_start = jnp.where(state.t_ref > 0, c.Ireset, state.imem)
    u_start = jnp.log(imem_start / io)
    z_start, z_end, slope0 = _segment(c, imem_start, u_start, start, dt_arr, inputs_before_spike, method, solves)
    imem_end, u_end = solves.imem_from_z(c, z_end)
    spikes = dynapse_spike(
        c, imem_end, u_end, spike_fn=spike_fn, multi_spike=multi_spike, max_spikes_per_dt=max_spikes_per_dt
    )
    crossed = lax.stop_gradient(spikes) > 0

    if multi_spike:
        # Training aid: the spike (or spikes) happen at the end of the step.
        t_spike = dt_arr
        n_events = lax.stop_gradient(spikes)
    else:
        frac = _crossing_fraction(z_start, slope0, z_end, c.z_thr, dt - start)
        t_spike = lax.stop_gradient(start + frac * (dt - start))
        n_events = 1.0
    # One exponential for both sides of the spike: e^{-(dt - t*)/tau} and, from the precomputed
    # e^{-dt/tau}, e^{-t*/tau} = e^{-dt/tau} / e^{-(dt - t*)/tau} (exact; both vanish together
    # when tau << dt, hence the guard).
    ahp_after = jnp.exp(-(dt - t_spike) * c.inv_tau_ahp)
    ahp_before = c.ahp_decay / jnp.maximum(ahp_after, jnp.finfo(ahp_after.dtype).tiny)
    ahp_at_spike = jnp.maximum(io, state.iahp * ahp_before) + n_events * c.ahp_jump
    resume = t_spike + c.t_ref
    imem_after = c.Ireset
    if resume_in_step and not multi_spike:
        # A refractory period that ends inside the step resumes integration until its end.
        def inputs_after_spike(t):
            return syn_at(t), _decayed(c, ahp_at_spike, c.inv_tau_ahp, t - t_spike)

        _, z_resumed, _ = _segment(
            c, c.Ireset, c.u_reset, jnp.minimum(resume, dt_arr), dt_arr, inputs_after_spike, method, solves
        )
        imem_after = jnp.where(resume < dt, solves.imem_from_z(c, z_resumed)[0], c.Ireset)

    new = DynapseState(
        imem=jnp.where(crossed, imem_after, imem_end),
        iampa=syn_end[0],
        inmda=syn_end[1],
        igaba=syn_end[2],
        ishunt=syn_end[3],
        iahp=jnp.where(crossed, jnp.maximum(io, ahp_at_spike * ahp_after), ahp_end),
        t_ref=jnp.where(crossed, jnp.maximum(resume - dt, 0.0), jnp.maximum(state.t_ref - dt, 0.0)),
    )
    return new, spikes, imem_end
