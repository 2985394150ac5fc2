r"""DYNAP-SE2 neuron dynamics: four DPI synapses, AHP, DPI membrane, spikes, refractory period.

The step is charge / fire / reset over pure functions: :func:`dynapse_derive` (loop invariants),
:func:`dynapse_charge` (synapses and membrane over the step), :func:`dynapse_fire` (the spike
and its surrogate) and :func:`dynapse_reset` (reset at the located crossing, AHP jump,
refractory period). All currents in A, times in s, per neuron (shape ``(n,)``); per-synapse
quantities are :class:`Synapses` (AMPA, NMDA, GABA, SHUNT). With $\kappa = (\kappa_n + \kappa_p)/2$
and $I_o$ the dark current, which floors every
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
integration for the rest of it (decided when the model runs, from the parameters). One spike
per step at most: keep ``dt <= t_ref``.

**Gradients.** The timing of spikes inside the step and of refractory periods is treated as a
constant (a detached reset, in surrogate-gradient terms); everything else is differentiated.
Each solved $u = \ln(I_{mem}/I_o)$ is marked for :class:`spikax.ReplayAdjoint`.
"""

from __future__ import annotations

from typing import Optional, Union

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jaxtyping import Array, ArrayLike, Float

from ..._adjoint import mark_root
from ..._types import AbstractSurrogate
from ..._validate import is_concrete
from ...surrogate import DEFAULT_MAX_SPIKES_PER_DT, FastSigmoid
from ._circuit import SYNAPSES, DynapseParams, Synapses
from ._translate import pulse_width, tau_from_itau

__all__ = [
    "DEFAULT_SPIKE_FN",
    "METHODS",
    "DynapseCharged",
    "DynapseCoeffs",
    "DynapseState",
    "dpi_jump",
    "dynapse_charge",
    "dynapse_derive",
    "dynapse_fire",
    "dynapse_init_state",
    "dynapse_reset",
    "dynapse_spike",
    "imem_from_z",
    "membrane_rhs",
    "short_refractory",
    "vmem_from_imem",
    "z_from_imem",
]

#: DynapSim's default surrogate: the fast sigmoid of slope 25 per e-fold of membrane current,
#: applied to $u = \ln(I_{mem}/I_o)$ (see :func:`dynapse_spike` for why it is this narrow).
DEFAULT_SPIKE_FN = FastSigmoid(25.0)
#: Integration methods of the membrane equation (stages per step: 1, 2, 4).
METHODS = ("heun", "rk4", "euler")
#: Halley iterations of the membrane-current solve (3e-6 relative error in Imem over Io..1e-6 A).
_HALLEY_STEPS = 2
#: Relative tolerance of "the refractory period ends inside the step": the default
#: t_ref = Vth C_ref / Iref is 0.9999999 ms in float32, and a resumed segment of at most 0.1 ns
#: would cost a second integration in every step for nothing.
_T_REF_RTOL = 1e-6


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
        """The four synaptic currents."""
        return Synapses(self.iampa, self.inmda, self.igaba, self.ishunt)


class DynapseCoeffs(eqx.Module):
    """Loop invariants derived once from :class:`DynapseParams` and ``dt`` (see :func:`dynapse_derive`)."""

    Io: ArrayLike
    Itau: ArrayLike
    Igain: ArrayLike
    gain: ArrayLike
    inv_tau: ArrayLike
    fb_exp: ArrayLike
    Idc: ArrayLike
    If_nmda: ArrayLike
    inv_tau_syn: Synapses
    syn_jump: Synapses
    syn_decay: Synapses
    inv_tau_ahp: ArrayLike
    ahp_jump: ArrayLike
    ahp_decay: ArrayLike
    t_ref: ArrayLike
    short_refractory: Union[bool, ArrayLike]
    """Whether some refractory period ends inside a step (then the integration resumes there)."""
    Ispkthr: ArrayLike
    Ireset: ArrayLike
    u_reset: ArrayLike
    u_thr: ArrayLike
    z_thr: ArrayLike
    vmem_scale: ArrayLike
    dt: float = eqx.field(static=True)
    method: str = eqx.field(static=True)
    multi_spike: bool = eqx.field(static=True)
    max_spikes_per_dt: float = eqx.field(static=True)


