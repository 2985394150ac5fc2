r"""Spike functions with surrogate derivatives.

Forward, every binary family is the Heaviside step of the distance to threshold,
$S = \Theta(v - \vartheta)$, with $\Theta(0) = 1$ (``fire_at=">="``, SpikingJelly, Rockpool) or
$\Theta(0) = 0$ (``fire_at=">"``, Norse, NIR). Backward, $\partial S / \partial v$ is replaced by
a smooth pseudo-derivative $\sigma(v - \vartheta)$ chosen by the family (Neftci, Mostafa & Zenke
2019, doi:10.1109/MSP.2019.2931595); the gradient w.r.t. the threshold is $-\sigma$.

| class | $\sigma(x)$ | parameter (default) | origin |
|---|---|---|---|
| :class:`FastSigmoid` (= :data:`SuperSpike`) | $1/(1 + k\lvert x\rvert)^2$ | slope $k$ (25) | Zenke & Ganguli 2018; snnTorch ``fast_sigmoid`` |
| :class:`Sigmoid` | $k\,s(kx)\,(1 - s(kx))$, $s$ the logistic | slope $k$ (4) | SpikingJelly ``Sigmoid`` |
| :class:`ArcTan` | $\frac{\alpha/2}{1 + (\frac{\pi}{2}\alpha x)^2}$ | $\alpha$ (2) | SpikingJelly ``ATan`` |
| :class:`Triangle` | $\max(0, 1 - \lvert x\rvert / w) / w$ | width $w$ (1) | Bellec et al. 2018 |
| :class:`Boxcar` | $[\lvert x\rvert < w/2] / w$ | width $w$ (1) | rectangular window |
| :class:`StraightThrough` | $c$ | scale $c$ (1) | Bengio et al. 2013 |
| :class:`Tanh` | $1 - \tanh^2(kx)$ | slope $k$ (100) | Norse ``tanh`` |
| :class:`Circ` | $\alpha^3/(\alpha^2 + x^2)^{3/2}$ | $\alpha$ (100) | Norse ``circ`` |
| :class:`Erfc` | $\frac{2}{\sqrt\pi} e^{-(kx)^2}$ | $k$ (100) | Norse ``heavi_erfc`` |
| :class:`Heaviside` | $0$ | | Norse ``heaviside`` (no gradient) |

Sigmoid, ArcTan, Triangle and Boxcar integrate to one (they are derivatives of a smooth step
from 0 to 1); FastSigmoid, Tanh and Circ keep the peak-one normalisation of SuperSpike, snnTorch
and Norse; :class:`Triangle` takes an explicit ``height`` for Norse's ``triangle``.

:func:`norse` gives Norse's threshold ``method`` names (``"heaviside"``, ``"super"``,
``"tanh"``, ``"triangle"``/``"tent"``, ``"circ"``, ``"logistic"``, ``"heavi_erfc"``/``"erfc"``)
with Norse's ``alpha``, as these families.

:class:`MultiSpike` is the multi-event step of Rockpool's ``LIFJax``
(``rockpool.nn.modules.jax.lif_jax``): $S = \mathrm{clip}(\lfloor v/\vartheta\rfloor\,[v \ge
\vartheta], 0, S_{max})$ with $\partial S/\partial v = 1/\vartheta$ and
$\partial S/\partial\vartheta = -v/\vartheta^2$ wherever $v \ge \vartheta - \text{window}$, else 0.

Every class is an Equinox module whose parameters are array leaves, so
``jax.vmap(lambda k: loss(FastSigmoid(k)))(slopes)`` sweeps a family.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike

from ._types import AbstractSurrogate
from ._validate import as_param, check_choice, is_concrete

__all__ = [
    "DEFAULT_MAX_SPIKES_PER_DT",
    "ArcTan",
    "Boxcar",
    "Circ",
    "Erfc",
    "FastSigmoid",
    "Heaviside",
    "MultiSpike",
    "Sigmoid",
    "StraightThrough",
    "SuperSpike",
    "Tanh",
    "Triangle",
    "heaviside",
    "norse",
]

FIRE_AT = (">=", ">")
#: Events per step and neuron of :class:`MultiSpike` by default: Rockpool's ``LIFJax`` default.
DEFAULT_MAX_SPIKES_PER_DT = 2.0**16


def heaviside(x: Array, fire_at: str = ">=") -> Array:
    """The step $\\Theta(x)$ as floats of ``x``'s dtype; ``fire_at`` decides $\\Theta(0)$."""
    x = jnp.asarray(x)
    on = x >= 0 if fire_at == ">=" else x > 0
    return on.astype(x.dtype if jnp.issubdtype(x.dtype, jnp.floating) else jnp.float32)


