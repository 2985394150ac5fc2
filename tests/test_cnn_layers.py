"""Convolution, pooling, flatten and the elementwise NIR layers: against direct sums, over whole sequences."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import spikax as sx
from spikax.layers import Delay, Scale, Threshold


def direct_conv2d(x, w, b, stride, padding, dilation, groups):
    """The convolution's defining sum, one output at a time (float64)."""
    t, c_in, h, wd = x.shape
    c_out, c_g, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding[0],) * 2, (padding[1],) * 2))
    ho = (h + 2 * padding[0] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    wo = (wd + 2 * padding[1] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    y = np.zeros((t, c_out, ho, wo))
    per_group = c_out // groups
    for o, i, j in itertools.product(range(c_out), range(ho), range(wo)):
        g0 = (o // per_group) * c_g
        for c, m, n in itertools.product(range(c_g), range(kh), range(kw)):
            y[:, o, i, j] += (
                w[o, c, m, n] * xp[:, g0 + c, i * stride[0] + m * dilation[0], j * stride[1] + n * dilation[1]]
            )
    return y + (0 if b is None else b[None, :, None, None])


@pytest.mark.parametrize("stride,padding,dilation,groups", [(1, 0, 1, 1), (2, 1, 1, 1), ((1, 2), (2, 0), (2, 1), 2)])
def test_conv2d_is_the_direct_sum_over_every_step(key, stride, padding, dilation, groups):
    layer = sx.Conv2d.create(4, 6, (3, 2), stride=stride, padding=padding, dilation=dilation, groups=groups, key=key)
    x = jax.random.normal(jax.random.fold_in(key, 1), (3, 4, 7, 6))
    y, state, _ = layer(x)
    ref = direct_conv2d(
        np.asarray(x, np.float64),
        np.asarray(layer.weight, np.float64),
        np.asarray(layer.bias),
        layer.stride,
        layer.padding,
        layer.dilation,
        groups,
    )
    assert state is None and y.shape == ref.shape
    # Each output sums 24/groups products of O(1) terms: a few float32 roundings of O(5).
    np.testing.assert_allclose(y, ref, atol=5e-6 * 24)


def test_conv1d_is_conv2d_with_one_spatial_axis(key):
    c1 = sx.Conv1d.create(2, 3, 3, stride=2, padding=1, dilation=1, key=key)
    x = jax.random.normal(key, (4, 2, 9))
    c2 = sx.Conv2d(c1.weight[..., None], c1.bias, stride=(2, 1), padding=(1, 0))
    np.testing.assert_array_equal(c1(x)[0], c2(x[..., None])[0][..., 0])
    same = sx.Conv1d(c1.weight, None, padding="same")
    assert same(x)[0].shape == (4, 3, 9)


def test_pooling_and_flatten_against_reshapes(key):
    x = jax.random.normal(key, (3, 2, 6, 4))
    s = sx.SumPool2d(2)(x)[0]
    np.testing.assert_allclose(s, np.asarray(x).reshape(3, 2, 3, 2, 2, 2).sum((3, 5)), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(sx.AvgPool2d(2)(x)[0], s / 4, rtol=1e-6)
    # Padding counts as zeros in the mean (PyTorch's count_include_pad=True).
    ones = jnp.ones((1, 1, 2, 2))
    np.testing.assert_allclose(sx.AvgPool2d(2, 2, 1)(ones)[0][0, 0], np.full((2, 2), 0.25))
    f = sx.Flatten()(x)[0]
    np.testing.assert_array_equal(f, np.asarray(x).reshape(3, -1))
    assert sx.Flatten(1, 2)(x)[0].shape == (3, 2, 24)


def test_cnn_vmap_equals_loop_and_jit_equals_eager(key):
    net = sx.Sequential(
        sx.Conv2d.create(1, 2, 3, padding=1, key=key),
        sx.IF.create(r=1e3),
        sx.SumPool2d(2),
        sx.Flatten(),
        sx.Linear.create(8, 3, key=key),
    )
    x = (jax.random.uniform(key, (2, 5, 1, 4, 4)) < 0.5).astype(jnp.float32) * 2
    batched = jax.vmap(lambda xb: net(xb)[0])(x)
    for b in range(2):
        np.testing.assert_array_equal(batched[b], net(x[b])[0])
    np.testing.assert_array_equal(jax.jit(lambda n, xb: n(xb)[0])(net, x[0]), net(x[0])[0])


def test_delay_scale_threshold(key):
    xs = jnp.arange(12.0).reshape(4, 3)
    d = Delay([0, 1, 2])
    y, st, _ = d(xs)
    np.testing.assert_array_equal(y, [[0, 0, 0], [3, 1, 0], [6, 4, 2], [9, 7, 5]])
    y1, s1, _ = d(xs[:3])
    y2, _, _ = d(xs[3:], s1)
    np.testing.assert_array_equal(jnp.concatenate([y1, y2]), y)  # state continuation
    np.testing.assert_array_equal(Scale(jnp.array([1.0, 2.0, -1.0]))(xs)[0], xs * jnp.array([[1.0, 2.0, -1.0]]))
    np.testing.assert_array_equal(Threshold(3.0)(xs)[0], (xs > 3.0).astype(jnp.float32))
    np.testing.assert_array_equal(Threshold(3.0, fire_at=">=")(xs)[0], (xs >= 3.0).astype(jnp.float32))


def test_cnn_layers_name_bad_input(key):
    conv = sx.Conv2d.create(2, 3, 3, key=key)
    with pytest.raises(ValueError, match="expects 2 input channels"):
        conv(jnp.zeros((4, 3, 8, 8)))
    with pytest.raises(ValueError, match=r"\(T, C, H, W\)"):
        conv(jnp.zeros((3, 8, 8)))
    with pytest.raises(ValueError, match="`stride` must be an integer >= 1"):
        sx.Conv2d(conv.weight, stride=0)
    with pytest.raises(ValueError, match="`groups` = 2 must divide"):
        sx.Conv2d.create(3, 4, 3, groups=2, key=key)
    with pytest.raises(ValueError, match="smaller than the kernel"):
        sx.SumPool2d(4)(jnp.zeros((1, 1, 2, 2)))
    with pytest.raises(ValueError, match="does not fit a step"):
        sx.Flatten(3)(jnp.zeros((2, 4, 4)))
    with pytest.raises(ValueError, match="non-negative integers"):
        Delay([1.5])
