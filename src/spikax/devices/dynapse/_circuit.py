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

import equinox as eqx
import numpy as np
from jaxtyping import Array, Float

from ..._validate import as_param, is_concrete
from ._translate import igain_from_ratio, ipulse_from_width, itau_from_tau, kappa_mean

__all__ = ["DEFAULTS", "DynapseParams", "PARAMETER_NAMES", "SYNAPSES", "TIME_CONSTANTS"]

#: Synapse types in the order of the last input axis.
SYNAPSES = ("ampa", "nmda", "gaba", "shunt")

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

PARAMETER_NAMES = tuple(DEFAULTS)


class DynapseParams(eqx.Module):
    """Per-neuron parameters of the DYNAP-SE2 neuron, its four synapses and its AHP (SI units).

    Every field has shape ``(n_neurons,)``. Build one with :meth:`default` (the chip defaults,
    any of them overridden by name). Currents in A, capacitances in F, voltages in V.
    """

    Io: Float[Array, " n"]
    """Dark current (A): the floor of every current."""
    kappa_n: Float[Array, " n"]
    """Subthreshold slope factor of n-type transistors."""
    kappa_p: Float[Array, " n"]
    """Subthreshold slope factor of p-type transistors."""
    Ut: Float[Array, " n"]
    """Thermal voltage (V)."""
    Vth: Float[Array, " n"]
    """Threshold voltage of the pulse extenders (V)."""
    Iscale: Float[Array, " n"]
    """Weight current of a unit input (A): an input x sets Iw = x * Iscale."""
    C_mem: Float[Array, " n"]
    C_ampa: Float[Array, " n"]
    C_nmda: Float[Array, " n"]
    C_gaba: Float[Array, " n"]
    C_shunt: Float[Array, " n"]
    C_ahp: Float[Array, " n"]
    C_pulse: Float[Array, " n"]
    C_pulse_ahp: Float[Array, " n"]
    C_ref: Float[Array, " n"]
    Itau_mem: Float[Array, " n"]
    Igain_mem: Float[Array, " n"]
    Itau_ampa: Float[Array, " n"]
    Igain_ampa: Float[Array, " n"]
    Itau_nmda: Float[Array, " n"]
    Igain_nmda: Float[Array, " n"]
    Itau_gaba: Float[Array, " n"]
    Igain_gaba: Float[Array, " n"]
    Itau_shunt: Float[Array, " n"]
    Igain_shunt: Float[Array, " n"]
    Itau_ahp: Float[Array, " n"]
    Igain_ahp: Float[Array, " n"]
    Ipulse: Float[Array, " n"]
    """Sets the synaptic pulse width t_pulse = Vth C_pulse / Ipulse (all four synapses)."""
    Ipulse_ahp: Float[Array, " n"]
    """Sets the AHP pulse width t_pulse_ahp = Vth C_pulse_ahp / Ipulse_ahp."""
    Iref: Float[Array, " n"]
    """Sets the refractory period t_ref = Vth C_ref / Iref."""
    Ispkthr: Float[Array, " n"]
    """Spike threshold of the membrane current (A)."""
    Ireset: Float[Array, " n"]
    """Membrane current after a spike (A)."""
    Idc: Float[Array, " n"]
    """Constant current injected into the membrane (A); Io means off."""
    Iw_ahp: Float[Array, " n"]
    """Weight current of the AHP's own-spike input (A); Io means off."""
    If_nmda: Float[Array, " n"]
    """NMDA gate current (A): NMDA contributes I_nmda / (1 + If_nmda / Imem)."""

    @classmethod
    def default(cls, n_neurons: int, **overrides) -> "DynapseParams":
        """The chip defaults for ``n_neurons`` neurons, with any field overridden by name.

        Each override is a scalar or a ``(n_neurons,)`` array. Unknown names, non-finite,
        non-positive or wrongly shaped values raise ``ValueError`` naming the parameter.
        """
        if not isinstance(n_neurons, int) or isinstance(n_neurons, bool) or n_neurons < 1:
            raise ValueError(f"`n_neurons` must be a positive integer, got {n_neurons!r}")
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
        """Physical consistency of concrete values (skipped under ``jit``); returns ``self``."""
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
                if not np.all(np.asarray(value) >= np.asarray(self.Io) * (1 - 1e-6)):
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

