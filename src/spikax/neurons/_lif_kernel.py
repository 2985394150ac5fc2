r"""The LIF's whole-sequence kernel (:class:`spikax.FusedAdjoint`): BPTT written out by hand.

Forward, per step $t$ (the same operations, in the same order, as :func:`lif_charge` followed by
the fire and reset stages of :class:`spikax.neurons.AbstractSpikingNeuron`):

$$J_t = I_{t-1} + x_t,\quad I_t = \beta J_t,\quad H_t = \alpha V_{t-1} + \textstyle\sum_s I_{t,s} + b,
\quad (S_t, V_t) = g(H_t)$$

with $g$ the surrogate spike and the reset. Backward, for $t = T-1, \dots, 0$, with $\bar V$ and
$\bar I$ the cotangents flowing back from step $t+1$ (from the final state's at $t = T-1$):

$$\bar H_t = \partial_H g(H_t)^\top (\bar S_t, \bar V),\quad
\bar I \leftarrow \beta \odot (\bar I + \bar H_t),\quad \bar x_t = \bar I,\quad
\bar V \leftarrow \alpha\,\bar H_t,$$
$$\bar\alpha \mathrel{+}= \bar H_t V_{t-1},\quad \bar\beta \mathrel{+}= (\bar I_t + \bar H_t) J_t,\quad
\bar b \mathrel{+}= \bar H_t$$

(the synaptic cotangents are per synapse: $\bar H_t$ reaches every synapse of its neuron).

What the forward pass keeps (``jax.custom_vjp`` with symbolic zeros tells which inputs need
a derivative): for the default configuration, MultiSpike with the subtractive reset and a
threshold that is not trained, $\partial_H g$ only depends on whether $H_t$ lay in the
surrogate's window, so one boolean per neuron and step; otherwise $H_t$ itself (float), from
which $V_{t-1} = g(H_{t-1})_V$ is recomputed for $\bar\alpha$; and $J_t$ only when $\beta$
(``tau_syn``) is trained. The input ``xs`` is kept too, and the backward loop writes $\bar x$
into its buffer: XLA then reuses the memory of the Linear layer's output for its cotangent, which
keeps a Linear+LIF layer's temporaries at the size of the forward pass.

Both loops are ``lax.fori_loop`` over the time axis of the unbatched ``(T, n)`` arrays, so under
``jax.vmap`` they index the batch-first ``(B, T, n)`` arrays in place (no transposes).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax
from jax.custom_derivatives import SymbolicZero

from ..surrogate import MultiSpike
from ._base import fire, reset


class _Config(NamedTuple):
    """The static part of a kernel call."""

    fire_at: str
    detach_reset: bool
    n_neurons: int
    n_synapses: int
    synapse: bool  # False: a membrane-only LIF (no I, H_t = alpha V + x_t + b)
    mask_ok: bool  # MultiSpike with the subtractive reset: a window mask can replace H_t
    subtract: bool  # v_reset is None


def _fire_reset(cfg: _Config, spike_fn, h, v_threshold, v_reset):
    s = fire(spike_fn, h, v_threshold, cfg.fire_at)
    s_reset = lax.stop_gradient(s) if cfg.detach_reset else s
    return s, reset(h, s_reset, v_threshold, None if cfg.subtract else v_reset)


def _synaptic_sum(cfg: _Config, i):
    if cfg.n_synapses == 1:
        return i
    return jnp.sum(i.reshape(*i.shape[:-1], cfg.n_neurons, cfg.n_synapses), axis=-1)


def _at(a, t):
    """Step ``t`` of a sequence ``(..., T, k)``: the time axis is the second to last."""
    return lax.dynamic_index_in_dim(a, t, a.ndim - 2, keepdims=False)


def _put(a, value, t):
    return lax.dynamic_update_index_in_dim(a, value, t, a.ndim - 2)


def _batch_first(loop):
    """``loop(cfg, coeffs, seqs, keep)`` under ``jax.vmap`` with the batch as a leading axis.

    ``seqs`` (sequences and per-sample states) may carry a batch axis, ``coeffs`` (the model's
    loop invariants and surrogate) are shared. JAX's own batching of the loop would index the
    batch-first arrays through gathers and scatters with bounds checks in every step; here the
    loop itself takes the ``(B, T, k)`` arrays and slices them directly. Batched coefficients
    (a sweep over parameters) take JAX's generic batching of the same loop.
    """

    def call(cfg, coeffs, seqs, keep):
        @jax.custom_batching.custom_vmap
        def run(coeffs, seqs):
            return loop(cfg, coeffs, seqs, keep)

        @run.def_vmap
        def rule(axis_size, in_batched, coeffs, seqs):
            coeffs_batched, seqs_batched = in_batched
            if any(jax.tree.leaves(coeffs_batched)):
                axes = jax.tree.map(lambda b: 0 if b else None, in_batched)
                out = jax.vmap(lambda c, q: loop(cfg, c, q, keep), in_axes=tuple(axes))(coeffs, seqs)
            else:
                seqs = jax.tree.map(
                    lambda a, b: a if b else jnp.broadcast_to(a, (axis_size, *jnp.shape(a))), seqs, seqs_batched
                )
                # Per-neuron coefficients (n,) against per-sample states (B, n): the same rank.
                coeffs = jax.tree.map(lambda a: a[None] if jnp.ndim(a) else a, coeffs)
                out = loop(cfg, coeffs, seqs, keep)
            return out, jax.tree.map(lambda _: True, out)

        return run(coeffs, seqs)

    return call


def _forward_loop(cfg: _Config, coeffs, seqs, keep):
    """The forward loop, keeping H_t (or the window mask) and J_t of every step as ``keep`` asks."""
    spike_fn, alpha, beta, bias, v_threshold, v_reset = coeffs
    xs, v0, i0 = seqs
    keep_h, keep_mask, keep_j = keep
    lead, n_steps = xs.shape[:-2], xs.shape[-2]

    def body(t, carry):
        v, i, out, hs, js = carry
        if cfg.synapse:
            j = i + _at(xs, t)
            i = j * beta
            h = alpha * v + _synaptic_sum(cfg, i) + bias
        else:
            h = alpha * v + _at(xs, t) + bias
        s, v = _fire_reset(cfg, spike_fn, h, v_threshold, v_reset)
        out = _put(out, s, t)
        if keep_h:
            hs = _put(hs, h, t)
        elif keep_mask:
            hs = _put(hs, h >= v_threshold - spike_fn.window, t)
        if keep_j:
            js = _put(js, j, t)
        return v, i, out, hs, js

    shape = (*lead, n_steps, cfg.n_neurons)
    hs = jnp.zeros(shape, xs.dtype) if keep_h else jnp.zeros(shape, bool) if keep_mask else None
    js = jnp.zeros_like(xs) if keep_j else None
    return lax.fori_loop(0, n_steps, body, (v0, i0, jnp.zeros(shape, xs.dtype), hs, js))


def _backward_loop(cfg: _Config, coeffs, seqs, keep_h):
    """The backward loop (module docstring): the input's cotangent goes into the buffer of ``xs``."""
    spike_fn, alpha, beta, bias, v_threshold, v_reset = coeffs
    xs, hs, js, ct_out, gv, gi, v0 = seqs
    n_steps, s = xs.shape[-2], cfg.n_synapses
    zero = jnp.zeros_like(gv)
    acc = dict(alpha=zero, beta=None if gi is None else jnp.zeros_like(gi), bias=zero, v_threshold=zero,
               v_reset=None if v_reset is None else zero)
    inv_threshold = 1.0 / v_threshold

    def v_before(t):
        """V_{t-1}: the reset of H_{t-1} (recomputed), or the initial potential at t = 0."""
        v_prev = _fire_reset(cfg, spike_fn, _at(hs, jnp.maximum(t - 1, 0)), v_threshold, v_reset)[1]
        return jnp.where(t > 0, v_prev, v0)

    def body(k, carry):
        t = n_steps - 1 - k
        gv, gi, dxs, acc = carry
        g_s = _at(ct_out, t)
        acc = dict(acc)
        if keep_h:
            h = _at(hs, t)
            # The threshold and reset as wide as h: their cotangents stay per sample.
            wide = lambda a: None if a is None else jnp.broadcast_to(a, h.shape)  # noqa: E731
            _, vjp = jax.vjp(
                lambda h, th, vr: _fire_reset(cfg, spike_fn, h, th, vr), h, wide(v_threshold), wide(v_reset)
            )
            gh, g_th, g_vr = vjp((g_s, gv))
            acc["v_threshold"] = acc["v_threshold"] + g_th
            if v_reset is not None:
                acc["v_reset"] = acc["v_reset"] + g_vr
            acc["alpha"] = acc["alpha"] + gh * v_before(t)
        else:
            # MultiSpike, subtractive reset, threshold not trained: dS/dH = [H in window] / threshold.
            slope = jnp.where(_at(hs, t), inv_threshold, 0.0)
            gh = g_s * slope + (gv if cfg.detach_reset else gv * (1.0 - v_threshold * slope))
        acc["bias"] = acc["bias"] + gh
        if not cfg.synapse:
            return alpha * gh, gi, _put(dxs, gh, t), acc
        ci = gi + (gh if s == 1 else jnp.repeat(gh, s, axis=-1))
        if js is not None:
            acc["beta"] = acc["beta"] + ci * _at(js, t)
        gi = beta * ci
        return alpha * gh, gi, _put(dxs, gi, t), acc

    return lax.fori_loop(0, n_steps, body, (gv, gi, xs, acc))


