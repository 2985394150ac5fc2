r"""Translate between the chip's bias currents and the quantities they set.

Subthreshold circuit relations (Bartolozzi & Indiveri 2007, doi:10.1162/neco.2007.19.10.2581;
Chicca et al. 2014, doi:10.1109/JPROC.2014.2313954), with
$\kappa = (\kappa_n + \kappa_p)/2$:

- DPI time constant: $\tau = \dfrac{C\,U_T}{\kappa\,I_\tau}$  $\Leftrightarrow$  $I_\tau = \dfrac{C\,U_T}{\kappa\,\tau}$
- gain ratio: $r = I_{gain} / I_\tau$  $\Leftrightarrow$  $I_{gain} = r\,I_\tau$
- pulse width (pulse extender, refractory period): $t = \dfrac{V_{th}\,C}{I}$  $\Leftrightarrow$
  $I = \dfrac{V_{th}\,C}{t}$

Every function is elementwise (scalars or arrays, SI units) and differentiable.
"""

from __future__ import annotations

from jaxtyping import ArrayLike

__all__ = [
    "gain_ratio",
    "igain_from_ratio",
    "ipulse_from_width",
    "itau_from_tau",
    "kappa_mean",
    "pulse_width",
    "tau_from_itau",
]


def kappa_mean(kappa_n: ArrayLike, kappa_p: ArrayLike) -> ArrayLike:
    r"""$\kappa = (\kappa_n + \kappa_p)/2$, the subthreshold slope used by the DPI relations."""
    return (kappa_n + kappa_p) / 2


def itau_from_tau(tau: ArrayLike, C: ArrayLike, kappa: ArrayLike, Ut: ArrayLike) -> ArrayLike:
    r"""Leak current $I_\tau = C U_T / (\kappa\,\tau)$ in A, for a time constant ``tau`` in s."""
    return C * Ut / (kappa * tau)


def tau_from_itau(Itau: ArrayLike, C: ArrayLike, kappa: ArrayLike, Ut: ArrayLike) -> ArrayLike:
    r"""Time constant $\tau = C U_T / (\kappa I_\tau)$ in s, for a leak current ``Itau`` in A."""
    return C * Ut / (kappa * Itau)


def igain_from_ratio(ratio: ArrayLike, Itau: ArrayLike) -> ArrayLike:
    r"""Gain current $I_{gain} = r\,I_\tau$ in A."""
    return ratio * Itau


def gain_ratio(Igain: ArrayLike, Itau: ArrayLike) -> ArrayLike:
    r"""Gain ratio $r = I_{gain}/I_\tau$ (dimensionless)."""
    return Igain / Itau


def ipulse_from_width(width: ArrayLike, C: ArrayLike, Vth: ArrayLike) -> ArrayLike:
    r"""Bias current $I = V_{th} C / t$ in A that sets a pulse (or refractory) width ``width`` in s."""
    return Vth * C / width


def pulse_width(I: ArrayLike, C: ArrayLike, Vth: ArrayLike) -> ArrayLike:
    r"""Pulse (or refractory) width $t = V_{th} C / I$ in s set by the bias current ``I`` in A."""
    return Vth * C / I
