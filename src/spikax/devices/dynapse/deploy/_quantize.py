r"""4-bit weights: per core four base currents and a mask per connection, and back.

On DYNAP-SE2 a connection's synaptic current is chosen by the 4-bit mask of its CAM entry
from the four base weight currents of the target neuron's core (``Iw_0..Iw_3``, biases
``SYAM_W0_P..SYAM_W3_P``):

$$I_w = \sum_{k=0}^{3} m_k\,I_{w,k}, \qquad m \in \{0, 1\}^4,$$

so each core has 16 weight levels, the subset sums of its bases (the sign is the dendrite, the
magnitude is what is quantised). :func:`quantize_weights` chooses, for every core, four
representable base currents and a mask per connection that minimise the squared error of the
weight currents $\sum_i (I_i - L_{m_i})^2$:

1. start from the best uniform 4-bit grid (bases $d\,(1, 2, 4, 8)$, levels $0..15\,d$, $d$
   found by a search) and from grids at half and twice its step; the best uniform grid the
   bias generator can make (each base rounded to a code, :func:`uniform_grid_error`) is a
   candidate as it is, so the result is never worse than it;
2. alternate (Lloyd-Max on the subset-sum codebook): each current takes its nearest level;
   the bases then solve the 4-variable box-constrained least-squares problem
   $\min_{0 \le b \le I_{max}} \|A b - I\|^2$ ($A$ the masks' bits, $I_{max}$ = 494 nA the
   largest code), exactly, by trying every active set; neither step can raise the error;
3. round the bases to codes of the bias generator (:mod:`._bias`) one at a time, largest
   first, trying the code below and above and re-fitting the others after each choice; then
   search the neighbouring codes of one base at a time while the error falls;
4. keep the best start. A core whose currents already are subset sums of four representable
   codes (a configuration read back from the chip) is recognised and reproduced exactly.

Rockpool's ``autoencoder_quantization`` instead learns the bases with a weight autoencoder
and does not round them to codes; ``benchmarks/quantize.py`` compares the two.

The quantised network is an ordinary spikax network; :class:`QuantizedWeight` is its
trainable form (straight-through estimator), for fine-tuning on the task loss.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Optional, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike

from ....train._reparam import AbstractReparam, unwrap
from ._bias import bias_code, representable_currents

__all__ = [
    "N_LEVELS",
    "QuantizedWeight",
    "WeightQuantization",
    "levels",
    "quantize_currents",
    "quantize_weights",
    "uniform_grid_error",
]

#: Weight levels per core: the subset sums of four base currents.
N_LEVELS = 16
_BINARY = np.array([1.0, 2.0, 4.0, 8.0])
_BITS = ((np.arange(N_LEVELS)[:, None] >> np.arange(4)[None, :]) & 1).astype(np.float64)  # (16, 4)
_WEIGHT_BIAS = "Iw_0"  # the four base weights are the same bias type (SYAM_W*_P, one scale factor)
# Currents that are subset sums up to float32 rounding (a float32 weight times Iscale is within
# 2^-24 of the level it was rounded from) count as exact.
_EXACT_RTOL = 2.0**-24
_SPLITS = 64  # most ways to split one current into codes that the exact search tries


def levels(base: ArrayLike) -> np.ndarray:
    """The 16 weight levels (A) of base currents ``base`` (..., 4): level ``m`` = sum of the bases
    whose bit is set in ``m``."""
    return np.asarray(base, dtype=np.float64) @ _BITS.T


def _assign(w: np.ndarray, base: np.ndarray) -> tuple[np.ndarray, float]:
    """Each current's nearest level: (masks, squared error)."""
    lv = levels(base)
    order = np.argsort(lv, kind="stable")
    s = lv[order]
    right = np.clip(np.searchsorted(s, w), 1, N_LEVELS - 1)
    left = right - 1
    pick = np.where(np.abs(s[right] - w) < np.abs(w - s[left]), right, left)
    masks = order[pick]
    return masks, float(np.sum((w - lv[masks]) ** 2))


