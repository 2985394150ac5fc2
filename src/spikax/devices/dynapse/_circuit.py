r"""DYNAP-SE2 circuit parameters: bias currents, capacitances and transistor constants.

The defaults are the chip's published configuration as used by Rockpool's ``DynapSim``
(``rockpool.devices.dynapse.lookup``), written here as the quantities they set (time
constants, gain ratios, pulse widths) and turned into bias currents with :mod:`._translate`
using the default capacitances and $\kappa = (\kappa_n + \kappa_p)/2 = 0.705$:

| quantity | default | bias currents it gives |
|---|---|---|
| $\tau_{mem}$, gain ratio | 20 ms, 4 | ``Itau_mem`` 5.32 pA, ``Igain_mem`` 21.3 pA |
| $\tau$ of each synapse, gain ratio | 10 ms, 100 | ``Itau_ampa`` 86.9 pA (24.5 pF); ``Igain_*`` = 100 ``Itau_*`` |
| $\tau_{ahp}$, gain ratio | 50 ms, 1 | ``Itau_ahp`` = ``Igain_ahp`` 28.4 pA |
| synaptic pulse width $t_{pulse}$ | 10 µs | ``Ipulse`` 35 nA |
| AHP pulse width $t_{pulse,ahp}$ | 1 µs | ``Ipulse_ahp`` 350 nA |
| refractory period $t_{ref}$ | 1 ms | ``Iref`` 1.05 nA |

The defaults are fixed currents, as on the chip: overriding a capacitance changes the time
constant it sets (``tau = C Ut / (kappa Itau)``) unless the current is overridden too.
"""

from __future__ import annotations

from typing import Optional

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from ..._types import ParamLike
from ..._validate import as_param, check_count, is_concrete
from ._translate import igain_from_ratio, ipulse_from_width, itau_from_tau, kappa_mean

__all__ = [
    "DEFAULTS",
    "N_SYNAPSE_TYPES",
    "PARAMETER_NAMES",
    "SYNAPSES",
    "TIME_CONSTANTS",
    "DynapseParams",
    "Synapses",
]

#: Synapse types, in the order of the last axis of a stacked ``(..., 4)`` input or weight array.
SYNAPSES = ("ampa", "nmda", "gaba", "shunt")
#: How many synapse types each neuron has.
N_SYNAPSE_TYPES = len(SYNAPSES)

#: Currents may sit at the dark current ``Io`` up to this relative rounding (float32 round trips
#: through the bias relations land a few ulps below it).
_FLOOR_RTOL = 1e-6


def _as_array(value):
    # Lists become arrays (a list would be a PyTree of scalars); None stays "no value".
    if value is None or isinstance(value, (jax.Array, np.ndarray)):
        return value
    return jnp.asarray(value)


class Synapses(eqx.Module):
    """One value per synapse type of a DYNAP-SE2 neuron: inputs, currents, coefficients or weights.

    Four separate arrays, not one array with a trailing axis of 4 (that layout made XLA's fused
    loops about four times slower). ``None`` marks a synapse type without a value, e.g. one that
    receives no input (it then gets no jump at all).
    """

    ampa: Optional[ParamLike] = eqx.field(default=None, converter=_as_array)
    """Fast excitatory (AMPA) synapse."""
    nmda: Optional[ParamLike] = eqx.field(default=None, converter=_as_array)
    """Slow excitatory synapse, gated by the membrane (NMDA)."""
    gaba: Optional[ParamLike] = eqx.field(default=None, converter=_as_array)
    """Inhibitory synapse that adds to the leak (GABA, subtractive on the membrane)."""
    shunt: Optional[ParamLike] = eqx.field(default=None, converter=_as_array)
    """Inhibitory synapse that subtracts from the input current (SHUNT)."""

    @classmethod
    def from_array(cls, values: ArrayLike) -> "Synapses":
        """Split the last axis (of size 4, in the order of :data:`SYNAPSES`) into the four types."""
        values = jnp.asarray(values)
        if values.ndim < 1 or values.shape[-1] != N_SYNAPSE_TYPES:
            raise ValueError(
                f"a stacked synapse array must end with an axis of {N_SYNAPSE_TYPES} ({', '.join(SYNAPSES)}), "
                f"got shape {values.shape}"
            )
        return cls(*(values[..., k] for k in range(N_SYNAPSE_TYPES)))

    def to_array(self) -> Array:
        """The four types stacked on a last axis (``None`` as zeros)."""
        present = [v for v in self.values() if v is not None]
        if not present:
            raise ValueError("no synapse type has a value")
        zeros = jnp.zeros_like(present[0])
        return jnp.stack([zeros if v is None else v for v in self.values()], axis=-1)

    def values(self) -> tuple:
        """The four values in the order of :data:`SYNAPSES`."""
        return (self.ampa, self.nmda, self.gaba, self.shunt)

