r"""Izhikevich's (2003) simple model, with the named cell classes of the paper's Fig. 2."""

from __future__ import annotations

from typing import Optional

import equinox as eqx
import jax.numpy as jnp
from jax import lax
from jaxtyping import Array, ArrayLike, Float

from .._adjoint import AbstractAdjoint
from .._types import AbstractSurrogate, Key, ParamLike
from .._validate import as_param, check_choice, check_count, check_dt
from ..surrogate import FastSigmoid
from ._base import AbstractSpikingNeuron, check_params, check_step_shape, configure, fixed_threshold, sequence

__all__ = [
    "IZHIKEVICH_PRESETS",
    "Izhikevich",
    "IzhikevichParams",
    "IzhikevichCoeffs",
    "IzhikevichState",
    "izhikevich_charge",
    "izhikevich_derive",
    "izhikevich_on_spike",
    "izhikevich_rest",
]

#: Largest step (s) forward Euler takes through the model's quadratic upswing without diverging.
MAX_DT = 1e-3

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

    a: Float[ArrayLike, " n"]
    """Recovery rate of u (1/ms), > 0."""
    b: Float[ArrayLike, " n"]
    """Sensitivity of u to sub-threshold v."""
    v_reset: Float[ArrayLike, " n"]
    """Reset potential after a spike (mV): the paper's $c$."""
    d: Float[ArrayLike, " n"]
    """Jump of u after a spike (mV/ms)."""
    v_threshold: Float[ArrayLike, " n"]
    """Spike cut-off (mV; 30 in the paper): a spike is $v \\ge v_{threshold}$."""


class IzhikevichState(eqx.Module):
    """State of :class:`Izhikevich` (``(n,)`` each)."""

    v: Float[Array, " n"]
    """Membrane potential (mV)."""
    u: Float[Array, " n"]
    """Recovery variable (mV/ms)."""


class IzhikevichCoeffs(eqx.Module):
    """Loop invariants of :class:`Izhikevich`: the parameters, the step in ms, and whether the
    recovery variable's update passes the gradient of $v$ (:func:`izhikevich_charge`)."""

    dt_ms: float = eqx.field(static=True)
    a: ArrayLike
    b: ArrayLike
    v_reset: ArrayLike
    d: ArrayLike
    v_threshold: ArrayLike
    detach_adaptation: bool = eqx.field(static=True, default=True)


def izhikevich_derive(params: IzhikevichParams, dt: float, *, detach_adaptation: bool = True) -> IzhikevichCoeffs:
    """The parameters with the step converted to the model's milliseconds."""
    return IzhikevichCoeffs(
        dt_ms=dt * 1e3, a=params.a, b=params.b, v_reset=params.v_reset, d=params.d, v_threshold=params.v_threshold,
        detach_adaptation=detach_adaptation,
    )


def izhikevich_charge(coeffs: IzhikevichCoeffs, state: IzhikevichState, x: Float[Array, " n"]) -> IzhikevichState:
    r"""One step of $\dot v = 0.04 v^2 + 5 v + 140 - u + I$, $\dot u = a (b v - u)$ (t in ms).

    Forward Euler for $v$ with the old $u$, then $u$ with the new $v$ (the order of the
    paper's reference code):

    $$H = v + dt\,(0.04 v^2 + 5 v + 140 - u + I),\qquad u' = u + dt\,a\,(b H - u).$$

    With ``coeffs.detach_adaptation`` (the default) $u'$ reads $H$'s value but not its
    gradient, $\partial u'/\partial H = 0$; the values are the same either way. Why: during
    the upswing $H$'s sensitivity is the spike-time shift, $\delta H \approx \dot v\,\delta t$
    with $\dot v$ up to ~350 mV/ms, which the exact hybrid system cancels at the reset (the
    jump of $\dot u$ from $a(b\,v_{peak} - u)$ to $a(b\,c - u - d)$ moves with the spike) and a
    discrete step does not; kept, it multiplies the gradient by about -3 per spike for the
    fast-spiking cell (1.8e27 after 0.5 s), see :class:`Izhikevich`.
    """
    v, u, dt = state.v, state.u, coeffs.dt_ms
    v_new = v + dt * (0.04 * v * v + 5.0 * v + 140.0 - u + x)
    v_seen = lax.stop_gradient(v_new) if coeffs.detach_adaptation else v_new
    return IzhikevichState(v=v_new, u=u + dt * coeffs.a * (coeffs.b * v_seen - u))


