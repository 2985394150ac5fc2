r"""The shipped training tasks: data (no download), spike encoding, models and objectives.

``load_task(name)`` returns a :class:`Task` with train and test sets ``(inputs, labels)``
(inputs ``(N, T, channels)`` spike counts, time first per sample), and builds the models
``spikax train`` and the examples train:

- ``"vowels"``: UEA Japanese Vowels (Kudo et al. 1999, doi:10.1016/S0167-8655(99)00077-X), 9
  speakers, 270 training and 370 test utterances of 7-29 frames of 12 LPC cepstrum
  coefficients, read from the ``aeon`` wheel (``pip install spikax[data]``). Encoding: each
  coefficient is z-scored with the training set's statistics and split into an ON channel
  $[z]_+$ and an OFF channel $[-z]_+$ (24 channels: spike inputs are non-negative, and the
  DYNAP-SE2 takes inhibition as a synapse type, not a negative input), clipped at
  ``z_max`` = 3, and sent as a deterministic rate code (:func:`spikax.encode.sigma_delta`) at
  up to ``max_rate`` Hz, each frame held ``frame_ms`` ms; shorter utterances end in silence.
  Why this code: a frame lasts 10 ms, in which a Poisson channel at 200 Hz carries two spikes
  on average, a relative noise of 70 % on the value; the sigma-delta code carries the value
  to within one spike over the frame, with the same non-negative spike counts the chip takes.
- ``"frozen-noise"``: Rockpool's DYNAP-SE2 training tutorial: 60 Poisson channels at 50 Hz for
  500 ms (dt 1 ms), one frozen sample per class, 2 classes; a recurrent layer of 2
  ``DynapSim`` neurons learns to fire for its own class (:class:`~spikax.train.RateTarget`).
- ``"digits"``: scikit-learn's 8x8 digits (1797 images shipped with scikit-learn), each pixel
  a Poisson rate code over ``n_steps`` steps; 25 % held out.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["MODELS", "TASKS", "Task", "load_task"]

#: Task names.
TASKS = ("vowels", "frozen-noise", "digits")
#: Model kinds every task builds.
MODELS = ("lif", "dynapse")


@dataclasses.dataclass(frozen=True)
class Task:
    """A data set with the models and objectives that train on it.

    ``train`` and ``test`` are ``(inputs, labels)`` NumPy pairs; ``make_model(kind, key)``
    builds a fresh model (``kind`` in :data:`MODELS`) and ``objective(kind)`` its objective;
    ``defaults(kind)`` are the training settings used in the README's figures.
    """

    name: str
    train: tuple
    test: tuple
    n_classes: int
    dt: float
    make_model: Callable
    objective: Callable
    defaults: Callable


def _check_kind(kind: str) -> str:
    if kind not in MODELS:
        raise ValueError(f"unknown model {kind!r}: choose one of {', '.join(MODELS)}")
    return kind


# --------------------------------------------------------------------------- Japanese Vowels


def _vowels_raw():
    try:
        from aeon.datasets import load_japanese_vowels
    except ImportError:
        raise ImportError(
            "the Japanese Vowels task reads its data from the `aeon` package: pip install 'spikax[data]'"
        ) from None
    out = []
    for split in ("train", "test"):
        X, y = load_japanese_vowels(split=split)
        out.append(([np.asarray(x, np.float64) for x in X], np.asarray(y).astype(int) - 1))
    return out


def encode_vowels(
    utterances, mean, std, *, frame_ms: int = 10, max_rate: float = 500.0, z_max: float = 3.0, dt: float = 1e-3,
    n_frames: int = 29,
):
    """``(N, n_frames * frame_ms, 24)`` ON/OFF sigma-delta spike counts of LPC utterances ``(12, frames)``."""
    from ..encode import sigma_delta

    steps = int(round(frame_ms * 1e-3 / dt))
    rates = np.zeros((len(utterances), n_frames, 24))
    for i, u in enumerate(utterances):
        z = np.clip((u.T - mean) / std, -z_max, z_max) / z_max  # (frames, 12) in [-1, 1]
        f = min(len(z), n_frames)
        rates[i, :f, :12] = np.maximum(z[:f], 0.0)
        rates[i, :f, 12:] = np.maximum(-z[:f], 0.0)
    held = np.repeat(rates, steps, axis=1) * max_rate  # (N, T, 24) Hz
    return np.stack([np.asarray(sigma_delta(r, dt=dt)) for r in held]).astype(np.float32)


def _vowels(frame_ms: int = 10, max_rate: float = 500.0, **_):
    (xtr, ytr), (xte, yte) = _vowels_raw()
    frames = np.concatenate(xtr, axis=1)
    mean, std = frames.mean(axis=1), frames.std(axis=1)
    n_frames = max(max(x.shape[1] for x in xtr), max(x.shape[1] for x in xte))
    enc = lambda X: encode_vowels(X, mean, std, frame_ms=frame_ms, max_rate=max_rate, n_frames=n_frames)
    return (enc(xtr), ytr.astype(np.int32)), (enc(xte), yte.astype(np.int32)), 9


# --------------------------------------------------------------------------- frozen noise


def _frozen_noise(rate: float = 50.0, duration: float = 0.5, n_channels: int = 60, seed: int = 0, **_):
    from ..encode import poisson

    key = jax.random.key(seed)
    x = np.stack(
        [np.asarray(poisson(rate, duration=duration, dt=1e-3, n_channels=n_channels, key=k))
         for k in jax.random.split(key, 2)]
    )
    y = np.arange(2, dtype=np.int32)
    # The task is to tell two fixed samples apart: train and test are the same frozen samples.
    return (x, y), (x, y), 2


# --------------------------------------------------------------------------- digits


def _digits(n_steps: int = 25, seed: int = 0, **_):
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise ImportError("the digits task reads scikit-learn's digits: pip install 'spikax[examples]'") from None
    from ..encode import rate as rate_code

    data = load_digits()
    x = (data.data / 16.0).astype(np.float32)
    y = data.target.astype(np.int32)
    order = np.random.default_rng(seed).permutation(len(y))
    n_test = int(round(0.25 * len(y)))
    test, train = order[:n_test], order[n_test:]
    # Spikes are drawn once (a fixed data set of spike trains), from the seed.
    spikes = np.asarray(rate_code(x, n_steps=n_steps, key=jax.random.key(seed)))  # (T, N, 64)
    spikes = np.moveaxis(spikes, 0, 1)
    return (spikes[train], y[train]), (spikes[test], y[test]), 10


_LOADERS = {"vowels": _vowels, "frozen-noise": _frozen_noise, "digits": _digits}


# --------------------------------------------------------------------------- models


def _lif_model(n_in: int, n_hidden: int, n_out: int, key, dt: float, *, scale: float, readout_tau: float):
    import spikax as sx

    k1, k2 = jax.random.split(key)
    lin1 = sx.Linear.create(n_in, n_hidden, key=k1)
    lin2 = sx.Linear.create(n_hidden, n_out, key=k2)
    lin1 = sx.Linear(lin1.weight * scale, lin1.bias * 0.0)
    surrogate = sx.surrogate.FastSigmoid(slope=5.0)
    return sx.Sequential(
        lin1,
        sx.LIF.create(n_hidden, tau_mem=20e-3, tau_syn=5e-3, v_threshold=1.0, spike_fn=surrogate, dt=dt),
        lin2,
        sx.LI.create(tau=readout_tau, dt=dt),
    )


def _digits_model(n_in: int, n_hidden: int, n_out: int, key, dt: float):
    """Two layers of binary LIF neurons classified by output spike counts.

    A LIF integrates its input twice (synapse, then membrane): a constant input x settles at
    v ~ x (tau_syn/dt)(tau_mem/dt), a gain of 200 here, so the Kaiming weights are scaled by 0.1
    to start neither silent nor saturated.
    """
    import spikax as sx

    surrogate = sx.surrogate.FastSigmoid(slope=5.0)
    k1, k2 = jax.random.split(key)
    lin1, lin2 = sx.Linear.create(n_in, n_hidden, key=k1), sx.Linear.create(n_hidden, n_out, key=k2)
    lif = lambda n: sx.LIF.create(n, tau_mem=20e-3, tau_syn=10e-3, v_threshold=1.0, spike_fn=surrogate, dt=dt)
    return sx.Sequential(sx.Linear(lin1.weight * 0.1, lin1.bias * 0.1), lif(n_hidden),
                         sx.Linear(lin2.weight * 0.1, lin2.bias * 0.1), lif(n_out))


def _dynapse_model(n_in: int, n_hidden: int, n_out: int, key, dt: float, *, input_scale: float,
                   recurrent_scale: float):
    import spikax as sx

    from ._chip import chip_network, chip_trainable

    k1, k2 = jax.random.split(key)
    net = chip_network(n_in, n_hidden, key=k1, input_scale=input_scale, recurrent_scale=recurrent_scale, dt=dt)
    net = chip_trainable(net)
    if n_out == n_hidden:
        return net
    # The readout is off-chip: a linear map of the spike counts (Classification(readout='sum')).
    # Scaled down: the logits are weighted spike counts (tens per neuron), and Kaiming weights
    # would start them at +-10, a cross-entropy of ~12 that training first reduces by silencing
    # the chip neurons.
    readout = sx.Linear.create(n_hidden, n_out, key=k2)
    readout = sx.Linear(readout.weight * 0.05, readout.bias * 0.0)
    return sx.Sequential(*net.layers, readout)


def load_task(name: str, *, n_hidden: Optional[int] = None, **options) -> Task:
    """The task ``name`` (one of :data:`TASKS`) with its data loaded and encoded.

    ``n_hidden`` sets the hidden layer size (defaults: vowels 128, digits 128; frozen noise has
    no hidden layer: its two chip neurons are the output). ``options`` go to the data loader
    (vowels: ``frame_ms``, ``max_rate``; frozen noise: ``rate``, ``duration``, ``n_channels``,
    ``seed``; digits: ``n_steps``, ``seed``).
    """
    from ._losses import Classification, RateRegulariser, RateTarget

    if name not in _LOADERS:
        raise ValueError(f"unknown task {name!r}: choose one of {', '.join(TASKS)}")
    train, test, n_classes = _LOADERS[name](**options)
    n_in = train[0].shape[-1]
    dt = 1e-3

    if name == "frozen-noise":
        def make_model(kind, key):
            import spikax as sx
            from ._chip import chip_network, chip_trainable

            if _check_kind(kind) == "dynapse":
                return chip_trainable(chip_network(n_in, 2, key=key, input_scale=4.0, recurrent_scale=1.0, dt=dt))
            k1, _ = jax.random.split(key)
            lin = sx.Linear.create(n_in, 2, key=k1)
            return sx.Sequential(
                sx.Linear(lin.weight * 2.0, None),
                sx.LIF.create(2, tau_mem=20e-3, tau_syn=10e-3, spike_fn=sx.surrogate.FastSigmoid(5.0), dt=dt),
            )

        def objective(kind):
            _check_kind(kind)
            return RateTarget(jnp.array([[50.0, 0.0], [0.0, 50.0]]))

        def defaults(kind):
            return {"epochs": 400, "batch_size": 2, "learning_rate": 3e-3}
    else:
        hidden = (128 if n_hidden is None else int(n_hidden))

        def make_model(kind, key):
            if _check_kind(kind) == "lif":
                if name == "vowels":
                    return _lif_model(n_in, hidden, n_classes, key, dt, scale=1.0, readout_tau=20e-3)
                return _digits_model(n_in, hidden, n_classes, key, dt)
            return _dynapse_model(n_in, hidden, n_classes, key, dt, input_scale=4.0, recurrent_scale=0.01)

        def objective(kind):
            if _check_kind(kind) == "lif" and name == "digits":
                return Classification(readout="count")
            if kind == "lif":
                # A lower bound only: capping the LIF neurons at 100 Hz cost 3-4 points on
                # Japanese Vowels (93 % vs 96-97 %, seeds 0 and 1), where they settle at ~390 Hz.
                return Classification(readout="max", rate=RateRegulariser(lower=1.0, strength=1e-4))
            return Classification(readout="sum", rate=RateRegulariser(lower=1.0, upper=100.0, strength=1e-4))

        def defaults(kind):
            _check_kind(kind)
            if name == "digits" and kind == "lif":
                return {"epochs": 10, "batch_size": 64, "learning_rate": 5e-4}
            if name == "vowels" and kind == "lif":
                # 96.5-97.0 % (seeds 0-2) after 80 epochs, 95.1-96.5 % after 40; 0.12 s an epoch.
                return {"epochs": 80, "batch_size": 27, "learning_rate": 3e-3}
            return {"epochs": 40, "batch_size": 27 if name == "vowels" else 64, "learning_rate": 3e-3}

    return Task(
        name=name, train=train, test=test, n_classes=n_classes, dt=dt,
        make_model=make_model, objective=objective, defaults=defaults,
    )