_forward = _batch_first(_forward_loop)
_backward = _batch_first(_backward_loop)


def _split(arrays):
    return arrays[:6], arrays[6:]


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def _lif_sequence(cfg: _Config, arrays, xs):
    coeffs, (v0, i0) = _split(arrays)
    v, i, out, _, _ = _forward(cfg, coeffs, (xs, v0, i0), (False, False, False))
    return out, v, i


def _fwd(cfg: _Config, arrays, xs):
    trained = lambda p: p is not None and p.perturbed  # noqa: E731
    _, alpha, beta, _, v_threshold, _, _, _ = arrays
    # H_t is needed for a general surrogate or reset, for the threshold's derivative and for
    # V_{t-1} (alpha's); else the surrogate's window mask is all the backward pass reads.
    keep_h = not cfg.mask_ok or trained(v_threshold) or trained(alpha)
    values = jax.tree.map(lambda p: p.value, arrays)
    coeffs, (v0, i0) = _split(values)
    x = xs.value
    v, i, out, hs, js = _forward(cfg, coeffs, (x, v0, i0), (keep_h, not keep_h, cfg.synapse and trained(beta)))
    return (out, v, i), (values, x, hs, js)


def _dense(ct, like):
    return jnp.zeros_like(like) if isinstance(ct, SymbolicZero) else ct