def izhikevich_on_spike(coeffs: IzhikevichCoeffs, h: IzhikevichState, s: Array) -> IzhikevichState:
    r"""$u \leftarrow u + d$ at a spike ($v \leftarrow c$ is the reset to ``v_reset``)."""
    return IzhikevichState(v=h.v, u=h.u + s * coeffs.d)


def izhikevich_rest(b: Array) -> Array:
    r"""The resting potential (mV): the stable fixed point without input.

    With $u = b v$ at rest, $0.04 v^2 + (5 - b) v + 140 = 0$; its lower root is the resting
    state (-70 mV for $b = 0.2$, -62.6 mV for the resonator's 0.26). Above $b \approx 0.267$
    there is no rest (the cell fires without input); -65 mV, the paper's initial value, is used.
    """
    disc = (5.0 - b) ** 2 - 4.0 * 0.04 * 140.0
    has_rest = disc >= 0.0
    # The double where: sqrt's derivative is infinite at 0, and jnp.where's backward pass
    # multiplies the branch it did not pick by 0, so sqrt(max(disc, 0)) gave 0 * inf = NaN for
    # d/db wherever there is no rest (b > 0.2675). The unpicked branch gets a harmless 1.
    root = (-(5.0 - b) - jnp.sqrt(jnp.where(has_rest, disc, 1.0))) / (2.0 * 0.04)
    return jnp.where(has_rest, root, -65.0)