#: Quantities behind the default bias currents (time constants in s, gain ratios, widths in s).
TIME_CONSTANTS = {
    "tau_mem": 20e-3,
    "gain_mem": 4.0,
    "tau_syn": 10e-3,
    "gain_syn": 100.0,
    "tau_ahp": 50e-3,
    "gain_ahp": 1.0,
    "t_pulse": 10e-6,
    "t_pulse_ahp": 1e-6,
    "t_ref": 1e-3,
}

_IO = 5e-13
_KAPPA_N, _KAPPA_P, _UT, _VTH = 0.75, 0.66, 25e-3, 0.7
_CAPS = {
    "C_mem": 3e-12,
    "C_ampa": 24.5e-12,
    "C_nmda": 25e-12,
    "C_gaba": 25e-12,
    "C_shunt": 24.5e-12,
    "C_ahp": 40e-12,
    "C_pulse": 0.5e-12,
    "C_pulse_ahp": 0.5e-12,
    "C_ref": 1.5e-12,
}


def _default_currents() -> dict:
    k = kappa_mean(_KAPPA_N, _KAPPA_P)
    tc = TIME_CONSTANTS
    cur = {}
    cur["Itau_mem"] = itau_from_tau(tc["tau_mem"], _CAPS["C_mem"], k, _UT)
    cur["Igain_mem"] = igain_from_ratio(tc["gain_mem"], cur["Itau_mem"])
    for s in SYNAPSES:
        cur[f"Itau_{s}"] = itau_from_tau(tc["tau_syn"], _CAPS[f"C_{s}"], k, _UT)
        cur[f"Igain_{s}"] = igain_from_ratio(tc["gain_syn"], cur[f"Itau_{s}"])
    cur["Itau_ahp"] = itau_from_tau(tc["tau_ahp"], _CAPS["C_ahp"], k, _UT)
    cur["Igain_ahp"] = igain_from_ratio(tc["gain_ahp"], cur["Itau_ahp"])
    cur["Ipulse"] = ipulse_from_width(tc["t_pulse"], _CAPS["C_pulse"], _VTH)
    cur["Ipulse_ahp"] = ipulse_from_width(tc["t_pulse_ahp"], _CAPS["C_pulse_ahp"], _VTH)
    cur["Iref"] = ipulse_from_width(tc["t_ref"], _CAPS["C_ref"], _VTH)
    return cur


#: Every parameter's default value (SI units), in the order of :class:`DynapseParams`.
DEFAULTS: dict = {
    "Io": _IO,
    "kappa_n": _KAPPA_N,
    "kappa_p": _KAPPA_P,
    "Ut": _UT,
    "Vth": _VTH,
    "Iscale": 1e-8,
    **_CAPS,
    **_default_currents(),
    "Ispkthr": 1e-7,
    "Ireset": _IO,
    "Idc": _IO,
    "Iw_ahp": _IO,
    "If_nmda": _IO,
}

#: The names of the circuit parameters (the fields of :class:`DynapseParams`), in order.
PARAMETER_NAMES = tuple(DEFAULTS)