def _family(derivative: Callable[[Array, Array], Array]):
    """One ``custom_jvp`` per family: Heaviside forward, ``derivative(x, p) * dx`` backward.

    The tangent of the shape parameter ``p`` is dropped on purpose: the forward pass does not
    depend on it, so its true derivative is zero.
    """

    @functools.partial(jax.custom_jvp, nondiff_argnums=(2,))
    def spike(x, p, fire_at):
        return heaviside(x, fire_at)

    @spike.defjvp
    def _jvp(fire_at, primals, tangents):
        x, p = primals
        dx, _ = tangents
        return spike(x, p, fire_at), (derivative(x, p) * dx).astype(x.dtype)

    return spike


def _fast_sigmoid(x, k):
    return 1.0 / (1.0 + k * jnp.abs(x)) ** 2


def _sigmoid(x, k):
    s = jax.nn.sigmoid(k * x)
    return k * s * (1.0 - s)


def _arctan(x, alpha):
    return (alpha / 2.0) / (1.0 + (math.pi / 2.0 * alpha * x) ** 2)


def _triangle(x, wh):
    w, height = wh
    return jnp.maximum(0.0, 1.0 - jnp.abs(x) / w) * height


def _boxcar(x, w):
    return jnp.where(jnp.abs(x) < w / 2.0, 1.0 / w, 0.0)


def _straight_through(x, c):
    return jnp.broadcast_to(c, jnp.shape(x))


_spike_fast_sigmoid = _family(_fast_sigmoid)
_spike_sigmoid = _family(_sigmoid)
_spike_arctan = _family(_arctan)
_spike_triangle = _family(_triangle)
_spike_boxcar = _family(_boxcar)
_spike_straight_through = _family(_straight_through)


def _tanh(x, k):
    return 1.0 - jnp.tanh(k * x) ** 2


def _circ(x, alpha):
    return alpha**3 / (alpha**2 + x * x) ** 1.5


def _erfc(x, k):
    return (2.0 / math.sqrt(math.pi)) * jnp.exp(-((k * x) ** 2))


def _zero(x, _):
    return jnp.zeros_like(x)


_spike_tanh = _family(_tanh)
_spike_circ = _family(_circ)
_spike_erfc = _family(_erfc)
_spike_zero = _family(_zero)


def _binary(fn, v, threshold, p, fire_at):
    check_choice("fire_at", fire_at, FIRE_AT)
    x = jnp.asarray(v) - threshold
    return fn(x, p, fire_at)


class FastSigmoid(AbstractSurrogate):
    r"""Heaviside forward; SuperSpike / fast-sigmoid derivative $1/(1 + k|v - \vartheta|)^2$.

    **Arguments:** ``slope``: $k$, in 1/(unit of v), scalar or broadcastable to the neurons.

    Reference: Zenke & Ganguli (2018), *SuperSpike*, doi:10.1162/neco_a_01086.
    """

    slope: Array

    def __init__(self, slope: ArrayLike = 25.0):
        self.slope = as_param("slope", slope, positive=True)

    def __call__(self, v, threshold, fire_at=">="):
        return _binary(_spike_fast_sigmoid, v, threshold, self.slope, fire_at)