class Izhikevich(AbstractSpikingNeuron):
    r"""Izhikevich's simple spiking model (2003).

    $$\dot v = 0.04 v^2 + 5 v + 140 - u + I,\qquad \dot u = a (b v - u),$$
    $$v \ge 30\ \text{mV}:\quad v \leftarrow c,\ u \leftarrow u + d,$$

    with $v$ in mV, time in ms (``dt`` is given in s, as everywhere in spikax) and $I$ in the
    paper's units (mV/ms), ``(T, n)``. One step is :func:`izhikevich_charge`; the state starts
    at rest, $v = v_{rest}$ (:func:`izhikevich_rest`), $u = b\,v_{rest}$, not at the paper's
    -65 mV from which the resonator fires a spurious spike while it settles. The paper's $c$ is
    ``v_reset`` and its 30 mV cut-off ``v_threshold``.

    **Arguments:** ``params`` (:class:`IzhikevichParams`; :meth:`create` builds them from a
    preset), ``dt`` (0.1 ms: forward Euler needs well under 1 ms for the quadratic upswing; the
    paper's code used two 0.5-ms steps for v), ``spike_fn`` (``FastSigmoid(0.5)``, per mV),
    ``detach_reset`` (``True``), ``detach_adaptation`` (``True``), ``adjoint``. The two
    ``detach_`` options change gradients only, never values.

    **Training.** The defaults are the training setting: ``FastSigmoid(0.5)`` per mV,
    ``detach_reset=True``, ``detach_adaptation=True``, ``dt`` = 0.1 ms (at 0.05 ms the growth
    below is 10x-25x). With them the gradient of a run's spike count with respect to its input
    current and every parameter is finite for every preset and grows about like the spike
    count: from a 50-ms to a 0.5-s run at 10 mV/ms, 12x (resonator) to 49x (chattering;
    medians over +-4% of the current, ``tests/test_gradients.py``), where keeping both paths
    below gave NaN for every preset but RS. Each option removes a gradient path that is
    multiplied at every spike:

    - the reset of $v$: the surrogate gives $\partial v'/\partial H = (c - H)\,
      \sigma(H - v_{peak})$, up to $|c - v_{peak}|\,\sigma(0)$ = 95 per spike (-15.6 for FS
      from 12 mV), where the exact derivative of the hybrid system through a spike of this
      runaway, $\dot v(c)/\dot v(v_{peak})$, is below 0.034 at every spike of every preset
      (and ``detach_reset`` gives 0). Kept, the gradient overflows float32 near 190 ms for
      FS and turns NaN (inf - inf, inf * 0) from there on;
    - $v$'s gradient into $u$ (:func:`izhikevich_charge`): about -3 per spike for FS,
      1e27-1e29 after 0.5 s with the reset detached.

    ``detach_reset=False`` or ``detach_adaptation=False`` give the plain surrogate gradient,
    usable over a few spikes only.

    Reference: Izhikevich (2003), *Simple model of spiking neurons*, IEEE Trans. Neural Netw.
    14(6), doi:10.1109/TNN.2003.820440.
    """

    params: IzhikevichParams
    spike_fn: AbstractSurrogate
    adjoint: AbstractAdjoint
    dt: float = eqx.field(static=True)
    fire_at: str = eqx.field(static=True)
    detach_reset: bool = eqx.field(static=True)
    detach_adaptation: bool = eqx.field(static=True)

    def __init__(
        self,
        params: IzhikevichParams,
        *,
        dt: float = 1e-4,
        spike_fn: Optional[AbstractSurrogate] = None,
        detach_reset: bool = True,
        detach_adaptation: bool = True,
        adjoint: Optional[AbstractAdjoint] = None,
    ):
        check_params("Izhikevich", params, IzhikevichParams)
        if check_dt(dt) > MAX_DT:
            raise ValueError(
                f"`dt` = {dt:g} s is too large for the Izhikevich model with forward Euler "
                f"(the quadratic upswing diverges); use dt <= {MAX_DT:g} s (1e-4 recommended)"
            )
        self.dt, self.spike_fn, self.fire_at, self.detach_reset, self.adjoint = configure(
            dt=dt, spike_fn=spike_fn, default_spike_fn=lambda: FastSigmoid(0.5), fire_at=">=",
            detach_reset=detach_reset, adjoint=adjoint,
        )
        self.detach_adaptation = bool(detach_adaptation)
        self.params = params

    @classmethod
    def create(
        cls,
        n_neurons: int = 1,
        *,
        preset: str = "regular spiking",
        a: Optional[ParamLike] = None,
        b: Optional[ParamLike] = None,
        v_reset: Optional[ParamLike] = None,
        d: Optional[ParamLike] = None,
        v_threshold: ParamLike = 30.0,
        dt: float = 1e-4,
        spike_fn: Optional[AbstractSurrogate] = None,
        detach_reset: bool = True,
        detach_adaptation: bool = True,
        adjoint: Optional[AbstractAdjoint] = None,
    ) -> "Izhikevich":
        """``n_neurons`` cells of a class of the paper's Fig. 2, any of its values overridden.

        ``preset``: ``"regular spiking"`` (RS), ``"intrinsically bursting"`` (IB),
        ``"chattering"`` (CH), ``"fast spiking"`` (FS), ``"low-threshold spiking"`` (LTS),
        ``"thalamo-cortical"`` (TC), ``"resonator"`` (RZ); the abbreviations work too. Explicit
        ``a, b, v_reset`` (the paper's c), ``d`` override the preset's values;
        ``v_threshold`` is the cut-off (30 mV); the rest as for :class:`Izhikevich`.
        """
        n = check_count("n_neurons", n_neurons)
        key = _ALIASES.get(str(preset).lower(), str(preset).lower().replace("_", " "))
        check_choice("preset", key, tuple(IZHIKEVICH_PRESETS) + tuple(_ALIASES))
        defaults = IZHIKEVICH_PRESETS[key]
        values = [default if given is None else given for default, given in zip(defaults, (a, b, v_reset, d))]
        shape = (n,)
        params = IzhikevichParams(
            a=as_param("a", values[0], shape=shape, positive=True),
            b=as_param("b", values[1], shape=shape),
            v_reset=as_param("v_reset", values[2], shape=shape),
            d=as_param("d", values[3], shape=shape),
            v_threshold=as_param("v_threshold", v_threshold, shape=shape),
        )
        return cls(
            params, dt=dt, spike_fn=spike_fn, detach_reset=detach_reset, detach_adaptation=detach_adaptation,
            adjoint=adjoint,
        )

    @property
    def n_neurons(self) -> int:
        return self.params.a.shape[0]

    def init_state(self, input_shape=None) -> IzhikevichState:
        check_step_shape("Izhikevich", self.n_neurons, input_shape)
        v = izhikevich_rest(self.params.b)
        return IzhikevichState(v=v, u=self.params.b * v)

    def prepare(self, xs, key: Key, *, name="xs"):
        return sequence(xs, name, (self.n_neurons,), what="n_neurons; currents in mV/ms"), None

    def derive(self, params, dt):
        return izhikevich_derive(params, dt, detach_adaptation=self.detach_adaptation)

    charge = staticmethod(izhikevich_charge)
    threshold = staticmethod(fixed_threshold)
    on_spike = staticmethod(izhikevich_on_spike)