class DynapseCharged(eqx.Module):
    """The step after the charge stage: what fire and reset need (every field ``(n,)``)."""

    imem: ArrayLike
    """Membrane current at the end of the step, before any reset (what the surrogate sees)."""
    u: ArrayLike
    """$\\ln(I_{mem}/I_o)$ of ``imem``."""
    z_start: ArrayLike
    """$z$ where the integration started (the step start, or the end of a refractory period)."""
    z_end: ArrayLike
    slope: ArrayLike
    """$dz/dt$ at ``start``."""
    start: ArrayLike
    """Time (s into the step) where the integration started."""
    syn_start: Synapses
    """Synaptic currents at the step start, after the input jumps."""
    syn_end: Synapses
    iahp_start: ArrayLike
    iahp_end: ArrayLike
    """The AHP current at the step end without a spike."""
    t_ref: ArrayLike
    """Refractory time pending at the step start."""


def dpi_jump(Igain: ArrayLike, Itau: ArrayLike, Iw: ArrayLike, t_pulse: ArrayLike, tau: ArrayLike) -> ArrayLike:
    r"""Jump of a DPI current for a pulse of weight current $I_w$ and width $t_{pulse}$:
    $\frac{I_{gain}}{I_\tau} I_w (1 - e^{-t_{pulse}/\tau})$ (Bartolozzi & Indiveri 2007)."""
    return Igain / Itau * Iw * -jnp.expm1(-t_pulse / tau)


def dynapse_derive(
    p: DynapseParams,
    dt: float,
    *,
    method: str = "heun",
    multi_spike: bool = False,
    max_spikes_per_dt: float = DEFAULT_MAX_SPIKES_PER_DT,
) -> DynapseCoeffs:
    r"""Time constants, jump sizes and decay factors of one step of ``dt`` seconds.

    ``method`` (``"heun"``, ``"rk4"``, ``"euler"``), ``multi_spike`` and ``max_spikes_per_dt``
    are the model's static configuration, carried along for the stages.
    """
    kappa = p.kappa
    t_pulse = pulse_width(p.Ipulse, p.C_pulse, p.Vth)
    taus = Synapses(
        *(tau_from_itau(getattr(p, f"Itau_{name}"), getattr(p, f"C_{name}"), kappa, p.Ut) for name in SYNAPSES)
    )
    # The jump per unit input: a unit input sets the weight current Iw = Iscale.
    jumps = Synapses(
        *(
            dpi_jump(getattr(p, f"Igain_{name}"), getattr(p, f"Itau_{name}"), p.Iscale, t_pulse, tau)
            for name, tau in zip(SYNAPSES, taus.values())
        )
    )
    tau_ahp = tau_from_itau(p.Itau_ahp, p.C_ahp, kappa, p.Ut)
    t_pulse_ahp = pulse_width(p.Ipulse_ahp, p.C_pulse_ahp, p.Vth)
    t_ref = pulse_width(p.Iref, p.C_ref, p.Vth)
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
        inv_tau_syn=jax.tree.map(lambda tau: 1.0 / tau, taus),
        syn_jump=jumps,
        syn_decay=jax.tree.map(lambda tau: jnp.exp(-dt / tau), taus),
        inv_tau_ahp=1.0 / tau_ahp,
        ahp_jump=dpi_jump(p.Igain_ahp, p.Itau_ahp, p.Iw_ahp, t_pulse_ahp, tau_ahp),
        ahp_decay=jnp.exp(-dt / tau_ahp),
        t_ref=t_ref,
        short_refractory=short_refractory(p, dt),
        Ispkthr=p.Ispkthr,
        Ireset=p.Ireset,
        u_reset=jnp.log(p.Ireset / p.Io),
        u_thr=jnp.log(p.Ispkthr / p.Io),
        z_thr=p.Ispkthr + Ig * jnp.log(p.Ispkthr / p.Io),
        vmem_scale=p.Ut / kappa,
        dt=float(dt),
        method=method,
        multi_spike=bool(multi_spike),
        max_spikes_per_dt=float(max_spikes_per_dt),
    )