#: Alias: SuperSpike is the fast-sigmoid derivative.
SuperSpike = FastSigmoid


class Sigmoid(AbstractSurrogate):
    r"""Heaviside forward; derivative of the logistic $s(k x)$: $k\,s(kx)(1 - s(kx))$.

    **Arguments:** ``slope``: $k$ (SpikingJelly's ``alpha``), in 1/(unit of v).

    Reference: Fang et al. (2023), *SpikingJelly*, doi:10.1126/sciadv.adi1480.
    """

    slope: Array

    def __init__(self, slope: ArrayLike = 4.0):
        self.slope = as_param("slope", slope, positive=True)

    def __call__(self, v, threshold, fire_at=">="):
        return _binary(_spike_sigmoid, v, threshold, self.slope, fire_at)


class ArcTan(AbstractSurrogate):
    r"""Heaviside forward; derivative of $\frac{1}{\pi}\arctan(\frac{\pi}{2}\alpha x) + \frac12$.

    $\sigma(x) = \frac{\alpha/2}{1 + (\frac{\pi}{2}\alpha x)^2}$.

    **Arguments:** ``alpha``: width parameter, in 1/(unit of v).

    Reference: Fang et al. (2021), doi:10.1109/ICCV48922.2021.00266 (SpikingJelly ``ATan``).
    """

    alpha: Array

    def __init__(self, alpha: ArrayLike = 2.0):
        self.alpha = as_param("alpha", alpha, positive=True)

    def __call__(self, v, threshold, fire_at=">="):
        return _binary(_spike_arctan, v, threshold, self.alpha, fire_at)


class Triangle(AbstractSurrogate):
    r"""Heaviside forward; triangular derivative $h\,\max(0, 1 - |x|/w)$.

    **Arguments:** ``width``: half-width $w$ of the triangle, in units of v; ``height``: $h$,
    by default $1/w$ (unit area). Norse's ``triangle`` method is ``Triangle(1, height=alpha)``.

    Reference: Bellec et al. (2018), *Long short-term memory and learning-to-learn in networks
    of spiking neurons*, NeurIPS (arXiv:1803.09574); Esser et al. (2016),
    doi:10.1073/pnas.1604850113.
    """

    width: Array
    height: Array

    def __init__(self, width: ArrayLike = 1.0, height: ArrayLike | None = None):
        self.width = as_param("width", width, positive=True)
        self.height = 1.0 / self.width if height is None else as_param("height", height, positive=True)

    def __call__(self, v, threshold, fire_at=">="):
        return _binary(_spike_triangle, v, threshold, (self.width, self.height), fire_at)


class Boxcar(AbstractSurrogate):
    r"""Heaviside forward; rectangular derivative $[|x| < w/2]/w$ (unit area).

    **Arguments:** ``width``: full width $w$ of the window, in units of v.

    Reference: Wu et al. (2018), *Spatio-temporal backpropagation*, doi:10.3389/fnins.2018.00331.
    """

    width: Array

    def __init__(self, width: ArrayLike = 1.0):
        self.width = as_param("width", width, positive=True)

    def __call__(self, v, threshold, fire_at=">="):
        return _binary(_spike_boxcar, v, threshold, self.width, fire_at)


class StraightThrough(AbstractSurrogate):
    r"""Heaviside forward; constant derivative $c$ (straight-through estimator).

    **Arguments:** ``scale``: $c$.

    Reference: Bengio, Léonard & Courville (2013), arXiv:1308.3432.
    """

    scale: Array

    def __init__(self, scale: ArrayLike = 1.0):
        self.scale = as_param("scale", scale, positive=True)

    def __call__(self, v, threshold, fire_at=">="):
        return _binary(_spike_straight_through, v, threshold, self.scale, fire_at)


