r"""Spiking-CNN layers: convolutions, pooling and flattening, applied to a whole sequence at once.

Like :class:`spikax.Linear`, each layer maps every step of a sequence ``(T, C, *spatial)`` in one
operation (time is the convolution's batch axis), so only the neuron layers between them loop
over time. Samples are channels first, as NIR and PyTorch store them; weights are
``(C_out, C_in / groups, *kernel)`` (PyTorch's OIHW). A batch is ``jax.vmap`` over the layer.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Optional, Union

import equinox as eqx
import jax
import jax.numpy as jnp
from jax import lax
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

from .._types import AbstractLayer, ParamLike, RecordSpec
from .._validate import as_param, check_count, check_finite

__all__ = ["AvgPool2d", "Conv1d", "Conv2d", "Flatten", "SumPool2d"]

Padding = Union[int, Sequence[int], str]


def _ints(name: str, value, n: int, *, minimum: int) -> tuple[int, ...]:
    """``value`` as ``n`` integers >= ``minimum`` (one int, or a 1-element sequence, is repeated)."""
    items = list(value) if isinstance(value, (tuple, list)) or getattr(value, "ndim", 0) > 0 else [value]
    if len(items) == 1:
        items = items * n
    ok = len(items) == n
    for v in items:
        try:
            ok = ok and not isinstance(v, bool) and float(v) == int(v) and int(v) >= minimum
        except (TypeError, ValueError):
            ok = False
    if not ok:
        raise ValueError(f"`{name}` must be an integer >= {minimum} or {n} of them, got {value!r}")
    return tuple(int(v) for v in items)


def _padding(padding: Padding, n: int) -> Union[str, tuple[int, ...]]:
    if isinstance(padding, str):
        if padding.lower() not in ("same", "valid"):
            raise ValueError(f"`padding` must be 'same', 'valid' or integers, got {padding!r}")
        return padding.lower()
    return _ints("padding", padding, n, minimum=0)


def _check_sequence(what: str, xs, n_spatial: int, channels: Optional[int] = None) -> Array:
    xs = jnp.asarray(xs)
    if xs.ndim != n_spatial + 2:
        dims = "T, C, H, W" if n_spatial == 2 else "T, C, L"
        raise ValueError(
            f"{what} input `xs` must be ({dims}) for one sample (batch with jax.vmap), got shape {xs.shape}"
        )
    if channels is not None and xs.shape[1] != channels:
        raise ValueError(f"{what} expects {channels} input channels (axis 1 of `xs`), got shape {xs.shape}")
    if not jnp.issubdtype(xs.dtype, jnp.floating):
        xs = xs.astype(jnp.result_type(float))
    return xs


def _conv_init(cls, n_spatial, in_channels, out_channels, kernel_size, use_bias, groups, key):
    c_in, c_out = check_count("in_channels", in_channels), check_count("out_channels", out_channels)
    groups = check_count("groups", groups)
    if c_in % groups or c_out % groups:
        raise ValueError(f"`groups` = {groups} must divide in_channels = {c_in} and out_channels = {c_out}")
    kernel = _ints("kernel_size", kernel_size, n_spatial, minimum=1)
    if key is None:
        raise ValueError(f"`key` is required to initialise {cls.__name__} weights (jax.random.key(seed))")
    fan_in = (c_in // groups) * math.prod(kernel)
    bound = 1.0 / math.sqrt(fan_in)
    wkey, bkey = jax.random.split(key)
    dtype = jnp.result_type(float)
    weight = jax.random.uniform(wkey, (c_out, c_in // groups, *kernel), dtype, -bound, bound)
    bias = jax.random.uniform(bkey, (c_out,), dtype, -bound, bound) if use_bias else None
    return weight, bias


def _conv_fields(what, n_spatial, dims, weight, bias, stride, padding, dilation, groups) -> tuple:
    """A convolution's checked fields: ``(weight, bias, stride, padding, dilation, groups)``."""
    weight = as_param("weight", weight)
    if weight.ndim != n_spatial + 2:
        raise ValueError(f"{what} `weight` must be {n_spatial + 2}-D {dims}, got shape {weight.shape}")
    bias = None if bias is None else as_param("bias", bias, shape=(weight.shape[0],))
    groups = check_count("groups", groups)
    if weight.shape[0] % groups:
        raise ValueError(f"`groups` = {groups} must divide C_out = {weight.shape[0]}")
    return (
        weight,
        bias,
        _ints("stride", stride, n_spatial, minimum=1),
        _padding(padding, n_spatial),
        _ints("dilation", dilation, n_spatial, minimum=1),
        groups,
    )


