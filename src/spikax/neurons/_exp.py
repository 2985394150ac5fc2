"""The exponential spike-initiation term shared by EIF, AdEx and LIFAdEx, kept finite."""

from __future__ import annotations

import jax.numpy as jnp
from jaxtyping import Array

#: Largest exponent evaluated: e^80 = 5.5e34 is finite in float32 (max 3.4e38) with room for
#: the factors it is multiplied by (Delta_T, g_L, dt/C).
EXP_ARG_MAX = 80.0


def exp_term(v: Array, v_T, delta_T, v_cut) -> Array:
    r"""$\Delta_T \exp\big((\min(v, v_{cut}) - v_T)/\Delta_T\big)$, the exponent capped at 80.

    Why it cannot overflow: a state that crosses the spike cut ``v_cut`` is reset in the same
    step, so every reachable state has $v \le v_{cut}$ at the start of a step and the clamp
    changes nothing there; it only guards a state set by hand above the cut. The cap keeps
    $e^{x}$ finite in float32 whatever ``v_cut`` is (a far-away cut with forward Euler gives one
    huge, finite jump, then the spike and the reset), so neither the value nor its gradient
    becomes inf or NaN.
    """
    arg = (jnp.minimum(v, v_cut) - v_T) / delta_T
    return delta_T * jnp.exp(jnp.minimum(arg, EXP_ARG_MAX))