@functools.partial(jax.custom_jvp, nondiff_argnums=(4,))
def _multi_spike(v, threshold, max_spikes, window, fire_at):
    above = v >= threshold if fire_at == ">=" else v > threshold
    n = jnp.floor(v / threshold) * above
    return jnp.clip(n, 0.0, max_spikes).astype(jnp.result_type(v, threshold))


@_multi_spike.defjvp
def _multi_spike_jvp(fire_at, primals, tangents):
    v, threshold, max_spikes, window, = primals
    dv, dthreshold, _, _ = tangents
    out = _multi_spike(v, threshold, max_spikes, window, fire_at)
    active = v >= threshold - window
    tangent = jnp.where(active, dv / threshold - dthreshold * v / threshold**2, 0.0)
    return out, tangent.astype(out.dtype)


class MultiSpike(AbstractSurrogate):
    r"""Several events per step: $S = \mathrm{clip}(\lfloor v/\vartheta\rfloor [v\ge\vartheta], 0, S_{max})$.

    Derivatives (piecewise-linear, as Rockpool's ``step_pwl``): $\partial S/\partial v =
    1/\vartheta$ and $\partial S/\partial \vartheta = -v/\vartheta^2$ where
    $v \ge \vartheta - \text{window}$, zero elsewhere. With ``max_spikes_per_dt=1`` this is a
    binary step with a one-sided linear surrogate.

    **Arguments:**

    - ``max_spikes_per_dt``: $S_{max}$, events per step (default $2^{16}$).
    - ``window``: how far below threshold the surrogate starts, in units of v (default 0.5).

    Reference: Rockpool ``LIFJax`` (SynSense, github.com/synsense/rockpool).
    """

    max_spikes_per_dt: Array
    window: Array

    def __init__(self, max_spikes_per_dt: ArrayLike = DEFAULT_MAX_SPIKES_PER_DT, window: ArrayLike = 0.5):
        if is_concrete(max_spikes_per_dt) and not np.all(np.asarray(max_spikes_per_dt, dtype=float) >= 1):
            raise ValueError(f"`max_spikes_per_dt` must be >= 1 (events per step), got {max_spikes_per_dt!r}")
        self.max_spikes_per_dt = as_param("max_spikes_per_dt", max_spikes_per_dt, positive=True)
        self.window = as_param("window", window, nonnegative=True)

    def __call__(self, v, threshold, fire_at=">="):
        check_choice("fire_at", fire_at, FIRE_AT)
        v = jnp.asarray(v)
        threshold = jnp.asarray(threshold, v.dtype)
        return _multi_spike(
            v, threshold, self.max_spikes_per_dt.astype(v.dtype), self.window.astype(v.dtype), fire_at
        )


class Tanh(AbstractSurrogate):
    r"""Heaviside forward; derivative $1 - \tanh^2(k x)$ (peak one).

    Norse's ``tanh`` method (``HeaviTanh``), and the derivative of its ``logistic`` method.
    With $s$ the logistic function, $1 - \tanh^2(kx) = 4 s(2kx)(1 - s(2kx))$: the
    :class:`Sigmoid` shape with slope $2k$, scaled by $2/k$.

    **Arguments:** ``slope``: $k$ (Norse's ``alpha``), in 1/(unit of v).

    Reference: Norse, ``norse.torch.functional.threshold`` (github.com/norse/norse).
    """

    slope: Array

    def __init__(self, slope: ArrayLike = 100.0):
        self.slope = as_param("slope", slope, positive=True)

    def __call__(self, v, threshold, fire_at=">="):
        return _binary(_spike_tanh, v, threshold, self.slope, fire_at)


class Circ(AbstractSurrogate):
    r"""Heaviside forward; derivative $\alpha^3/(\alpha^2 + x^2)^{3/2}$ (peak one).

    Norse's ``circ`` method (``HeaviCirc``): $2\alpha$ times the derivative of
    $\frac12 + \frac12 x/\sqrt{x^2 + \alpha^2}$. Note that $\alpha$ is a *width* here (in
    units of v): a larger $\alpha$ gives a broader derivative.

    Reference: Norse, ``norse.torch.functional.threshold`` (github.com/norse/norse).
    """

    alpha: Array

    def __init__(self, alpha: ArrayLike = 100.0):
        self.alpha = as_param("alpha", alpha, positive=True)

    def __call__(self, v, threshold, fire_at=">="):
        return _binary(_spike_circ, v, threshold, self.alpha, fire_at)


