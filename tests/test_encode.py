import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import spikax as sx
from spikax import encode


def test_poisson_binary_rate_and_shape(key):
    rates = jnp.array([5.0, 50.0, 200.0])
    s = encode.poisson(rates, duration=20.0, dt=1e-3, key=key)
    assert s.shape == (20000, 3) and s.dtype == jnp.float32
    assert set(np.unique(s)) <= {0.0, 1.0}
    measured = np.asarray(s.mean(0)) / 1e-3
    # Bernoulli(p = r dt): standard error of the rate sqrt(p(1-p)/T)/dt.
    se = np.sqrt(rates * 1e-3 * (1 - rates * 1e-3) / 20000) / 1e-3
    assert np.all(np.abs(measured - rates) < 4 * se)


def test_poisson_counts_mean_and_variance(key):
    s = encode.poisson(300.0, duration=10.0, dt=5e-3, n_channels=4, counts=True, key=key)
    lam = 300.0 * 5e-3
    assert s.max() > 1  # several events per bin
    assert float(s.mean()) == pytest.approx(lam, rel=0.03)
    assert float(s.var()) == pytest.approx(lam, rel=0.08)  # Poisson: variance = mean


def test_poisson_is_deterministic_by_key(key):
    a = encode.poisson(20.0, duration=0.5, n_channels=10, key=key)
    b = encode.poisson(20.0, duration=0.5, n_channels=10, key=key)
    c = encode.poisson(20.0, duration=0.5, n_channels=10, key=jax.random.key(5))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_poisson_errors(key):
    with pytest.raises(ValueError, match="rate` \\* dt"):
        encode.poisson(2000.0, duration=1.0, dt=1e-3, n_channels=1, key=key)
    with pytest.raises(ValueError, match="n_channels"):
        encode.poisson(20.0, duration=1.0, key=key)
    with pytest.raises(ValueError, match="`rate` must be >= 0"):
        encode.poisson([-1.0, 2.0], duration=1.0, key=key)
    with pytest.raises(ValueError, match="whole number of steps"):
        encode.poisson(20.0, duration=0.0105, dt=1e-3, n_channels=1, key=key)
    with pytest.raises(ValueError, match="`key` is required"):
        encode.poisson(20.0, duration=1.0, n_channels=1, key=None)


def test_regular_counts_exactly():
    s = np.asarray(encode.regular([20.0, 7.0, 1500.0], duration=1.0, dt=1e-3))
    np.testing.assert_array_equal(s.sum(0), [20, 7, 1500])
    # 20 Hz: one event every 50 steps, ending each period.
    np.testing.assert_array_equal(np.nonzero(s[:, 0])[0], np.arange(49, 1000, 50))
    assert s[:, 2].max() == 2  # 1.5 events per step on average
    shifted = np.asarray(encode.regular(20.0, duration=1.0, n_channels=1, phase=0.5))
    assert np.nonzero(shifted[:, 0])[0][0] == 24


def test_rate_encoder(key):
    p = jnp.array([[0.0, 0.25], [0.5, 1.0]])
    s = encode.rate(p, n_steps=4000, key=key)
    assert s.shape == (4000, 2, 2)
    np.testing.assert_allclose(s.mean(0), p, atol=0.03)
    assert float(s[:, 0, 0].sum()) == 0 and float(s[:, 1, 1].min()) == 1
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        encode.rate(jnp.array([1.5]), n_steps=3, key=key)


def test_events_round_trip_by_hand():
    raster = np.zeros((5, 3), np.float32)
    raster[0, 2] = 1
    raster[3, 0] = 2
    raster[3, 1] = 1
    times, ch = encode.raster_to_events(raster, dt=0.01)
    np.testing.assert_allclose(times, [0.0, 0.03, 0.03, 0.03])
    np.testing.assert_array_equal(ch, [2, 0, 0, 1])
    back = encode.events_to_raster(times, ch, dt=0.01, n_steps=5, n_channels=3)
    np.testing.assert_array_equal(back, raster)
    # Times inside a bin go to that bin; sizes default to the smallest that fit.
    r = encode.events_to_raster([0.0149, 0.0151, 0.02], [1, 1, 0], dt=0.01)
    np.testing.assert_array_equal(r, [[0, 0], [0, 2], [1, 0]])


@given(arrays(np.int64, st.tuples(st.integers(1, 40), st.integers(1, 6)), elements=st.integers(0, 3)),
       st.sampled_from([1e-3, 1e-4, 0.1, 3e-3]))
@settings(max_examples=60, deadline=None)
def test_events_round_trip_is_lossless(raster, dt):
    times, ch = encode.raster_to_events(raster, dt=dt)
    assert times.size == raster.sum()
    back = encode.events_to_raster(times, ch, dt=dt, n_steps=raster.shape[0], n_channels=raster.shape[1])
    np.testing.assert_array_equal(back, raster)


def test_event_errors():
    with pytest.raises(ValueError, match="non-negative integer event counts"):
        encode.raster_to_events(np.array([[0.5]]), dt=1e-3)
    with pytest.raises(ValueError, match="same length"):
        encode.events_to_raster([0.1, 0.2], [0], dt=1e-3)
    with pytest.raises(ValueError, match="beyond n_steps"):
        encode.events_to_raster([0.1], [0], dt=1e-3, n_steps=10)
    with pytest.raises(ValueError, match="out of range"):
        encode.events_to_raster([0.0], [4], dt=1e-3, n_channels=2)
    with pytest.raises(ValueError, match=">= 0"):
        encode.events_to_raster([-0.1], [0], dt=1e-3)


def test_encoded_input_drives_a_lif(key):
    spikes_in = encode.poisson(100.0, duration=0.3, n_channels=8, key=key)
    lif = sx.LIF.create(8, v_threshold=0.5)
    out, _, _ = lif(spikes_in)
    assert out.shape == (300, 8) and float(out.sum()) > 0