def short_refractory(p: DynapseParams, dt: float):
    """Whether some refractory period $t_{ref} = V_{th} C_{ref}/I_{ref}$ ends inside a step of
    ``dt``: a Python bool when the parameters are known (then only one reset variant is traced),
    else a traced bool for ``lax.cond``."""
    leaves = (p.Iref, p.C_ref, p.Vth)
    if all(is_concrete(leaf) for leaf in leaves):
        t_ref = pulse_width(*(np.asarray(leaf) for leaf in leaves))
        return bool(np.any(t_ref < dt * (1 - _T_REF_RTOL)))
    return jnp.any(pulse_width(*leaves) < dt * (1 - _T_REF_RTOL))


def dynapse_init_state(p: DynapseParams) -> DynapseState:
    """Every current at the dark current ``Io``, no refractory period pending."""
    io = p.Io
    return DynapseState(imem=io, iampa=io, inmda=io, igaba=io, ishunt=io, iahp=io, t_ref=jnp.zeros_like(io))


def z_from_imem(c: DynapseCoeffs, imem: Float[Array, " n"]) -> Float[Array, " n"]:
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


@_solve_u.defjvp
def _solve_u_jvp(primals, tangents):
    z, Io, Ig = primals
    dz, dIo, dIg = tangents
    # Marked here too: the tangent reads this u, so it is the value ReplayAdjoint must keep
    # (otherwise the backward pass would solve again to get it).
    u = mark_root(_solve_u(z, Io, Ig))
    e = Io * jnp.exp(u)
    # Implicit derivative of Io e^u + Ig u = z: (e + Ig) du = dz - e/Io dIo - u dIg.
    du = (dz - e / Io * dIo - u * dIg) / (e + Ig)
    return u, jnp.where(z > Io, du, 0.0)


def imem_from_z(c: DynapseCoeffs, z: Float[Array, " n"]) -> tuple[Float[Array, " n"], Float[Array, " n"]]:
    """Membrane current (A) and $u = \\ln(I_{mem}/I_o)$ from $z$ (floored at ``Io``).

    $u$ is marked as a root solve (:func:`spikax.mark_root`): :class:`spikax.ReplayAdjoint`
    keeps it instead of repeating the Halley iterations in the backward pass.
    """
    u = mark_root(_solve_u(z, c.Io, c.Igain))
    return c.Io * jnp.exp(u), u


def vmem_from_imem(c: DynapseCoeffs, imem: Float[Array, "*time n"]) -> Float[Array, "*time n"]:
    r"""Membrane voltage $V_{mem} = \frac{U_T}{\kappa}\ln(I_{mem}/I_o)$ in V."""
    return c.vmem_scale * jnp.log(imem / c.Io)


def membrane_rhs(
    c: DynapseCoeffs, imem: Float[Array, " n"], u: Float[Array, " n"], isyn: Synapses, iahp: Float[Array, " n"]
) -> Float[Array, " n"]:
    r"""The right-hand side of the DPI neuron equation (A), i.e. $\tau\,dz/dt$.

    ``isyn``: the four synaptic currents; ``u = ln(imem/Io)``.
    """
    nmda = isyn.nmda / (1.0 + c.If_nmda / imem)
    i_in = jnp.maximum(c.Idc + isyn.ampa + nmda - isyn.shunt, 0.0)
    leak = iahp + isyn.gaba
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