def _conv(layer, xs, n_spatial: int):
    what = type(layer).__name__
    xs = _check_sequence(what, xs, n_spatial, layer.weight.shape[1] * layer.groups)
    check_finite("xs", xs), check_finite("weight", layer.weight), check_finite("bias", layer.bias)
    spatial = "HW" if n_spatial == 2 else "H"
    padding = layer.padding.upper() if isinstance(layer.padding, str) else [(p, p) for p in layer.padding]
    ys = lax.conv_general_dilated(
        xs,
        layer.weight,
        layer.stride,
        padding,
        rhs_dilation=layer.dilation,
        dimension_numbers=("NC" + spatial, "OI" + spatial, "NC" + spatial),
        feature_group_count=layer.groups,
    )
    if 0 in ys.shape[2:]:
        raise ValueError(f"{what}: input of spatial shape {xs.shape[2:]} is smaller than the dilated kernel")
    if layer.bias is not None:
        ys = ys + layer.bias.reshape((1, -1) + (1,) * n_spatial)
    return ys


class Conv2d(AbstractLayer):
    r"""2-D convolution of every step: $y_t = W \star x_t + b$ (PyTorch's ``nn.Conv2d``, NIR ``Conv2d``).

    $$y_t[o, i, j] = b_o + \sum_{c, m, n} W[o, c, m, n]\;
    x_t[g(o) + c,\; s_h i + d_h m - p_h,\; s_w j + d_w n - p_w]$$

    with stride $s$, dilation $d$, zero padding $p$ and $g(o)$ the first input channel of
    output ``o``'s group. Output size per axis: $\lfloor (N + 2p - d(k-1) - 1)/s \rfloor + 1$.

    **Arguments:** ``weight`` ``(C_out, C_in / groups, kH, kW)``, ``bias`` ``(C_out,)`` or
    ``None``; ``stride``, ``padding`` (integers, or ``"same"``/``"valid"``), ``dilation``: an int
    or one per axis; ``groups``. :meth:`create` initialises as PyTorch
    ($\mathcal U(\pm 1/\sqrt{fan_{in}})$).

    Called as every layer: ``xs`` ``(T, C_in, H, W)`` gives ``ys`` ``(T, C_out, H', W')``.
    """

    weight: Float[Array, "c_out c_in kh kw"]
    bias: Optional[Float[Array, " c_out"]]
    stride: tuple[int, int] = eqx.field(static=True)
    padding: Union[str, tuple[int, int]] = eqx.field(static=True)
    dilation: tuple[int, int] = eqx.field(static=True)
    groups: int = eqx.field(static=True)

    def __init__(
        self,
        weight: ParamLike,
        bias: Optional[ParamLike] = None,
        *,
        stride=1,
        padding: Padding = 0,
        dilation=1,
        groups: int = 1,
    ):
        fields = _conv_fields(
            "Conv2d", 2, "(C_out, C_in/groups, kH, kW)", weight, bias, stride, padding, dilation, groups
        )
        self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups = fields

    @classmethod
    def create(
        cls,
        in_channels: int,
        out_channels: int,
        kernel_size,
        *,
        stride=1,
        padding: Padding = 0,
        dilation=1,
        groups: int = 1,
        use_bias: bool = True,
        key: Optional[PRNGKeyArray],
    ) -> "Conv2d":
        """A layer from sizes, initialised from ``key`` as PyTorch's ``nn.Conv2d``."""
        weight, bias = _conv_init(cls, 2, in_channels, out_channels, kernel_size, use_bias, groups, key)
        return cls(weight, bias, stride=stride, padding=padding, dilation=dilation, groups=groups)

    def init_state(self, input_shape=None):
        return None

    def __call__(self, xs: ArrayLike, state: None = None, *, key=None, record: RecordSpec = False):
        return _conv(self, xs, 2), None, ({} if record else None)


