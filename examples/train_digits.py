"""Train a spiking network on handwritten digits with surrogate-gradient BPTT.

Data: scikit-learn's 8x8 digits (1797 images, shipped with scikit-learn: no download), each
pixel rate-coded as a spike train (probability per step = intensity). Network:
``Linear(64 -> 128) -> LIF -> Linear(128 -> 10) -> LIF``; the class is the output neuron with
the most spikes. Loss: cross-entropy of the output spike counts. Optimiser: Adam (optax),
gradients by backpropagation through time with the LIF's multi-spike surrogate.

    python examples/train_digits.py               # a few seconds on 2 CPU cores
    python examples/train_digits.py --epochs 3    # quicker
"""

from __future__ import annotations

import argparse
import time

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

import spikax as sx

N_CLASSES = 10


def load_digits(test_fraction: float = 0.25, seed: int = 0):
    """Images scaled to [0, 1] (N, 64) and labels, split into train and test sets."""
    from sklearn.datasets import load_digits as _load

    data = _load()
    x = (data.data / 16.0).astype(np.float32)
    y = data.target.astype(np.int32)
    order = np.random.default_rng(seed).permutation(len(y))
    n_test = int(round(test_fraction * len(y)))
    test, train = order[:n_test], order[n_test:]
    return (x[train], y[train]), (x[test], y[test])


def make_model(key, n_hidden: int = 128, dt: float = 1e-3, weight_scale: float = 0.1):
    """Two layers of binary-spiking LIF neurons.

    A LIF integrates its input twice (synapse, then membrane): a constant input x settles at
    v ~ x * (tau_syn/dt) * (tau_mem/dt), a gain of 200 here. The Kaiming-uniform weights are
    scaled down by ``weight_scale`` so that the initial network is neither silent nor saturated.
    """
    # Binary spikes with the SuperSpike surrogate: its long tails keep gradients flowing to
    # neurons far from threshold (the multi-spike surrogate is zero there, so silent neurons
    # would stay silent).
    surrogate = sx.surrogate.FastSigmoid(slope=5.0)
    k1, k2 = jax.random.split(key)
    lin1, lin2 = sx.Linear.create(64, n_hidden, key=k1), sx.Linear.create(n_hidden, N_CLASSES, key=k2)
    lin1 = sx.Linear(lin1.weight * weight_scale, lin1.bias * weight_scale)
    lin2 = sx.Linear(lin2.weight * weight_scale, lin2.bias * weight_scale)
    return sx.Sequential(
        lin1,
        sx.LIF.create(n_hidden, tau_mem=20e-3, tau_syn=10e-3, v_threshold=1.0, spike_fn=surrogate, dt=dt),
        lin2,
        sx.LIF.create(N_CLASSES, tau_mem=20e-3, tau_syn=10e-3, v_threshold=1.0, spike_fn=surrogate, dt=dt),
    )


def encode(images, n_steps: int, key):
    """Rate code: (B, 64) intensities -> (B, T, 64) spikes."""
    return jnp.moveaxis(sx.encode.rate(images, n_steps=n_steps, key=key), 0, 1)


def spike_counts(model, spikes):
    """Output spike count per class for a batch ``(B, T, 64)``: unbatched model, vmapped."""
    return jax.vmap(lambda s: model(s)[0].sum(axis=0))(spikes)


def loss_fn(model, spikes, labels):
    return sx.train.spike_count_cross_entropy(spike_counts(model, spikes), labels)


def accuracy(model, images, labels, n_steps, key):
    counts = eqx.filter_jit(spike_counts)(model, encode(jnp.asarray(images), n_steps, key))
    return float(sx.train.spike_count_accuracy(counts, jnp.asarray(labels)))


def train(
    *,
    epochs: int = 10,
    batch_size: int = 64,
    n_steps: int = 25,
    learning_rate: float = 5e-4,
    n_hidden: int = 128,
    max_batches: int | None = None,
    seed: int = 0,
    verbose: bool = True,
):
    """Train and return ``(model, losses per batch, test accuracy)``."""
    (x_train, y_train), (x_test, y_test) = load_digits(seed=seed)
    key = jax.random.key(seed)
    key, k_model = jax.random.split(key)
    model = make_model(k_model, n_hidden)
    optimiser = optax.adam(learning_rate)
    opt_state = optimiser.init(eqx.filter(model, eqx.is_inexact_array))

    @eqx.filter_jit
    def step(model, opt_state, images, labels, key):
        spikes = encode(images, n_steps, key)
        loss, grads = eqx.filter_value_and_grad(loss_fn)(model, spikes, labels)
        updates, opt_state = optimiser.update(grads, opt_state, eqx.filter(model, eqx.is_inexact_array))
        return eqx.apply_updates(model, updates), opt_state, loss

    losses = []
    rng = np.random.default_rng(seed)
    n_batches = len(y_train) // batch_size
    if max_batches is not None:
        n_batches = min(n_batches, max_batches)
    t0 = time.perf_counter()
    for epoch in range(epochs):
        order = rng.permutation(len(y_train))
        for b in range(n_batches):
            idx = order[b * batch_size : (b + 1) * batch_size]
            key, k = jax.random.split(key)
            model, opt_state, loss = step(model, opt_state, x_train[idx], y_train[idx], k)
            losses.append(float(loss))
        if verbose:
            recent = np.mean(losses[-n_batches:])
            print(f"epoch {epoch + 1:>2}/{epochs}  loss {recent:.3f}  ({time.perf_counter() - t0:.1f} s)")
    key, k = jax.random.split(key)
    test_acc = accuracy(model, x_test, y_test, n_steps, k)
    return model, losses, test_acc


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=25, help="time steps per image (dt = 1 ms)")
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    _, losses, test_acc = train(
        epochs=args.epochs, batch_size=args.batch_size, n_steps=args.steps, learning_rate=args.lr, seed=args.seed
    )
    print(f"test accuracy: {test_acc:.3f} on the held-out 25% of the digits (chance: 0.100)")


if __name__ == "__main__":
    main()
