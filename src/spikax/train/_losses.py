r"""Losses, regularisers and the objectives the fit loop optimises.

Batch losses (:func:`spike_count_cross_entropy`, :func:`max_membrane_cross_entropy`,
:func:`rate_mse`) take a batch of outputs and return a scalar. Objectives
(:class:`Classification`, :class:`RateTarget`) are what :func:`spikax.train.fit` calls: one
**unbatched** sample, ``objective(model, x, label, key=key) -> (loss, metrics)``, with metrics a
dict of scalars (``accuracy``, ``rate_hz``, ...); the fit loop ``vmap``\ s it over a batch and
averages. They run the model with :func:`forward`, which also returns the spikes of every
spiking layer, for the firing-rate regulariser and the rates the loop reports.
"""

from __future__ import annotations

from typing import Optional

import equinox as eqx
import jax
import jax.numpy as jnp
from jax import lax
from jaxtyping import Array, ArrayLike, Float, Int, PyTree

from .._validate import check_choice

__all__ = [
    "Classification",
    "RateRegulariser",
    "RateTarget",
    "forward",
    "max_membrane_cross_entropy",
    "rate_mse",
    "spike_count_accuracy",
    "spike_count_cross_entropy",
    "spiking_layers",
    "weight_l2",
]


def _check(counts, labels, name="counts"):
    counts, labels = jnp.asarray(counts), jnp.asarray(labels)
    if counts.ndim != 2:
        raise ValueError(f"`{name}` must be (batch, classes), got shape {counts.shape}")
    if labels.shape != counts.shape[:1] or not jnp.issubdtype(labels.dtype, jnp.integer):
        raise ValueError(
            f"`labels` must be integer class indices of shape ({counts.shape[0]},), got {labels.dtype} {labels.shape}"
        )
    return counts, labels


def _cross_entropy(logits, labels):
    # log-sum-exp about the (constant) maximum: exact, and finite for any logits.
    shifted = logits - lax.stop_gradient(jnp.max(logits, axis=-1, keepdims=True))
    picked = jnp.take_along_axis(shifted, labels[:, None], axis=-1)[:, 0]
    return jnp.mean(jnp.log(jnp.sum(jnp.exp(shifted), axis=-1)) - picked)


def spike_count_cross_entropy(counts: Float[ArrayLike, "batch classes"], labels: Int[ArrayLike, " batch"]) -> Array:
    r"""Mean cross-entropy of the softmax of output spike counts:
    $-\frac1B \sum_b \log \mathrm{softmax}(n_b)_{y_b}$, with $n_b$ the spike count of each class
    neuron for sample $b$ (the rate-coded readout of Neftci et al. 2019, doi:10.1109/MSP.2019.2931595).
    """
    counts, labels = _check(counts, labels)
    return _cross_entropy(counts, labels)


def max_membrane_cross_entropy(
    membrane: Float[ArrayLike, "batch time classes"], labels: Int[ArrayLike, " batch"]
) -> Array:
    r"""Cross-entropy of the softmax of each readout neuron's maximum membrane over time:
    $-\frac1B\sum_b \log\mathrm{softmax}(\max_t V_{b,t})_{y_b}$ (the max-over-time readout of
    non-spiking leaky integrators; Cramer et al. 2022, doi:10.1109/TNNLS.2020.3044364)."""
    membrane = jnp.asarray(membrane)
    if membrane.ndim != 3:
        raise ValueError(f"`membrane` must be (batch, time, classes), got shape {membrane.shape}")
    logits, labels = _check(jnp.max(membrane, axis=1), labels, "membrane")
    return _cross_entropy(logits, labels)


def rate_mse(rates: Float[ArrayLike, "batch neurons"], targets: Float[ArrayLike, "batch neurons"]) -> Array:
    r"""Mean squared error of firing rates: $\frac1{BN}\sum_{b,n}(r_{bn} - \hat r_{bn})^2$ (Hz²)."""
    rates, targets = jnp.asarray(rates), jnp.asarray(targets)
    if rates.shape != targets.shape:
        raise ValueError(f"`rates` {rates.shape} and `targets` {targets.shape} must have the same shape")
    return jnp.mean((rates - targets) ** 2)


def spike_count_accuracy(counts: Float[ArrayLike, "batch classes"], labels: Int[ArrayLike, " batch"]) -> Array:
    """Fraction of samples whose most active output neuron is the label (ties: the lowest index)."""
    counts, labels = _check(counts, labels)
    return jnp.mean(jnp.argmax(counts, axis=-1) == labels)


# --------------------------------------------------------------------------- running a model