class Conv1d(AbstractLayer):
    r"""1-D convolution of every step (PyTorch's ``nn.Conv1d``, NIR ``Conv1d``): as :class:`Conv2d`
    with one spatial axis. ``weight`` ``(C_out, C_in / groups, k)``; ``xs`` ``(T, C_in, L)`` gives
    ``(T, C_out, L')``, $L' = \lfloor (L + 2p - d(k-1) - 1)/s \rfloor + 1$."""

    weight: Float[Array, "c_out c_in kernel"]
    bias: Optional[Float[Array, " c_out"]]
    stride: tuple[int] = eqx.field(static=True)
    padding: Union[str, tuple[int]] = eqx.field(static=True)
    dilation: tuple[int] = eqx.field(static=True)
    groups: int = eqx.field(static=True)

    def __init__(
        self,
        weight: ParamLike,
        bias: Optional[ParamLike] = None,
        *,
        stride=1,
        padding: Padding = 0,
        dilation=1,
        groups: int = 1,
    ):
        fields = _conv_fields("Conv1d", 1, "(C_out, C_in/groups, k)", weight, bias, stride, padding, dilation, groups)
        self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups = fields

    @classmethod
    def create(
        cls,
        in_channels: int,
        out_channels: int,
        kernel_size,
        *,
        stride=1,
        padding: Padding = 0,
        dilation=1,
        groups: int = 1,
        use_bias: bool = True,
        key: Optional[PRNGKeyArray],
    ) -> "Conv1d":
        """A layer from sizes, initialised from ``key`` as PyTorch's ``nn.Conv1d``."""
        weight, bias = _conv_init(cls, 1, in_channels, out_channels, kernel_size, use_bias, groups, key)
        return cls(weight, bias, stride=stride, padding=padding, dilation=dilation, groups=groups)

    def init_state(self, input_shape=None):
        return None

    def __call__(self, xs: ArrayLike, state: None = None, *, key=None, record: RecordSpec = False):
        return _conv(self, xs, 1), None, ({} if record else None)


def _pool_fields(kernel_size, stride, padding):
    kernel = _ints("kernel_size", kernel_size, 2, minimum=1)
    stride = kernel if stride is None else _ints("stride", stride, 2, minimum=1)
    pad = _ints("padding", padding, 2, minimum=0)
    if any(2 * p > k for p, k in zip(pad, kernel)):
        raise ValueError(f"`padding` {pad} must be at most half of `kernel_size` {kernel} (as PyTorch)")
    return kernel, stride, pad


def _window_sum(layer, xs) -> Array:
    what = type(layer).__name__
    xs = _check_sequence(what, xs, 2)
    check_finite("xs", xs)
    (kh, kw), (sh, sw), (ph, pw) = layer.kernel_size, layer.stride, layer.padding
    if xs.shape[2] + 2 * ph < kh or xs.shape[3] + 2 * pw < kw:
        raise ValueError(f"{what}: input of spatial shape {xs.shape[2:]} is smaller than the kernel {(kh, kw)}")
    return lax.reduce_window(
        xs, jnp.zeros((), xs.dtype), lax.add, (1, 1, kh, kw), (1, 1, sh, sw), ((0, 0), (0, 0), (ph, ph), (pw, pw))
    )