def _box_ls4(masks: np.ndarray, w: np.ndarray, upper: float, fixed: Optional[dict] = None) -> np.ndarray:
    """argmin over 0 <= b <= upper of ||A b - w||^2 with A = bits of the masks, the bases in
    ``fixed`` (index -> value) held: exact, by trying every assignment of each other base to
    free, 0 or ``upper`` (at most 81 small linear solves)."""
    fixed = {} if fixed is None else fixed
    a = _BITS[masks]
    gram, rhs = a.T @ a, a.T @ w
    held = np.array([k in fixed for k in range(4)])
    # The unconstrained solution, when it is inside the box, is the answer (the usual case).
    free = ~held
    if free.any():
        b = np.zeros(4)
        for k, v in fixed.items():
            b[k] = v
        g = gram[np.ix_(free, free)]
        if abs(np.linalg.det(g)) > 1e-9 * max(float(np.abs(g).max()), 1.0) ** int(free.sum()):
            b[free] = np.linalg.solve(g, rhs[free] - gram[np.ix_(free, held)] @ b[held])
            if np.all(b[free] >= 0) and np.all(b[free] <= upper):
                return b
    best, best_val = None, np.inf
    for combo in _COMBOS:
        if np.any(combo[held] != 1):  # a held base is enumerated once (state 1, "not free")
            continue
        free = (combo == 0) & ~held
        b = np.where(combo == 2, upper, 0.0)
        for k, v in fixed.items():
            b[k] = v
        if free.any():
            g = gram[np.ix_(free, free)]
            if abs(np.linalg.det(g)) < 1e-9 * max(float(np.abs(g).max()), 1.0) ** int(free.sum()):
                continue
            b[free] = np.linalg.solve(g, rhs[free] - gram[np.ix_(free, ~free)] @ b[~free])
            if np.any(b[free] < 0) or np.any(b[free] > upper):
                continue
        val = float(b @ gram @ b - 2 * b @ rhs)
        if val < best_val:
            best, best_val = b, val
    return best


# Each base free (0), at zero (1) or at the largest code (2).
_COMBOS = np.array(np.meshgrid(*[range(3)] * 4, indexing="ij")).reshape(4, -1).T


def _step_grid(w: np.ndarray, points: int) -> np.ndarray:
    """Candidate uniform-grid steps d for currents ``w``: 2 % to 120 % of max(w) / 15, geometric,
    capped where 8 d would exceed the largest code."""
    top = min(w.max(), _largest() * (N_LEVELS - 1) / 8)
    return np.minimum(top / (N_LEVELS - 1) * np.geomspace(0.02, 1.2, points), _largest() / 8)


def _uniform_steps(w: np.ndarray) -> tuple[float, float]:
    """The best uniform-grid step d (levels 0..15 d, with 8 d a current the chip can make) and
    its squared error."""

    def err(d):
        return float(np.sum((w - d * np.clip(np.round(w / d), 0, N_LEVELS - 1)) ** 2))

    grid = _step_grid(w, 241)
    errors = [err(d) for d in grid]
    i = int(np.argmin(errors))
    lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, len(grid) - 1)]
    # Golden-section refinement inside the bracket (the error is piecewise smooth in d).
    phi = (np.sqrt(5) - 1) / 2
    for _ in range(40):
        a, b = hi - phi * (hi - lo), lo + phi * (hi - lo)
        if err(a) < err(b):
            hi = b
        else:
            lo = a
    d = min(0.5 * (lo + hi), _largest() / 8)
    return (d, err(d)) if err(d) < errors[i] else (grid[i], errors[i])


def _realisable_uniform(w: np.ndarray) -> tuple[np.ndarray, float]:
    """The best uniform grid the bias generator can make: bases d (1, 2, 4, 8), each rounded to
    its nearest code, d searched (as in :func:`_uniform_steps`, then around the best)."""
    def err(d):
        base = bias_code(_WEIGHT_BIAS, np.minimum(d * _BINARY, _largest())).current
        return _assign(w, base)[1], base

    grid = _step_grid(w, 161)
    best = min((err(d) + (d,) for d in grid), key=lambda t: t[0])
    fine = best[2] * np.linspace(0.975, 1.025, 41)
    best = min([best] + [err(d) + (d,) for d in fine], key=lambda t: t[0])
    return best[1], best[0]