def _is_spiking(layer) -> bool:
    from .._types import AbstractNeuron
    from ..layers import Recurrent
    from ..neurons import AbstractSpikingNeuron

    if isinstance(layer, Recurrent):
        return _is_spiking(layer.cell)
    if isinstance(layer, AbstractSpikingNeuron):
        return True
    if isinstance(layer, AbstractNeuron):
        from ..devices.dynapse import DynapSim

        return isinstance(layer, DynapSim)
    return False


def _dt(layer) -> float:
    from ..layers import Recurrent

    return (layer.cell if isinstance(layer, Recurrent) else layer).dt


def spiking_layers(model) -> list[int]:
    """Indices of the spiking layers of a :class:`spikax.Sequential` (``[0]`` or ``[]`` for one layer)."""
    from ..layers import Sequential

    layers = model.layers if isinstance(model, Sequential) else (model,)
    return [i for i, layer in enumerate(layers) if _is_spiking(layer)]


def forward(model, x: PyTree, *, key=None) -> tuple[PyTree, list[tuple[Array, float]]]:
    """Run one sample ``x`` ``(T, ...)``: ``(output, [(spikes, dt) of every spiking layer])``.

    The same computation (and the same keys per layer) as ``model(x, key=key)[0]`` for a
    :class:`spikax.Sequential`, which it runs layer by layer to keep each spiking layer's output.
    """
    from ..layers import Sequential

    if not isinstance(model, Sequential):
        y = model(x, key=key)[0]
        return y, ([(y, _dt(model))] if _is_spiking(model) else [])
    n = len(model.layers)
    keys = (None,) * n if key is None else tuple(jax.random.split(key, n))
    spikes = []
    y = x
    for layer, k in zip(model.layers, keys):
        y = layer(y, key=k)[0]
        if _is_spiking(layer):
            spikes.append((y, _dt(layer)))
    return y, spikes


def _rate_hz(spikes: Array, dt: float) -> Array:
    """Mean rate per neuron (Hz) of ``(T, n)`` spikes."""
    return jnp.sum(spikes, axis=0) / (spikes.shape[0] * dt)


class RateRegulariser(eqx.Module):
    r"""Keeps hidden firing rates between bounds: a penalty
    $\lambda\,\frac1N\sum_n\left([r_{lo} - r_n]_+^2 + [r_n - r_{hi}]_+^2\right)$ per spiking layer
    (except the output layer), with $r_n$ neuron $n$'s rate over the sample in Hz and
    $\lambda$ = ``strength`` (Hz⁻²). The lower bound revives silent neurons, which a surrogate
    gradient cannot train otherwise; the upper bound keeps activity sparse (the bounded
    regularisers of Zenke & Vogels 2021, doi:10.1162/neco_a_01367).
    """

    lower: float = 0.0
    upper: float = float("inf")
    strength: float = 1e-4

    def __check_init__(self):
        if not (0 <= self.lower <= self.upper):
            raise ValueError(f"RateRegulariser needs 0 <= lower <= upper (Hz), got {self.lower} and {self.upper}")
        if not self.strength >= 0:
            raise ValueError(f"RateRegulariser `strength` must be >= 0, got {self.strength}")

    def __call__(self, rates: Array) -> Array:
        low = jnp.maximum(self.lower - rates, 0.0)
        high = jnp.maximum(rates - self.upper, 0.0) if self.upper != float("inf") else 0.0
        return self.strength * jnp.mean(low**2 + high**2)


def weight_l2(model) -> Array:
    r"""$\sum w^2$ over every weight of a (physical) model: the ``weight`` of :class:`spikax.Linear`
    and :class:`~spikax.devices.dynapse.DynapseLinear`, and ``w_rec``; not biases or neuron parameters."""
    names = {"weight", "w_rec"}
    total = jnp.zeros(())
    for path, leaf in jax.tree_util.tree_leaves_with_path(model):
        if eqx.is_inexact_array(leaf) and any(getattr(p, "name", None) in names for p in path):
            total = total + jnp.sum(leaf**2)
    return total


def _hidden_terms(spikes, regulariser, spiking_output: bool):
    """Rates of every spiking layer, their mean as a metric, and the regulariser's penalty on
    the hidden ones (every spiking layer but a spiking output layer, whose rates the loss sets)."""
    rates = [_rate_hz(s, dt) for s, dt in spikes]
    metrics = {"rate_hz": jnp.mean(jnp.concatenate([r.ravel() for r in rates])) if rates else jnp.zeros(())}
    penalty = jnp.zeros(())
    if regulariser is not None:
        for r in rates[:-1] if spiking_output else rates:
            penalty = penalty + regulariser(r)
    return rates, metrics, penalty


#: How :class:`Classification` turns the output sequence ``(T, classes)`` into logits.
READOUTS = ("count", "max", "sum", "mean")


