import numpy as np
import pytest
from matplotlib.figure import Figure

import spikax as sx


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


def test_traces_with_staggered_thresholds():
    v = np.random.default_rng(0).normal(size=(50, 3))
    fig = sx.plot.traces(v, dt=0.01, threshold=[1.0, 2.0, 3.0], stagger=5.0)
    ax = fig.axes[0]
    lines = ax.get_lines()
    assert len(lines) == 6  # 3 traces + 3 threshold lines
    data = [l for l in lines if len(l.get_xdata()) == 50]
    np.testing.assert_allclose(data[2].get_ydata(), v[:, 2] + 10.0)
    hlines = sorted(l.get_ydata()[0] for l in lines if len(l.get_xdata()) == 2)
    np.testing.assert_allclose(hlines, [1.0, 7.0, 13.0])
    # Colours of each threshold match its trace.
    assert {l.get_color() for l in lines} == {l.get_color() for l in data}


def test_heatmap_and_membrane():
    v = np.linspace(0, 1, 200).reshape(50, 4)
    fig = sx.plot.heatmap(v, dt=1e-3)
    img = fig.axes[0].images[0]
    assert img.get_array().shape == (4, 50)
    assert len(fig.axes) == 2  # colour bar
    s = np.zeros(50)
    s[[10, 30]] = 1
    fig = sx.plot.membrane(v[:, 0], s, dt=1e-3, threshold=1.0, inputs=np.eye(50)[:, :5])
    assert len(fig.axes) == 2
    segs = fig.axes[1].collections[0].get_segments()
    np.testing.assert_allclose(sorted(seg[0][0] for seg in segs), [0.01, 0.03])


def test_plot_errors():
    with pytest.raises(ValueError, match="time first"):
        sx.plot.raster(np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match="`v` and `spikes`"):
        sx.plot.membrane(np.zeros(5), np.zeros(6))
    with pytest.raises(ValueError, match="dt"):
        sx.plot.traces(np.zeros(5), dt=0.0)


def test_twin_axes_and_dynapse_spike_function_figure():
    fig = sx.plot.twin(np.linspace(0, 0.4, 50), np.logspace(-12, -10, 50), right_log=True, spikes=np.eye(50)[10])
    ax, ax2 = fig.axes
    assert ax2.get_yscale() == "log" and len(ax.get_lines()) == 1 and len(ax2.get_lines()) == 1
    fig = sx.plot.dynapse_spike_function()
    staircase = fig.axes[0].get_lines()[0]
    x, y = staircase.get_xdata(), staircase.get_ydata()
    assert y[x < 1e-7].max() == 0 and y[(x > 1.01e-7) & (x < 2.7e-7)].min() == 1 and y.max() == 8