def _segment(c, imem0, u0, t0, t1, inputs_at):
    """Integrate z from t0 to t1 (per neuron, inside one step); returns z(t0), z(t1), dz/dt(t0).

    The segment starts from a known membrane current ``imem0`` (``u0 = ln(imem0/Io)``), so its
    first stage needs no solve. ``inputs_at(t)`` gives the synaptic and AHP currents at time t.
    """
    h = t1 - t0
    z0 = imem0 + c.Igain * u0

    def stage(z, t):
        imem, u = imem_from_z(c, z)
        return _dzdt(c, z, imem, u, *inputs_at(t))

    k1 = _dzdt(c, z0, imem0, u0, *inputs_at(t0))
    if c.method == "heun":
        k2 = stage(z0 + h * k1, t1)
        z1 = z0 + 0.5 * h * (k1 + k2)
    elif c.method == "rk4":
        tm = t0 + 0.5 * h
        k2 = stage(z0 + 0.5 * h * k1, tm)
        k3 = stage(z0 + 0.5 * h * k2, tm)
        k4 = stage(z0 + h * k3, t1)
        z1 = z0 + h / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
    elif c.method == "euler":
        z1 = z0 + h * k1
    else:  # pragma: no cover - checked by the module
        raise ValueError(f"unknown integration method {c.method!r}")
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
    imem_end: Float[Array, " n"],
    u_end: Float[Array, " n"],
    *,
    spike_fn: Optional[AbstractSurrogate],
    multi_spike: bool,
    max_spikes_per_dt: float,
) -> Float[Array, " n"]:
    r"""Spike output from the step-end membrane current (before any reset), with its surrogate.

    Forward: 1 where $I_{mem}$ reached ``Ispkthr`` (binary), or
    $\mathrm{clip}(\lceil \ln(I_{mem}/I_{spkthr}) \rceil, 0, S_{max})$ with ``multi_spike``.

    Backward: a :mod:`spikax.surrogate` family ``spike_fn`` is applied to
    $u = \ln(I_{mem}/I_o)$ against $u_{thr} = \ln(I_{spkthr}/I_o)$ (one unit is one e-fold of
    current, $U_T/\kappa$ of membrane voltage); DynapSim's default is
    :data:`DEFAULT_SPIKE_FN`, $\partial S/\partial u = 1/(1 + 25|u - u_{thr}|)^2$.
    ``spike_fn=None`` gives the DYNAP-SE tutorial's ReLU-like derivative,
    $\partial S/\partial I_{mem} = [I_{mem} > I_{reset}]/I_{spkthr}$: feed-forward networks only.

    Why the default is narrow: with recurrent connections the backward pass is a linear
    recursion around the loop spike → synapse → membrane → spike, in which every step's
    surrogate derivative acts as a fraction of a spike delivered to the targets. A unit spike
    through an AMPA weight $w$ adds $w\,J$ to the target's synaptic current
    ($J \approx 10^{-9}$ A at the defaults), which the membrane amplifies by about
    $I_g/I_\tau = 4$. The tutorial's derivative is $1/I_{spkthr}$ in *every* step where
    $I_{mem} > I_{reset}$, i.e. through the whole inter-spike interval, so the loop gain
    summed over the 10 ms AMPA decay is about $0.4\,w$ before the membrane's positive feedback
    amplifies it further: above $w \approx 1$ the gradient grows about 1000-fold per 50 ms and
    overflows float32 to inf and NaN within 0.5 s (measured: 8 of 10 draws NaN at $w = 2$,
    all at $w = 5$). A wide family on $u$ fails the same way from the other end: right after
    a reset ($I_{mem} = I_{reset} = 5\cdot 10^{-13}$ A, $u - u_{thr} \approx -12$) one synaptic jump
    of $\sim 10^{-9}$ A moves $u$ by several e-folds, so the derivative's tail there decides the
    gain (Triangle, Sigmoid(4), ArcTan(2), FastSigmoid(5) all overflow in 0.5-2 s at
    $w = 2..10$). The fast sigmoid of slope 25 is $1/(1 + 25 \cdot 12)^2 \approx 10^{-5}$ at the reset
    and keeps the recursion contracting: over 2 s with recurrent AMPA weights up to 10 and 30 %
    mismatch, 1-16 neurons, every gradient stayed finite and below 60 (max |d count/d w_in| 18-49
    over 40 draws of the reproduction below, depending on the method; ``tests/test_dynapse.py``
    asserts < 100).
    """
    if multi_spike:
        count = jnp.clip(jnp.ceil(jnp.log(imem_end / c.Ispkthr)), 0.0, max_spikes_per_dt)
    else:
        count = (imem_end >= c.Ispkthr).astype(imem_end.dtype)
    # 0 * imem: a membrane current that became NaN or inf shows as a NaN spike, not silence.
    count = lax.stop_gradient(count + 0.0 * imem_end)
    if spike_fn is None:
        return _relu_spike(imem_end, c.Ispkthr, c.Ireset, count)
    return _with_surrogate(count, u_end, c.u_thr, spike_fn)