def uniform_grid_error(currents: ArrayLike, *, realisable: bool = True) -> float:
    r"""Relative error $\|I_q - I\|/\|I\|$ of the best uniform 4-bit grid on the currents (A)
    ``currents``: the baseline :func:`quantize_currents` never does worse than.

    The grid has bases $d\,(1, 2, 4, 8)$, levels $0..15\,d$, $d$ searched. ``realisable``
    (default) rounds each base to its nearest code, as the chip must; ``False`` is the ideal grid
    with any $d$ (below 494 nA / 8), which rounding to codes can cost up to ~0.2 % of the error
    where codes are sparse (3 % apart at the bottom of a coarse range).
    """
    w = np.abs(np.asarray(currents, dtype=np.float64)).ravel()
    w = w[w > 0]
    norm = np.linalg.norm(w)
    if norm == 0:
        return 0.0
    sq = _realisable_uniform(w)[1] if realisable else _uniform_steps(w)[1]
    return float(np.sqrt(sq) / norm)


def _largest() -> float:
    return float(representable_currents(_WEIGHT_BIAS)[0][-1])


def _lloyd(w: np.ndarray, base: np.ndarray, iterations: int = 100) -> np.ndarray:
    masks, err = _assign(w, base)
    for _ in range(iterations):
        new = _box_ls4(masks, w, _largest())
        new_masks, new_err = _assign(w, new)
        if new_err >= err * (1 - 1e-12):
            break
        base, masks, err = new, new_masks, new_err
    return base


def _snap(w: np.ndarray, base: np.ndarray) -> tuple[np.ndarray, float]:
    """Round the bases to codes: one base at a time (the largest first), each to the code below or
    above it, the bases not yet rounded re-fitted after each choice (both branches are kept, 16
    leaves); then move one base at a time to a neighbouring code while the error falls."""
    values, _, _ = representable_currents(_WEIGHT_BIAS)
    top = _largest()
    masks, _ = _assign(w, base)
    order = np.argsort(-base, kind="stable")

    def neighbours(v):
        i = np.clip(np.searchsorted(values, v), 1, len(values) - 1)
        return (i - 1, i)

    leaves = []

    def branch(fixed, current):
        if len(fixed) == 4:
            idx = np.array([fixed[k] for k in range(4)])
            leaves.append((idx, _assign(w, values[idx])[1]))
            return
        k = order[len(fixed)]
        for i in neighbours(current[k]):
            held = {**fixed, k: i}
            refit = _box_ls4(masks, w, top, {j: values[v] for j, v in held.items()})
            branch(held, current if refit is None else refit)

    branch({}, np.clip(base, values[0], top))
    idx, err = min(leaves, key=lambda leaf: leaf[1])
    for _ in range(20):
        improved = False
        for k in range(4):
            lo, hi = max(idx[k] - 8, 0), min(idx[k] + 9, len(values))
            for j in range(lo, hi):
                if j == idx[k]:
                    continue
                trial = idx.copy()
                trial[k] = j
                e = _assign(w, values[trial])[1]
                if e < err * (1 - 1e-12):
                    idx, err, improved = trial, e, True
        if not improved:
            break
    return values[idx], err


def _code_sums(r: float, k: int, below: float, tol: float) -> list:
    """Every way (up to 64) to write ``r`` as a sum of ``k`` <= 3 codes, each at most ``below``,
    to within ``tol`` (A), listed largest code first (so each set is found once)."""
    values, _, _ = representable_currents(_WEIGHT_BIAS)
    top = min(r, below) + tol
    if k == 1:
        i = np.searchsorted(values, r - tol)
        hit = i < len(values) and abs(values[i] - r) <= tol and values[i] <= top
        return [[float(values[i])]] if hit else []
    # The largest of k codes summing to r lies in [r / k, r].
    cand = values[np.searchsorted(values, r / k - tol): np.searchsorted(values, top)][::-1]
    if k == 2:
        rest = r - cand
        j = np.clip(np.searchsorted(values, rest - tol), 0, len(values) - 1)
        hit = (np.abs(values[j] - rest) <= tol) & (values[j] <= cand + tol) & (rest > 0)
        return [[float(a), float(b)] for a, b in zip(cand[hit], values[j][hit])][:_SPLITS]
    out = []
    for c in cand:
        out += [[float(c)] + rest for rest in _code_sums(float(r - c), k - 1, float(c), tol)]
        if len(out) >= _SPLITS:
            break
    return out[:_SPLITS]