class Classification(eqx.Module):
    r"""Classify one sample by the model's output ``(T, classes)``: cross-entropy of logits.

    ``readout`` makes the logits: ``"count"`` the output spike counts $\sum_t s_t$
    (:func:`spike_count_cross_entropy`), ``"max"`` the maximum over time of a non-spiking
    readout's membrane, e.g. a :class:`spikax.LI` (:func:`max_membrane_cross_entropy`), ``"sum"``
    the sum over time (for a :class:`spikax.Linear` readout of hidden spikes, a linear map of
    their spike counts, $W^\top n + T b$), ``"mean"`` the time average. The loss adds
    ``rate`` (a :class:`RateRegulariser` on the hidden spiking
    layers) and ``weight_decay`` $\cdot$ :func:`weight_l2`.

    Metrics: ``loss``, ``accuracy``, ``rate_hz`` (the mean rate of the spiking layers' neurons).
    """

    readout: str = eqx.field(default="count", static=True)
    rate: Optional[RateRegulariser] = None
    weight_decay: float = 0.0

    def __check_init__(self):
        check_choice("readout", self.readout, READOUTS)
        if not self.weight_decay >= 0:
            raise ValueError(f"`weight_decay` must be >= 0, got {self.weight_decay}")

    def logits(self, y: Array) -> Array:
        if self.readout == "count":
            return jnp.sum(y, axis=0)
        if self.readout == "max":
            return jnp.max(y, axis=0)
        if self.readout == "sum":
            return jnp.sum(y, axis=0)
        return jnp.mean(y, axis=0)

    def __call__(self, model, x, label, *, key=None):
        y, spikes = forward(model, x, key=key)
        if y.ndim != 2:
            raise ValueError(f"a classifier's output must be (T, classes) per sample, got shape {y.shape}")
        logits = self.logits(y)
        ce = _cross_entropy(logits[None], jnp.asarray(label)[None])
        spiking_output = bool(spikes) and spikes[-1][0] is y
        _, metrics, penalty = _hidden_terms(spikes, self.rate, spiking_output)
        loss = ce + penalty
        if self.weight_decay:
            loss = loss + self.weight_decay * weight_l2(model)
        # Ties go to the lowest index, as in spike_count_accuracy; a silent output is wrong
        # for every class but 0, which the loss then pushes up.
        correct = (jnp.argmax(logits) == label).astype(logits.dtype)
        return loss, {"loss": loss, "accuracy": correct, **metrics}


class RateTarget(eqx.Module):
    r"""Fire at a target rate per class: $\frac1N\sum_n ((r_n - \hat r_{y,n})/r_{max})^2$ on the
    output layer's rates in Hz (:func:`rate_mse` scaled), $\hat r$ = ``targets[label]``
    ``(classes, n_out)``, $r_{max}$ the largest target: the loss is dimensionless and 1 for a
    silent network whose targets are one neuron at $r_{max}$ and the others 0.

    The frozen-noise task of Rockpool's DYNAP-SE2 tutorial is this objective: the neuron of
    the sample's class should fire at ``targets[y, y]``, the others stay silent. The prediction
    is the output neuron with the highest rate. Metrics: ``loss``, ``accuracy``, ``rate_hz``.
    """

    targets: Array
    rate: Optional[RateRegulariser] = None
    weight_decay: float = 0.0

    def __init__(self, targets: ArrayLike, *, rate: Optional[RateRegulariser] = None, weight_decay: float = 0.0):
        targets = jnp.asarray(targets, dtype=float)
        if targets.ndim != 2 or not bool(jnp.all(jnp.isfinite(targets))) or bool(jnp.any(targets < 0)):
            raise ValueError(f"`targets` must be finite rates >= 0 (Hz) of shape (classes, n_out), got {targets.shape}")
        self.targets = targets
        self.rate = rate
        self.weight_decay = weight_decay

    def __call__(self, model, x, label, *, key=None):
        y, spikes = forward(model, x, key=key)
        if not spikes:
            raise ValueError("RateTarget needs a spiking output layer")
        out, dt = spikes[-1]
        if out.ndim != 2 or out.shape[1] != self.targets.shape[1]:
            raise ValueError(
                f"the output layer has shape {out.shape[1:]}, `targets` expects ({self.targets.shape[1]},)"
            )
        r = _rate_hz(out, dt)
        _, metrics, penalty = _hidden_terms(spikes, self.rate, spiking_output=True)
        scale = jnp.maximum(jnp.max(self.targets), 1.0)
        # A label outside the targets' classes gives NaN (which the fit loop reports), not a
        # silently clamped row.
        target = jnp.take(self.targets, label, axis=0, mode="fill", fill_value=jnp.nan)
        loss = jnp.mean(((r - target) / scale) ** 2) + penalty
        if self.weight_decay:
            loss = loss + self.weight_decay * weight_l2(model)
        correct = (jnp.argmax(r) == label).astype(r.dtype)
        return loss, {"loss": loss, "accuracy": correct, **metrics}