@jax.custom_jvp
def _with_surrogate(count, u, u_thr, spike_fn):
    # The value is ``count``; the surrogate family enters the tangent only. (Adding
    # ``surrogate - stop_gradient(surrogate)`` instead leaves the surrogate's forward pass in
    # every compiled step, since XLA cannot fold x - x for floats: ~20 % of a forward call.)
    return count


@_with_surrogate.defjvp
def _with_surrogate_jvp(primals, tangents):
    count, u, u_thr, spike_fn = primals
    _, du, dthr, _ = tangents
    _, ds = jax.jvp(lambda u, thr: spike_fn(u, thr, ">="), (u, u_thr), (du, dthr))
    return count, ds.astype(count.dtype)


def dynapse_charge(c: DynapseCoeffs, state: DynapseState, x: Synapses) -> DynapseCharged:
    """The charge stage: every synapse takes its input and decays, the membrane integrates.

    ``x``: the step's input, weighted spike counts >= 0 per synapse type (``None`` where a type
    gets no input). A refractory period pending at the start holds the membrane at reset until
    it ends; the integration runs from there to the end of the step (one Heun or RK4 step).
    """
    io = c.Io
    syn_start = Synapses(
        *(
            i if xk is None else i + jump * xk
            for i, jump, xk in zip(state.isyn.values(), c.syn_jump.values(), x.values())
        )
    )
    syn_end = jax.tree.map(lambda i, d: jnp.maximum(io, i * d), syn_start, c.syn_decay)
    ahp_end = jnp.maximum(io, state.iahp * c.ahp_decay)
    end = jnp.full_like(io, c.dt)

    def inputs_at(t):
        # At the step end the decays are precomputed (``end`` is passed by identity).
        if t is end:
            return syn_end, ahp_end
        syn = jax.tree.map(lambda i, k: _decayed(c, i, k, t), syn_start, c.inv_tau_syn)
        return syn, _decayed(c, state.iahp, c.inv_tau_ahp, t)

    # Timing of resets and refractory periods is bookkeeping for the gradient: detached (as a
    # detached reset in surrogate-gradient training), which also halves the backward pass.
    start = lax.stop_gradient(jnp.minimum(state.t_ref, c.dt))
    imem_start = jnp.where(state.t_ref > 0, c.Ireset, state.imem)
    z_start, z_end, slope = _segment(c, imem_start, jnp.log(imem_start / io), start, end, inputs_at)
    imem_end, u_end = imem_from_z(c, z_end)
    return DynapseCharged(
        imem=imem_end, u=u_end, z_start=z_start, z_end=z_end, slope=slope, start=start,
        syn_start=syn_start, syn_end=syn_end, iahp_start=state.iahp, iahp_end=ahp_end, t_ref=state.t_ref,
    )


