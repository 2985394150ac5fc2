import io

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from matplotlib.figure import Figure

import spikax as sx
from spikax.devices import dynapse as dx


def _draw(fig):
    """Lay the figure out (constrained layout runs at draw time), so extents are final."""
    fig.savefig(io.BytesIO(), format="png")
    return fig


def _visible_ticks(axis):
    lo, hi = sorted(axis.get_view_interval())
    return [t for t in axis.get_majorticklocs() if lo - 1e-9 <= t <= hi + 1e-9]


def _off_the_data(fig, legend, *axes):
    """The legend's box does not overlap any of the axes (where the data is)."""
    box = legend.get_window_extent()
    return not any(box.overlaps(ax.get_window_extent()) for ax in axes)


def test_raster_marks_every_event(tmp_path):
    s = np.zeros((100, 4))
    s[[3, 10, 50], [0, 2, 3]] = 1
    s[70, 1] = 2
    fig = sx.plot.raster(s, dt=1e-3, title="r")
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    offsets = ax.collections[0].get_offsets()
    np.testing.assert_allclose(sorted(map(tuple, offsets)), sorted([(0.003, 0), (0.01, 2), (0.05, 3), (0.07, 1)]))
    assert ax.get_xlim() == (0.0, 0.1)
    fig.savefig(tmp_path / "r.png")
    assert (tmp_path / "r.png").stat().st_size > 1000


@pytest.mark.parametrize("n, expected", [(1, [0]), (2, [0, 1]), (3, [0, 1, 2]), (20, list(range(0, 20, 2)))])
def test_channel_and_neuron_axes_have_integer_ticks(n, expected):
    # One channel used to get ticks -0.5, -0.4, ..., 0.5: MaxNLocator(integer=True) gives up
    # when fewer than two integers are in view.
    s = np.zeros((50, n))
    s[10] = 1
    for fig in (sx.plot.raster(s), sx.plot.heatmap(s)):
        ax = _draw(fig).axes[0]
        assert ax.get_ylim() == (-0.5, n - 0.5)  # one row per index, centred on its tick
        assert _visible_ticks(ax.yaxis) == expected


def test_traces_with_staggered_thresholds():
    v = np.random.default_rng(0).normal(size=(50, 3))
    fig = _draw(sx.plot.traces(v, dt=0.01, threshold=[1.0, 2.0, 3.0], stagger=5.0, ylabel="v (mV)"))
    ax = fig.axes[0]
    lines = ax.get_lines()
    assert len(lines) == 6  # 3 traces + 3 threshold lines
    data = [l for l in lines if len(l.get_xdata()) == 50]
    np.testing.assert_allclose(data[2].get_ydata(), v[:, 2] + 10.0)
    hlines = sorted(l.get_ydata()[0] for l in lines if len(l.get_xdata()) == 2)
    np.testing.assert_allclose(hlines, [1.0, 7.0, 13.0])
    # Colours of each threshold match its trace.
    assert {l.get_color() for l in lines} == {l.get_color() for l in data}
    # Every line is named (the thresholds by one shared entry, last), the legend is beside the
    # data, and the y label keeps its unit and says the traces are shifted.
    legend = ax.get_legend()
    assert [t.get_text() for t in legend.get_texts()] == [
        "neuron 0", "neuron 1", "neuron 2", "threshold (dashed, colour of its trace)"
    ]
    assert _off_the_data(fig, legend, ax)
    assert ax.get_ylabel().startswith("v (mV)") and "5" in ax.get_ylabel()


def test_heatmap_and_membrane():
    v = np.linspace(0, 1, 200).reshape(50, 4)
    fig = sx.plot.heatmap(v, dt=1e-3, label="v (mV)")
    img = fig.axes[0].images[0]
    assert img.get_array().shape == (4, 50)
    assert len(fig.axes) == 2 and fig.axes[1].get_ylabel() == "v (mV)"  # colour bar
    s = np.zeros(50)
    s[[10, 30]] = 1
    fig = _draw(sx.plot.membrane(v[:, 0], s, dt=1e-3, threshold=1.0, inputs=np.eye(50)[:, :5], v_label="v (mV)"))
    assert len(fig.axes) == 2
    ax = fig.axes[1]
    # The recorded trace is after the reset: each spike is marked where it crossed, on the
    # threshold line, at its step's time.
    np.testing.assert_allclose(sorted(map(tuple, ax.collections[0].get_offsets())), [(0.01, 1.0), (0.03, 1.0)])
    legend = ax.get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["v (mV)", "threshold", "spike (2): crossed the threshold"]
    assert _off_the_data(fig, legend, *fig.axes)
    assert fig.axes[0].get_ylabel() == "input channel" and ax.get_ylabel() == "v (mV)"
    fig = sx.plot.membrane(np.logspace(-12, -7, 50), s, threshold=1e-7, log=True, threshold_label="Ispkthr")
    assert fig.axes[0].get_yscale() == "log"