def _exact(w: np.ndarray, accept=None) -> Optional[np.ndarray]:
    """Four representable bases whose subset sums contain every current, if there are such.

    A backtracking search: the smallest current $v$ that is not yet a subset sum of the bases
    found so far is such a sum $s$ plus one, two or three new bases (their sum $v - s$ split
    into codes every way there is), to within float32 rounding of the current. Codes are a
    sparse set of doubles, so such a split is rarely an accident and the branches stay few; the
    search gives up after 200 splits (the weights are then quantised as any others). Tiny
    codes can add up to the same current in several ways to within that rounding; ``accept``
    (the four bases -> bool) decides which of them is the one, e.g. the one that gives back the
    float32 weights bit for bit.
    """
    distinct = np.unique(w)
    if len(distinct) > N_LEVELS - 1:
        return None

    budget = [200]  # splits tried; a network that is not representable is given up on quickly

    def search(base: list) -> Optional[list]:
        if budget[0] <= 0:
            return None
        budget[0] -= 1
        sums = levels(np.pad(base, (0, 4 - len(base))))[: 1 << len(base)]
        missing = [v for v in distinct if np.min(np.abs(sums - v)) > _EXACT_RTOL * v]
        if not missing:
            full = np.array(base + [float(representable_currents(_WEIGHT_BIAS)[0][0])] * (4 - len(base)))
            return base if accept is None or accept(np.sort(full)) else None
        v = missing[0]
        for s_ in np.unique(sums[sums < v * (1 - _EXACT_RTOL)])[::-1]:
            for k in range(1, 4 - len(base) + 1):
                for new in _code_sums(float(v - s_), k, float(v), _EXACT_RTOL * float(v)):
                    found = search(base + new)
                    if found is not None:
                        return found
        return None

    base = search([])
    if base is None:
        return None
    values, _, _ = representable_currents(_WEIGHT_BIAS)
    return np.array(base + [values[0]] * (4 - len(base)))


def _bases(nz: np.ndarray, accept=None) -> tuple[np.ndarray, float]:
    """The four bases for the non-zero currents ``nz`` (ascending), and the squared error of the
    best uniform grid on codes (the baseline)."""
    values, _, _ = representable_currents(_WEIGHT_BIAS)
    if nz.size == 0:
        return np.full(4, values[0]), 0.0
    # The realisable uniform grid is a candidate as it is: the result is never worse.
    uniform = _realisable_uniform(nz)
    exact = _exact(nz, accept)
    if exact is not None:
        base = exact
    else:
        d, _ = _uniform_steps(nz)
        best = uniform
        for scale in (1.0, 0.5, 2.0):
            cand, err = _snap(nz, _lloyd(nz, scale * d * _BINARY))
            if err < best[1]:
                best = (cand, err)
        base = best[0]
    # Ascending bases: one set of levels has one configuration (Iw_0 the smallest).
    return np.sort(base), uniform[1]


def quantize_currents(currents: ArrayLike) -> tuple[np.ndarray, np.ndarray, float]:
    """Quantise one core's connection currents (A, >= 0, any shape) to 16 subset-sum levels.

    **Returns:** ``(base, masks, squared_error)``: the four base currents (representable codes of
    ``SYAM_W*_P``, A), the masks (ints 0..15, the shape of ``currents``; a mask of 0 means no
    connection) and $\\sum (I_q - I)^2$.
    """
    c = np.asarray(currents, dtype=np.float64)
    w = c.ravel()
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError("weight currents must be finite and >= 0 (the sign is the dendrite)")
    base, _ = _bases(w[w > 0])
    masks, err = _assign(w, base)
    masks = np.where(w > 0, masks, 0)
    return base, masks.reshape(c.shape), float(np.sum((w - levels(base)[masks]) ** 2))


