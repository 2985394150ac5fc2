r"""Device mismatch: every chip draws its own frozen deviation of the circuit parameters.

$p' = p\,(1 + \frac{\text{percent}}{100}\,\varepsilon)$, $\varepsilon \sim \mathcal N(0, 1)$ drawn
independently per neuron and per parameter from ``key``: the same key is the same chip.
``jax.vmap(lambda k: apply_mismatch(k, params, 10.0))(keys)`` gives a batch of chips, and
``jax.vmap`` of a simulation over it simulates them all at once.

Analog mismatch in subthreshold circuits is roughly Gaussian in the transistor threshold
voltage, i.e. log-normal in currents (Pelgrom et al. 1989, doi:10.1109/JSSC.1989.572629); for
the few-percent deviations of interest the relative-Gaussian model above (the one Rockpool's
``DynapSim`` uses) is the same to first order. Perturbed values are floored at 1 % of the nominal
value so that a large ``percent`` cannot produce non-physical negative currents.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Optional, Union

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import PRNGKeyArray
import numpy as np

from ..._types import ScalarLike
from ..._validate import is_concrete
from ._circuit import PARAMETER_NAMES, DynapseParams

__all__ = ["DEFAULT_MISMATCH", "apply_mismatch"]

#: Parameters perturbed by default: the bias currents and capacitances, not the transistor
#: constants (Io, kappa, Ut, Vth) or the reference values that are switched off (Idc, Iw_ahp,
#: If_nmda at Io) or set digitally (Iscale).
DEFAULT_MISMATCH = tuple(
    name
    for name in PARAMETER_NAMES
    if (name.startswith("I") or name.startswith("C_"))
    and name not in ("Io", "Iscale", "Idc", "Iw_ahp", "If_nmda", "Ireset")
)


def _spec_names(spec) -> tuple[str, ...]:
    if spec is None:
        return DEFAULT_MISMATCH
    if isinstance(spec, DynapseParams):
        names = tuple(name for name in PARAMETER_NAMES if bool(getattr(spec, name)))
    else:
        names = tuple(spec)
    unknown = sorted(set(names) - set(PARAMETER_NAMES))
    if unknown:
        raise ValueError(f"unknown parameter(s) in `spec`: {unknown}")
    return names


def apply_mismatch(
    key: PRNGKeyArray,
    params: DynapseParams,
    percent: ScalarLike = 10.0,
    spec: Optional[Union[Iterable[str], DynapseParams]] = None,
) -> DynapseParams:
    """Parameters of one chip: Gaussian relative deviations of ``percent`` % (one std).

    **Arguments:**

    - ``key``: the chip (same key, same deviations).
    - ``params``: nominal :class:`DynapseParams`.
    - ``percent``: relative standard deviation in %, >= 0.
    - ``spec``: which parameters deviate: names, or a :class:`DynapseParams` of booleans
      (a PyTree spec); default :data:`DEFAULT_MISMATCH`.
    """
    if key is None:
        raise ValueError("`key` is required: it decides which chip is simulated")
    if not isinstance(params, DynapseParams):
        raise TypeError(
            f"`params` must be DynapseParams (e.g. DynapseParams.default(n)), got {type(params).__name__}"
        )
    if is_concrete(percent):
        try:
            if isinstance(percent, (str, bytes)):
                raise TypeError
            p = np.asarray(percent, dtype=np.float64)
        except (TypeError, ValueError):
            raise TypeError(f"`percent` must be a number (relative std in %), got {percent!r}") from None
        if p.ndim != 0 or not np.isfinite(p) or p < 0:
            raise ValueError(f"`percent` must be a finite number >= 0 (relative std in %), got {percent!r}")
    names = _spec_names(spec)
    sigma = percent / 100.0
    # One draw of a row per parameter (PARAMETER_NAMES order, rows as long as the largest
    # parameter), each parameter reading the start of its row: its deviations depend neither
    # on which others are perturbed (`spec`) nor on their shapes, and the compiled program
    # holds one random-bits generator instead of one per parameter (compiling a drawn chip took
    # 2.1 s with 30 of them, for a 3-neuron network). The draw is float32 (the simulation's
    # precision) and cast to each parameter's dtype.
    stride = max(int(np.size(getattr(params, name))) for name in PARAMETER_NAMES)
    eps = jax.random.normal(key, (len(PARAMETER_NAMES), stride), jnp.float32)
    out = params
    for i, name in enumerate(PARAMETER_NAMES):
        if name not in names:
            continue
        nominal = getattr(params, name)
        dtype = jnp.result_type(nominal)
        if not jnp.issubdtype(dtype, jnp.floating):
            raise TypeError(f"`params.{name}` must be a floating-point array to deviate, got {dtype}")
        draw = eps[i, : int(np.size(nominal))].reshape(jnp.shape(nominal)).astype(dtype)
        deviated = nominal * (1.0 + sigma * draw)
        # A large percentage must not draw non-physical values: capacitances stay above 1 % of
        # nominal, and currents also above the dark current Io, the floor every check requires.
        value = jnp.maximum(deviated, 0.01 * nominal)
        if name.startswith("I"):
            value = jnp.maximum(value, params.Io)
        out = eqx.tree_at(lambda p, name=name: getattr(p, name), out, value)
    return out