class Erfc(AbstractSurrogate):
    r"""Heaviside forward; Gaussian derivative $\frac{2}{\sqrt\pi} e^{-(kx)^2}$.

    Norse's ``heavi_erfc`` method (``HeaviErfc``), exactly as Norse computes it (the derivative
    of $\frac12\mathrm{erfc}(-kx)$ would carry a factor $k/2$ that Norse leaves out).

    **Arguments:** ``slope``: $k$ (Norse's ``alpha``), in 1/(unit of v).

    Reference: Norse, ``norse.torch.functional.threshold`` (github.com/norse/norse).
    """

    slope: Array

    def __init__(self, slope: ArrayLike = 100.0):
        self.slope = as_param("slope", slope, positive=True)

    def __call__(self, v, threshold, fire_at=">="):
        return _binary(_spike_erfc, v, threshold, self.slope, fire_at)


class Heaviside(AbstractSurrogate):
    """Heaviside forward, zero derivative: no surrogate (Norse's ``heaviside`` method)."""

    def __call__(self, v, threshold, fire_at=">="):
        return _binary(_spike_zero, v, threshold, jnp.zeros(()), fire_at)


NORSE_METHODS = ("heaviside", "super", "tanh", "triangle", "tent", "circ", "logistic", "heavi_erfc", "erfc")


def norse(method: str, alpha: ArrayLike = 100.0) -> AbstractSurrogate:
    r"""The surrogate of Norse's threshold ``method`` with its hyper-parameter ``alpha``.

    | method | spikax | derivative |
    |---|---|---|
    | ``"heaviside"`` | :class:`Heaviside` | 0 |
    | ``"super"`` | ``FastSigmoid(alpha)`` | $1/(1 + \alpha\lvert x\rvert)^2$ |
    | ``"tanh"``, ``"logistic"`` | ``Tanh(alpha)`` | $1 - \tanh^2(\alpha x)$ |
    | ``"triangle"``, ``"tent"`` | ``Triangle(1, height=alpha)`` | $\alpha \max(0, 1 - \lvert x\rvert)$ |
    | ``"circ"`` | ``Circ(alpha)`` | $\alpha^3/(\alpha^2 + x^2)^{3/2}$ |
    | ``"heavi_erfc"``, ``"erfc"`` | ``Erfc(alpha)`` | $\frac{2}{\sqrt\pi}e^{-(\alpha x)^2}$ |

    Every forward pass is Norse's strict step $\Theta(x) = [x > 0]$: use ``fire_at=">"`` (the
    Norse-style models here do). Two departures, both deliberate: Norse's ``logistic`` draws the
    spike from a Bernoulli distribution; here the spike is deterministic (a random forward pass
    would need a ``key``), with the same derivative. And ``"super"`` follows SuperSpike as
    documented (Zenke & Ganguli 2018, slope ``alpha``); Norse 1.1's implementation ignores
    ``alpha`` (its derivative is $1/(1 + |x|)^2$), which ``norse("super", 1.0)`` reproduces.
    """
    check_choice("method", method, NORSE_METHODS)
    alpha = as_param("alpha", alpha, positive=True)  # named here, not as the family's own `slope`
    if method == "heaviside":
        return Heaviside()
    if method == "super":
        return FastSigmoid(alpha)
    if method in ("tanh", "logistic"):
        return Tanh(alpha)
    if method in ("triangle", "tent"):
        return Triangle(1.0, height=alpha)
    if method == "circ":
        return Circ(alpha)
    return Erfc(alpha)