class WeightQuantization(NamedTuple):
    """What :func:`quantize_weights` chose, per core and per connection."""

    base: np.ndarray
    """``(n_cores, 4)`` base currents ``Iw_0..Iw_3`` (A), each a representable code."""
    coarse: np.ndarray
    """``(n_cores, 4)`` their coarse values."""
    fine: np.ndarray
    """``(n_cores, 4)`` their fine values."""
    masks: list
    """One int array per weight array, same shape: each connection's mask (0 = no connection)."""
    quantized: list
    """One array per weight array: the quantised currents (A)."""
    rel_error: np.ndarray
    """``(n_cores,)`` $\\|I_q - I\\|/\\|I\\|$ over each core's incoming connections."""
    uniform_error: np.ndarray
    """``(n_cores,)`` the same for the best uniform 4-bit grid of the core (the baseline)."""


def quantize_weights(
    currents: Sequence[ArrayLike], cores: ArrayLike, *, base: Optional[ArrayLike] = None, exact=None
) -> WeightQuantization:
    """Quantise the connection currents of a network, core by core.

    **Arguments:**

    - ``currents``: weight-current arrays (A, >= 0), each ``(n_pre, n_post)`` or
      ``(n_pre, n_post, 4)`` (one per synapse type); axis 1 is the target neuron, whose core
      holds the base weights. Inputs and recurrent connections of a core share its bases.
    - ``cores``: ``(n_post,)`` the core (0-based, global) of each target neuron.
    - ``base``: ``(n_cores, 4)`` fixed base currents (e.g. of an existing configuration); each
      connection then only takes its nearest level.
    - ``exact``: ``exact(core, bases) -> bool``, which of several equivalent exact bases to keep
      when a core's currents already are subset sums of codes (:func:`deploy` keeps the one
      that gives the network's float32 weights back bit for bit).
    """
    arrays = [np.asarray(a, dtype=np.float64) for a in currents]
    for i, a in enumerate(arrays):
        if not np.all(np.isfinite(a)) or np.any(a < 0):
            raise ValueError(f"`currents[{i}]` must be finite and >= 0 (A; the sign is the dendrite)")
    cores = np.asarray(cores)
    if cores.ndim != 1 or not np.issubdtype(cores.dtype, np.integer) or np.any(cores < 0):
        raise ValueError(f"`cores` must be a 1-D array of core indices >= 0, got {cores!r}")
    for i, a in enumerate(arrays):
        if a.ndim not in (2, 3) or a.shape[1] != len(cores):
            raise ValueError(
                f"`currents[{i}]` must be (n_pre, n_post) or (n_pre, n_post, 4) with n_post = {len(cores)}, "
                f"got shape {a.shape}"
            )
    n_cores = int(cores.max()) + 1 if len(cores) else 0
    if base is not None:
        base = np.asarray(base, dtype=np.float64)
        if base.shape != (n_cores, 4):
            raise ValueError(f"`base` must be (n_cores, 4) = ({n_cores}, 4), got {base.shape}")
        if not np.all(np.isfinite(base)) or np.any(base <= 0):
            raise ValueError("`base` (the base weight currents) must be finite and > 0 (A)")
        snapped = bias_code(_WEIGHT_BIAS, base)
        if np.any(snapped.rel_error > _EXACT_RTOL):
            k = np.unravel_index(np.argmax(snapped.rel_error), base.shape)
            raise ValueError(
                f"`base` must hold currents the bias generator can make (codes of SYAM_W*_P, e.g. a Deployment's "
                f"base_weights); base[{k[0]}, {k[1]}] = {base[k]:.6g} A is {100 * snapped.rel_error[k]:.3g} % from "
                f"the nearest code, {snapped.current[k]:.6g} A"
            )
        base = snapped.current
    bases = np.zeros((n_cores, 4))
    masks = [np.zeros(a.shape, dtype=np.int64) for a in arrays]
    quant = [np.zeros_like(a) for a in arrays]
    rel, uni = np.zeros(n_cores), np.zeros(n_cores)
    for k in range(n_cores):
        cols = cores == k
        if base is None and not np.any(cols):
            bases[k] = representable_currents(_WEIGHT_BIAS)[0][0]  # a core without neurons
            continue
        parts = [a[:, cols] for a in arrays]
        flat = np.concatenate([p.ravel() for p in parts]) if parts else np.zeros(0)
        if base is None:
            accept = None if exact is None else (lambda b_, k=k: exact(k, b_))
            b, uniform_sq = _bases(flat[flat > 0], accept)
        else:
            b = base[k]
        bases[k] = b
        lv = levels(b)
        norm = np.linalg.norm(flat)
        sq = 0.0
        for m, q, p in zip(masks, quant, parts):
            mk, _ = _assign(p.ravel(), b) if p.size else (np.zeros(0, dtype=np.int64), 0.0)
            mk = np.where(p.ravel() > 0, mk, 0).reshape(p.shape)
            m[:, cols] = mk
            q[:, cols] = lv[mk]
            sq += float(np.sum((lv[mk] - p) ** 2))
        rel[k] = np.sqrt(sq) / norm if norm > 0 else 0.0
        if base is not None:
            uniform_sq = _realisable_uniform(flat[flat > 0])[1] if norm > 0 else 0.0
        uni[k] = np.sqrt(uniform_sq) / norm if norm > 0 else 0.0
    code = bias_code(_WEIGHT_BIAS, bases) if n_cores else bias_code(_WEIGHT_BIAS, np.ones((0, 4)))
    return WeightQuantization(bases, code.coarse, code.fine, masks, quant, rel, uni)