class DynapseParams(eqx.Module):
    """Per-neuron parameters of the DYNAP-SE2 neuron, its four synapses and its AHP (SI units).

    Every field has shape ``(n_neurons,)``. Build one with :meth:`default` (the chip defaults,
    any of them overridden by name). Currents in A, capacitances in F, voltages in V.

    On the chip, 19 of the currents are biases of the neuron's core (``Itau_mem`` is
    ``SOIF_LEAK_N``, ``Igain_ampa`` is ``DEAM_EGAIN_P``, ...; the table is
    ``spikax.devices.dynapse.deploy.BIAS_NAMES``, with the four base weights ``Iw_0..Iw_3``);
    ``Iscale``, ``Ireset``, the capacitances and the transistor constants are the simulator's.
    """

    Io: Float[ArrayLike, " n"]
    """Dark current (A): the floor of every current."""
    kappa_n: Float[ArrayLike, " n"]
    """Subthreshold slope factor of n-type transistors."""
    kappa_p: Float[ArrayLike, " n"]
    """Subthreshold slope factor of p-type transistors."""
    Ut: Float[ArrayLike, " n"]
    """Thermal voltage (V)."""
    Vth: Float[ArrayLike, " n"]
    """Threshold voltage of the pulse extenders (V)."""
    Iscale: Float[ArrayLike, " n"]
    """Weight current of a unit input (A): an input x sets Iw = x * Iscale."""
    C_mem: Float[ArrayLike, " n"]
    C_ampa: Float[ArrayLike, " n"]
    C_nmda: Float[ArrayLike, " n"]
    C_gaba: Float[ArrayLike, " n"]
    C_shunt: Float[ArrayLike, " n"]
    C_ahp: Float[ArrayLike, " n"]
    C_pulse: Float[ArrayLike, " n"]
    C_pulse_ahp: Float[ArrayLike, " n"]
    C_ref: Float[ArrayLike, " n"]
    Itau_mem: Float[ArrayLike, " n"]
    Igain_mem: Float[ArrayLike, " n"]
    Itau_ampa: Float[ArrayLike, " n"]
    Igain_ampa: Float[ArrayLike, " n"]
    Itau_nmda: Float[ArrayLike, " n"]
    Igain_nmda: Float[ArrayLike, " n"]
    Itau_gaba: Float[ArrayLike, " n"]
    Igain_gaba: Float[ArrayLike, " n"]
    Itau_shunt: Float[ArrayLike, " n"]
    Igain_shunt: Float[ArrayLike, " n"]
    Itau_ahp: Float[ArrayLike, " n"]
    Igain_ahp: Float[ArrayLike, " n"]
    Ipulse: Float[ArrayLike, " n"]
    """Sets the synaptic pulse width t_pulse = Vth C_pulse / Ipulse (all four synapses)."""
    Ipulse_ahp: Float[ArrayLike, " n"]
    """Sets the AHP pulse width t_pulse_ahp = Vth C_pulse_ahp / Ipulse_ahp."""
    Iref: Float[ArrayLike, " n"]
    """Sets the refractory period t_ref = Vth C_ref / Iref."""
    Ispkthr: Float[ArrayLike, " n"]
    """Spike threshold of the membrane current (A)."""
    Ireset: Float[ArrayLike, " n"]
    """Membrane current after a spike (A)."""
    Idc: Float[ArrayLike, " n"]
    """Constant current injected into the membrane (A); Io means off."""
    Iw_ahp: Float[ArrayLike, " n"]
    """Weight current of the AHP's own-spike input (A); Io means off."""
    If_nmda: Float[ArrayLike, " n"]
    """NMDA gate current (A): NMDA contributes I_nmda / (1 + If_nmda / Imem)."""

    @classmethod
    def default(cls, n_neurons: int, **overrides) -> "DynapseParams":
        """The chip defaults for ``n_neurons`` neurons, with any field overridden by name.

        Each override is a scalar or a ``(n_neurons,)`` array. Unknown names, non-finite,
        non-positive or wrongly shaped values raise ``ValueError`` naming the parameter.
        """
        check_count("n_neurons", n_neurons)
        unknown = sorted(set(overrides) - set(DEFAULTS))
        if unknown:
            raise ValueError(
                f"unknown DYNAP-SE2 parameter(s) {unknown}; known: {', '.join(PARAMETER_NAMES)}"
            )
        values = {
            name: as_param(name, overrides.get(name, default), shape=(n_neurons,), positive=True)
            for name, default in DEFAULTS.items()
        }
        params = cls(**values)
        params.check()
        return params

    def check(self) -> "DynapseParams":
        """Physical consistency of concrete values (skipped under ``jit``); returns ``self``.

        Every field finite, > 0 and of shape ``(n_neurons,)``; slope factors in (0, 1]; currents
        at or above the dark current; ``Ireset < Ispkthr``. ``DynapSim(params)`` runs this, so
        parameters built by hand (or edited with ``eqx.tree_at``) are held to the same rules
        as :meth:`default`.
        """
        n = jnp.shape(self.Io)[0] if jnp.ndim(self.Io) == 1 else None
        for name in PARAMETER_NAMES:
            value = getattr(self, name)
            if n is None or jnp.shape(value) != (n,):
                raise ValueError(
                    f"`{name}` must have shape (n_neurons,) like every DYNAP-SE2 parameter"
                    f"{'' if n is None else f' = ({n},)'}, got shape {jnp.shape(value)}"
                )
            if is_concrete(value):
                as_param(name, value, positive=True)
        for name in ("kappa_n", "kappa_p"):
            value = getattr(self, name)
            if is_concrete(value) and not np.all(np.asarray(value) <= 1.0):
                raise ValueError(
                    f"`{name}` is a subthreshold slope factor in (0, 1], got {np.asarray(value).max():.4g}"
                )
        if is_concrete(self.Ireset) and is_concrete(self.Ispkthr):
            if not np.all(np.asarray(self.Ireset) < np.asarray(self.Ispkthr)):
                raise ValueError("`Ireset` must be below `Ispkthr` (the membrane would spike again at once)")
        for name in PARAMETER_NAMES:
            value = getattr(self, name)
            if name.startswith("I") and is_concrete(value) and is_concrete(self.Io):
                if not np.all(np.asarray(value) >= np.asarray(self.Io) * (1 - _FLOOR_RTOL)):
                    raise ValueError(f"`{name}` must be >= the dark current Io = {float(np.min(self.Io)):.3g} A")
        return self

    @property
    def n_neurons(self) -> int:
        return self.Io.shape[0]

    @property
    def kappa(self) -> Array:
        return kappa_mean(self.kappa_n, self.kappa_p)

    def replace(self, **changes) -> "DynapseParams":
        """A copy with some fields changed (scalars broadcast to every neuron)."""
        out = self
        for name, value in changes.items():
            if name not in DEFAULTS:
                raise ValueError(f"unknown DYNAP-SE2 parameter `{name}`")
            value = as_param(name, value, shape=(self.n_neurons,), positive=True)
            out = eqx.tree_at(lambda p, name=name: getattr(p, name), out, value)
        return out.check()