class SumPool2d(AbstractLayer):
    r"""Sum over windows of every step (NIR ``SumPool2d``; Sinabs' ``SumPool2d``).

    $y_t[c, i, j] = \sum_{m < k_h, n < k_w} x_t[c, s_h i + m - p_h, s_w j + n - p_w]$ (zero
    padding). ``kernel_size``, ``stride`` (default: the kernel) and ``padding``: an int or one
    per axis. ``xs`` ``(T, C, H, W)`` gives ``(T, C, H', W')``,
    $H' = \lfloor (H + 2p_h - k_h)/s_h \rfloor + 1$. No parameters, no state.
    """

    kernel_size: tuple[int, int] = eqx.field(static=True)
    stride: tuple[int, int] = eqx.field(static=True)
    padding: tuple[int, int] = eqx.field(static=True)

    def __init__(self, kernel_size, stride=None, padding=0):
        self.kernel_size, self.stride, self.padding = _pool_fields(kernel_size, stride, padding)

    def init_state(self, input_shape=None):
        return None

    def __call__(self, xs: ArrayLike, state: None = None, *, key=None, record: RecordSpec = False):
        return _window_sum(self, xs), None, ({} if record else None)


class AvgPool2d(AbstractLayer):
    r"""Mean over windows of every step (NIR ``AvgPool2d``; PyTorch's ``nn.AvgPool2d`` with its
    default ``count_include_pad=True``): :class:`SumPool2d` divided by $k_h k_w$, padded zeros
    included."""

    kernel_size: tuple[int, int] = eqx.field(static=True)
    stride: tuple[int, int] = eqx.field(static=True)
    padding: tuple[int, int] = eqx.field(static=True)

    def __init__(self, kernel_size, stride=None, padding=0):
        self.kernel_size, self.stride, self.padding = _pool_fields(kernel_size, stride, padding)

    def init_state(self, input_shape=None):
        return None

    def __call__(self, xs: ArrayLike, state: None = None, *, key=None, record: RecordSpec = False):
        ys = _window_sum(self, xs) / (self.kernel_size[0] * self.kernel_size[1])
        return ys, None, ({} if record else None)


class Flatten(AbstractLayer):
    r"""Merge the axes ``start_dim`` .. ``end_dim`` (inclusive) of every step into one.

    The axes count within one step (one sample's ``(C, H, W)``, no time or batch axis), as NIR's
    ``Flatten`` in graphs written without a batch axis: ``Flatten(0)`` turns ``(T, C, H, W)`` into
    ``(T, C*H*W)`` in C order (channel slowest), matching PyTorch's ``x.flatten(1)`` on a batch.
    """

    start_dim: int = eqx.field(static=True)
    end_dim: int = eqx.field(static=True)

    def __init__(self, start_dim: int = 0, end_dim: int = -1):
        for name, v in (("start_dim", start_dim), ("end_dim", end_dim)):
            if not isinstance(v, (int,)) or isinstance(v, bool):
                raise TypeError(f"`{name}` must be an integer axis of one step, got {v!r}")
        self.start_dim, self.end_dim = int(start_dim), int(end_dim)

    def out_shape(self, step: tuple[int, ...]) -> tuple[int, ...]:
        """The shape of one step after flattening a step of shape ``step``."""
        n = len(step)
        start, end = self.start_dim % n if n else 0, self.end_dim % n if n else 0
        if not (-n <= self.start_dim < n and -n <= self.end_dim < n) or start > end:
            raise ValueError(
                f"Flatten(start_dim={self.start_dim}, end_dim={self.end_dim}) does not fit a step of shape {step}"
            )
        return step[:start] + (math.prod(step[start : end + 1]),) + step[end + 1 :]

    def init_state(self, input_shape=None):
        return None

    def __call__(self, xs: ArrayLike, state: None = None, *, key=None, record: RecordSpec = False):
        xs = jnp.asarray(xs)
        if xs.ndim < 1:
            raise ValueError("`xs` must have a leading time axis (T, ...), got a scalar")
        return xs.reshape(xs.shape[:1] + self.out_shape(xs.shape[1:])), None, ({} if record else None)