class QuantizedWeight(AbstractReparam):
    r"""A weight trained through its 4-bit quantisation (straight-through estimator).

    The forward value is the quantised weight, the gradient is that of the float weight:

    $$W_q = \big(\mathrm{sign}(W)\,Q(|W|) + W - \mathrm{sg}[W]\big)\,M$$

    with $Q$ the nearest of the target neuron's 16 levels (its core's subset sums over its
    ``Iscale``, units of ``Iscale`` like the weights), $M$ the connections the configuration has
    (fan-in held: a pruned connection stays zero) and sg the stop-gradient. ``raw`` is the float
    weight (signed ``(n_pre, n_post)`` or ``(n_pre, n_post, 4)`` >= 0, or a wrapper of one);
    ``levels`` ``(n_post, 16)``; ``mask`` boolean, the shape of ``raw``. The levels are static
    and the mask is boolean, so neither trains (nor decays).
    """

    raw: Any
    mask: Array
    levels: tuple = eqx.field(static=True)

    def __init__(self, raw: ArrayLike, levels: ArrayLike, mask: ArrayLike):
        # ``raw`` may itself be a wrapper (e.g. softplus); :func:`spikax.train.unwrap` resolves it first.
        self.raw = raw if isinstance(raw, AbstractReparam) else jnp.asarray(raw)
        value = unwrap(raw) if isinstance(raw, AbstractReparam) else self.raw
        lv = np.asarray(levels, dtype=np.float32)
        self.mask = jnp.asarray(mask, dtype=bool)
        n_post = value.shape[1]
        if lv.shape != (n_post, N_LEVELS) or self.mask.shape != value.shape or not np.all(np.isfinite(lv)):
            raise ValueError(
                f"QuantizedWeight: `levels` must be finite ({n_post}, {N_LEVELS}) and `mask` {value.shape}, got "
                f"{lv.shape} and {self.mask.shape}"
            )
        # Static (hashable) so that no optimiser or filter can move them.
        self.levels = tuple(map(tuple, lv.tolist()))

    def quantized(self) -> Array:
        """The quantised weight (the forward value)."""
        w = jax.lax.stop_gradient(self.raw)
        lv = jnp.asarray(self.levels, dtype=w.dtype)  # (n_post, 16)
        extra = (None,) * (w.ndim - 2)
        lv_b = lv[(None, slice(None)) + extra + (slice(None),)]  # (1, n_post, [1,] 16)
        pick = jnp.argmin(jnp.abs(jnp.abs(w)[..., None] - lv_b), axis=-1)
        q = jnp.take_along_axis(jnp.broadcast_to(lv_b, w.shape + (N_LEVELS,)), pick[..., None], axis=-1)[..., 0]
        return jnp.where(self.mask, jnp.sign(w) * q, 0.0)

    def unwrap(self) -> Array:
        # q + (W - sg(W)): exactly q in the forward pass (W - W is 0), the identity backward.
        return jnp.where(self.mask, self.quantized() + (self.raw - jax.lax.stop_gradient(self.raw)), 0.0)