def _bwd(cfg: _Config, res, cts):
    values, xs, hs, js = res
    coeffs, (v0, i0) = _split(values)
    ct_out, ct_v, ct_i = cts
    ct_out = _dense(ct_out, jnp.zeros(hs.shape, xs.dtype))
    keep_h = hs.dtype != jnp.bool_
    gi = None if i0 is None else _dense(ct_i, i0)
    gv0, gi0, dxs, acc = _backward(cfg, coeffs, (xs, hs, js, ct_out, _dense(ct_v, v0), gi, v0), keep_h)
    zero_fn = jax.tree.map(jnp.zeros_like, coeffs[0])
    arrays_ct = (zero_fn, acc["alpha"], acc["beta"], acc["bias"], acc["v_threshold"], acc["v_reset"], gv0, gi0)
    return arrays_ct, dxs


_lif_sequence.defvjp(_fwd, _bwd, symbolic_zeros=True)


def lif_sequence(model, coeffs, state, xs):
    """Run ``model`` (a :class:`spikax.LIF`) over ``xs`` ``(T, n * s)`` by the fused kernel.

    Returns ``(spikes (T, n), final LIFState)``, or ``None`` where the kernel does not apply
    (noise, parameters not shaped per neuron / per channel), so the generic loop runs.
    """
    from ._lif import LIFState  # the kernel module is imported by _lif

    n, s = model.n_neurons, model.n_synapses
    if state.step is not None or coeffs.noise_key is not None:
        return None
    per_neuron = (coeffs.alpha, coeffs.bias, coeffs.v_threshold) + (() if coeffs.v_reset is None else (coeffs.v_reset,))
    if any(jnp.shape(a) != (n,) for a in per_neuron):
        return None
    dtype = xs.dtype
    synapse = coeffs.beta is not None
    if synapse and jnp.shape(coeffs.beta) != (n * s,):
        return None
    typed = per_neuron + (state.v,) + ((coeffs.beta, state.i_syn) if synapse else ())
    if any(jnp.result_type(a) != dtype for a in typed):
        return None
    spike_fn = model.spike_fn
    cfg = _Config(
        fire_at=model.fire_at, detach_reset=model.detach_reset, n_neurons=n, n_synapses=s, synapse=synapse,
        mask_ok=isinstance(spike_fn, MultiSpike) and coeffs.v_reset is None, subtract=coeffs.v_reset is None,
    )
    arrays = (
        spike_fn, coeffs.alpha, coeffs.beta, coeffs.bias, coeffs.v_threshold, coeffs.v_reset, state.v, state.i_syn
    )
    ys, v, i = _lif_sequence(cfg, arrays, xs)
    return ys, LIFState(v=v, i_syn=i, step=None)