def dynapse_fire(
    c: DynapseCoeffs, h: DynapseCharged, spike_fn: Optional[AbstractSurrogate] = DEFAULT_SPIKE_FN
) -> Float[Array, " n"]:
    """The fire stage: :func:`dynapse_spike` of the step-end membrane current."""
    return dynapse_spike(
        c, h.imem, h.u, spike_fn=spike_fn, multi_spike=c.multi_spike, max_spikes_per_dt=c.max_spikes_per_dt
    )


def dynapse_reset(c: DynapseCoeffs, h: DynapseCharged, spikes: Float[Array, " n"]) -> DynapseState:
    """The reset stage: where a neuron fired, reset at the located crossing and start the refractory period.

    At the crossing time $t^*$ the membrane resets to ``Ireset`` and the AHP jumps; the
    refractory period runs from $t^*$. Where it ends inside the step, the integration resumes
    for the rest of the step. That second integration is only run when some ``t_ref < dt``,
    decided from the coefficients (a ``lax.cond`` around the whole stage, so each branch stays
    one fused computation): the choice always follows the parameters the model runs with.
    """
    if c.multi_spike:
        return _reset(c, h, spikes, resume=False)
    if isinstance(c.short_refractory, bool) or is_concrete(c.short_refractory):
        # Parameters known (an eager call, or a model closed over by jit): decide here rather
        # than trace both branches.
        return _reset(c, h, spikes, resume=bool(c.short_refractory))
    return lax.cond(
        c.short_refractory,
        lambda h, s: _reset(c, h, s, resume=True),
        lambda h, s: _reset(c, h, s, resume=False),
        h,
        spikes,
    )


def _reset(c: DynapseCoeffs, h: DynapseCharged, spikes: Array, *, resume: bool) -> DynapseState:
    io, dt = c.Io, c.dt
    end = jnp.full_like(io, dt)
    crossed = lax.stop_gradient(spikes) > 0
    if c.multi_spike:
        # Training aid: the spike (or spikes) happen at the end of the step.
        t_spike = end
        n_events = lax.stop_gradient(spikes)
    else:
        frac = _crossing_fraction(h.z_start, h.slope, h.z_end, c.z_thr, dt - h.start)
        t_spike = lax.stop_gradient(h.start + frac * (dt - h.start))
        n_events = 1.0
    # One exponential for both sides of the spike: e^{-(dt - t*)/tau} and, from the precomputed
    # e^{-dt/tau}, e^{-t*/tau} = e^{-dt/tau} / e^{-(dt - t*)/tau} (exact; both vanish together
    # when tau << dt, hence the guard).
    ahp_after = jnp.exp(-(dt - t_spike) * c.inv_tau_ahp)
    ahp_before = c.ahp_decay / jnp.maximum(ahp_after, jnp.finfo(ahp_after.dtype).tiny)
    ahp_at_spike = jnp.maximum(io, h.iahp_start * ahp_before) + n_events * c.ahp_jump
    t_resume = t_spike + c.t_ref
    imem_after = c.Ireset
    if resume:
        # A refractory period that ends inside the step resumes integration until its end.
        def inputs_at(t):
            syn = h.syn_end if t is end else jax.tree.map(lambda i, k: _decayed(c, i, k, t), h.syn_start, c.inv_tau_syn)
            return syn, _decayed(c, ahp_at_spike, c.inv_tau_ahp, t - t_spike)

        _, z_resumed, _ = _segment(c, c.Ireset, c.u_reset, jnp.minimum(t_resume, end), end, inputs_at)
        imem_after = jnp.where(t_resume < dt, imem_from_z(c, z_resumed)[0], c.Ireset)
    return DynapseState(
        imem=jnp.where(crossed, imem_after, h.imem),
        iampa=h.syn_end.ampa,
        inmda=h.syn_end.nmda,
        igaba=h.syn_end.gaba,
        ishunt=h.syn_end.shunt,
        iahp=jnp.where(crossed, jnp.maximum(io, ahp_at_spike * ahp_after), h.iahp_end),
        t_ref=jnp.where(crossed, jnp.maximum(t_resume - dt, 0.0), jnp.maximum(h.t_ref - dt, 0.0)),
    )