def test_plot_errors():
    with pytest.raises(ValueError, match="time first"):
        sx.plot.raster(np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match="`v` and `spikes`"):
        sx.plot.membrane(np.zeros(5), np.zeros(6))
    with pytest.raises(ValueError, match="dt"):
        sx.plot.traces(np.zeros(5), dt=0.0)
    with pytest.raises(ValueError, match="`labels`"):
        sx.plot.traces(np.zeros((5, 2)), labels=["one"])
    with pytest.raises(TypeError, match="`model`"):
        sx.plot.dynapse_spike_function("chip")


def test_twin_axes_label_every_line_above_the_data():
    fig = sx.plot.twin(np.linspace(0, 0.4, 50), np.logspace(-12, -10, 50), right_log=True, spikes=np.eye(50)[10],
                       left_label="Vmem (V)", right_label="I (A)", title="t")
    ax, ax2 = _draw(fig).axes
    assert ax2.get_yscale() == "log" and len(ax.get_lines()) == 1 and len(ax2.get_lines()) == 1
    legend = ax.get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["Vmem (V)", "I (A)", "spike (1)"]
    assert _off_the_data(fig, legend, ax, ax2)


def _spike_function_panels(model):
    fig = _draw(sx.plot.dynapse_spike_function(model))
    ax1, ax2 = fig.axes
    assert _off_the_data(fig, fig.legends[0], ax1, ax2)
    for ax in (ax1, ax2):
        assert ax.get_xscale() == "log" and ax.get_xlabel().endswith("(A)") and ax.get_ylabel()
    step, grad = ax1.get_lines()[0], ax2.get_lines()[0]
    return (step.get_xdata(), step.get_ydata()), (grad.get_xdata(), grad.get_ydata())


def test_dynapse_spike_function_shows_the_models_own_spike_and_surrogate():
    # The default model: one binary spike per step (not the multi-spike staircase), and the
    # derivative of the model's own surrogate (whatever DynapSim's default is).
    model = dx.DynapSim.create(1)
    (x, y), (xg, g) = _spike_function_panels(model)
    thr, io = float(model.params.Ispkthr[0]), float(model.params.Io[0])
    assert set(np.unique(y)) == {0.0, 1.0}
    assert y[x < thr * (1 - 1e-5)].max() == 0 and y[x > thr * (1 + 1e-5)].min() == 1
    # dS/d ln Imem at three currents, against the surrogate called directly on u = ln(Imem/Io).
    u_thr = np.log(thr / io)
    for i in (thr, 0.5 * thr, 1e-10):
        k = int(np.argmin(np.abs(np.log(xg / i))))
        u = np.float32(np.log(xg[k] / io))
        if model.spike_fn is None:
            expected = xg[k] / thr
        else:
            expected = float(jax.grad(lambda u: model.spike_fn(u, jnp.float32(u_thr)))(u))
        np.testing.assert_allclose(g[k], expected, rtol=2e-3)


def test_dynapse_spike_function_follows_the_tutorial_surrogate_and_multi_spike():
    # spike_fn=None: the tutorial's [Imem > Ireset]/Ispkthr per A, i.e. Imem/Ispkthr per e-fold.
    model = dx.DynapSim.create(1, spike_fn=None)
    _, (xg, g) = _spike_function_panels(model)
    thr = float(model.params.Ispkthr[0])
    above = xg > 2 * float(model.params.Ireset[0])
    np.testing.assert_allclose(g[above], xg[above] / thr, rtol=1e-3)
    # multi_spike=True: ceil(ln(Imem/Ispkthr)) events, 3 at 8e-7 A (ln 8 = 2.08).
    (x, y), _ = _spike_function_panels(dx.DynapSim.create(1, multi_spike=True))
    k = int(np.argmin(np.abs(x - 8e-7)))
    assert y[k] == 3 and y.max() == 5  # the grid ends at 100 Ispkthr: ceil(ln 100) = 5
