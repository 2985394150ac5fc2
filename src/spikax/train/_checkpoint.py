"""Checkpoints and saved models: one self-describing file per PyTree.

A file holds everything needed to rebuild the tree without a template: the tree's *skeleton*
(its structure, classes and static fields, with every array replaced by a small placeholder) and
the arrays' raw bytes. ``load(path, kind=...)`` therefore works on its own; ``like=`` only adds a
check that the file belongs to the model the caller has in hand.

**Layout** (format version 1; the first three parts are the same in every version):

```
b"SPIKAX-CKPT\\n"        12 bytes, the magic
header length            8 bytes, unsigned little-endian
header                   UTF-8 JSON: format, format_version, kind, spikax_version, metadata,
                         fingerprint, leaves, skeleton_bytes, payload_bytes, payload_sha256,
                         byteorder
SHA-256 of the header    32 bytes
payload                  the skeleton (a pickle), then every array's bytes in leaf order
```

**Guarantees:**

- *Exact.* Arrays come back bit for bit with their dtype (float32, int32, bool, uint32, ...);
  JAX arrays as JAX arrays (strongly or weakly typed as saved), NumPy arrays and scalars as
  NumPy, typed PRNG keys (``jax.random.key``) as typed keys of the same implementation. Python
  scalars, strings, ``None`` and the containers come back as they were.
- *Atomic.* ``save`` builds the whole file in memory, writes it to a temporary file in the
  target's directory, flushes it to disk and ``os.replace``-s it over the target. A failed or
  interrupted save leaves an existing file as it was; the directory is created if missing.
- *Checked.* Every byte is covered by a hash: a load fails with ``ValueError`` naming the path
  and the problem (not a checkpoint, truncated or corrupted, the wrong kind, a newer format, a
  different model than ``like``) and never writes anything.
- *Restricted.* The skeleton is read by an unpickler that only rebuilds classes from spikax,
  equinox, jax, jaxlib, numpy and optax, functions from the numerical parts of those packages,
  and plain Python containers; anything else (``os.system``, your own ``__main__`` classes) is
  refused as not trusted before it can be called. ``save`` runs the same check, so a file that
  saves also loads. This is a defence in depth, not a sandbox: load files you trust.

Not kept: an array's device and sharding (arrays are placed on the default device).
"""

import contextlib
import dataclasses
import hashlib
import importlib
import io
import json
import os
import pathlib
import pickle
import re
import secrets
import sys
import types
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["save", "load", "save_model", "load_model", "read_metadata"]

MAGIC = b"SPIKAX-CKPT\n"
FORMAT = "spikax-checkpoint"
FORMAT_VERSION = 1
_LEN = 8  # bytes of the header length
_HASH = 32  # bytes of a SHA-256 digest
_MAX_HEADER = 1 << 26  # a length past this is garbage, not a header

# --------------------------------------------------------------------------------------------
# Array leaves and the skeleton
# --------------------------------------------------------------------------------------------


class _ArrayLeaf:
    """Where an array was: its bytes follow the skeleton, in leaf order.

    ``kind`` is ``"jax"``, ``"numpy"``, ``"numpy-scalar"`` or ``"key"`` (a typed PRNG key, stored
    as its key data; ``shape`` is the key array's shape, ``data_shape`` that of the data).
    """

    __slots__ = ("index", "kind", "dtype", "shape", "data_shape", "weak", "impl")

    def __init__(self, index, kind, dtype, shape, data_shape, weak=False, impl=None):
        self.index = index
        self.kind = kind
        self.dtype = dtype
        self.shape = shape
        self.data_shape = data_shape
        self.weak = weak
        self.impl = impl

    def __reduce__(self):
        return (
            _ArrayLeaf,
            (self.index, self.kind, self.dtype, self.shape, self.data_shape, self.weak, self.impl),
        )

    def nbytes(self):
        return int(np.prod(self.data_shape, dtype=np.int64)) * jnp.dtype(self.dtype).itemsize


def _is_key(x):
    return isinstance(x, jax.Array) and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)


def _impl_name(k):
    impl = jax.random.key_impl(k)
    if isinstance(impl, str):
        return impl
    return getattr(impl, "name", None) or str(impl)  # older JAX: a PRNGSpec


def _dtype_name(dtype, where):
    dtype = np.dtype(dtype)
    name = dtype.name
    ok = dtype.kind in "biufc" or (dtype.kind == "V" and dtype.fields is None)
    try:
        ok = ok and jnp.dtype(name) == dtype
    except TypeError:
        ok = False
    if not ok:
        raise TypeError(f"cannot save {where}: arrays of dtype {dtype} are not supported (numbers and bools only)")
    return name


def _array_bytes(a):
    a = np.ascontiguousarray(a)
    if a.dtype.byteorder not in "=|":
        a = a.astype(a.dtype.newbyteorder("="))
    return a.reshape(-1).view(np.uint8)


def _split(tree):
    """``tree`` -> (skeleton, list of uint8 arrays): arrays become :class:`_ArrayLeaf`."""
    leaves, treedef = jax.tree_util.tree_flatten_with_path(tree)
    skeleton_leaves, chunks = [], []
    for path, x in leaves:
        where = _show(jax.tree_util.keystr(path))
        try:
            if _is_key(x):
                data = np.asarray(jax.random.key_data(x))
                leaf = _ArrayLeaf(len(chunks), "key", _dtype_name(data.dtype, where), tuple(x.shape),
                                  data.shape, impl=_impl_name(x))
            elif isinstance(x, jax.Array):
                data = np.asarray(x)
                leaf = _ArrayLeaf(len(chunks), "jax", _dtype_name(data.dtype, where), data.shape, data.shape,
                                  weak=bool(getattr(x, "weak_type", False)))
            elif isinstance(x, (np.ndarray, np.generic)):
                data = np.asarray(x)
                kind = "numpy" if isinstance(x, np.ndarray) else "numpy-scalar"
                leaf = _ArrayLeaf(len(chunks), kind, _dtype_name(data.dtype, where), data.shape, data.shape)
            else:
                skeleton_leaves.append(x)
                continue
        except (jax.errors.TracerArrayConversionError, jax.errors.ConcretizationTypeError) as e:
            raise TypeError(f"cannot save {where}: it is a traced value (inside jit, grad or vmap)") from e
        skeleton_leaves.append(leaf)
        chunks.append(_array_bytes(data))
    return jax.tree_util.tree_unflatten(treedef, skeleton_leaves), chunks


def _restore(leaf, buf, offset, byteswap, path):
    data = np.frombuffer(buf, dtype=jnp.dtype(leaf.dtype), count=int(np.prod(leaf.data_shape, dtype=np.int64)),
                         offset=offset).reshape(leaf.data_shape)
    if byteswap:
        data = data.byteswap()
    data = data.copy()
    if leaf.kind == "numpy":
        return data
    if leaf.kind == "numpy-scalar":
        return data[()]
    if jax.dtypes.canonicalize_dtype(data.dtype) != data.dtype:
        raise _NeedsX64(
            f"{path} holds {data.dtype} JAX arrays, which JAX would truncate with jax_enable_x64 off: "
            "enable it (jax.config.update('jax_enable_x64', True)) to load this file"
        )
    if leaf.kind == "key":
        return jax.random.wrap_key_data(jnp.asarray(data), impl=leaf.impl)
    out = jnp.asarray(data)
    if leaf.weak:
        out = _weak(out)
    return out


def _weak(x):
    # JAX has no public way to make a weakly typed array from data; this is how `jnp.asarray(1.0)`
    # gets its type. Without it the array comes back strongly typed (same bits, same dtype).
    try:
        from jax._src.lax.lax import _convert_element_type

        return _convert_element_type(x, x.dtype, weak_type=True)
    except Exception:  # pragma: no cover - a JAX without the helper
        return x


# --------------------------------------------------------------------------------------------
# Describing a tree: the fingerprint and the "first difference" for `like=`
# --------------------------------------------------------------------------------------------


class _NeedsX64(ValueError):
    """The file holds 64-bit JAX arrays and this process has ``jax_enable_x64`` off."""


class _Incompatible(Exception):
    """A class in the file does not match this spikax's class of the same name."""


def _show(path):
    path = path[1:] if path.startswith(".") else path
    return path or "(root)"


def _name(obj):
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', type(obj).__qualname__)}"


def _value_repr(v):
    if callable(v) and isinstance(getattr(v, "__qualname__", None), str):
        return _name(v)
    return re.sub(r" at 0x[0-9a-fA-F]+", "", repr(v))


def _leaf_entry(x):
    """(description tuple, text) of a leaf; arrays and placeholders describe alike."""
    if isinstance(x, _ArrayLeaf):
        if x.kind == "key":
            return ("key", x.impl, tuple(x.shape)), f"key<{x.impl}>{list(x.shape)}"
        return ("array", x.dtype, tuple(x.shape)), f"{x.dtype}{list(x.shape)}"
    if _is_key(x):
        impl = _impl_name(x)
        return ("key", impl, tuple(x.shape)), f"key<{impl}>{list(x.shape)}"
    if isinstance(x, (jax.Array, np.ndarray, np.generic, jax.ShapeDtypeStruct)):
        dtype = np.dtype(x.dtype).name
        return ("array", dtype, tuple(x.shape)), f"{dtype}{list(x.shape)}"
    if isinstance(x, (bool, int, float, complex, str, bytes)):
        return ("py", type(x).__qualname__), type(x).__qualname__
    if callable(x) and isinstance(getattr(x, "__qualname__", None), str):
        return ("callable", _name(x)), _name(x)
    return ("object", _name(type(x))), f"{_name(type(x))} object"


def _node_text(x, node_type, aux, keys):
    if isinstance(x, eqx.Module):
        static = [f"{f.name}={_value_repr(getattr(x, f.name))}"
                  for f in dataclasses.fields(x) if f.metadata.get("static", False)]
        return f"{type(x).__qualname__}({', '.join(static)})"
    if isinstance(x, dict):
        return f"{type(x).__qualname__} with keys {keys}"
    if isinstance(x, (list, tuple)) and node_type in (list, tuple):
        return f"{node_type.__qualname__} of {len(keys)}"
    if isinstance(x, tuple) and isinstance(getattr(type(x), "_fields", None), tuple):
        return type(x).__qualname__
    return f"{getattr(node_type, '__qualname__', node_type)}[{_value_repr(aux)}] of {len(keys)}"


def _check_fields(x, path):
    """An unpickled module has exactly its class's fields: else the class changed since saving."""
    names = [f.name for f in dataclasses.fields(x)]
    have = vars(x)
    missing = [n for n in names if n not in have]
    extra = [n for n in have if n not in names]
    if missing or extra:
        what = "; ".join(
            s for s in (missing and f"this version adds {missing}", extra and f"this version drops {extra}") if s
        )
        raise _Incompatible(
            f"{_show(path)}: class {type(x).__qualname__} has changed since the file was written ({what})"
        )


def _describe(tree, *, loaded=False):
    """Pre-order list of (path, description, text) over every node and leaf of ``tree``."""
    out = []

    def walk(x, path):
        if x is None:
            out.append((path, ("none",), "None"))
            return
        if x is Ellipsis and not loaded:
            out.append((path, ("any",), "..."))
            return
        if isinstance(x, _ArrayLeaf) or isinstance(x, (jax.Array, np.ndarray, np.generic, jax.ShapeDtypeStruct)):
            out.append((path, *_leaf_entry(x)))
            return
        if loaded and isinstance(x, eqx.Module):
            _check_fields(x, path)
        children, treedef = jax.tree_util.tree_flatten_with_path(x, is_leaf=lambda y: y is not x)
        if treedef.num_nodes == 1 and treedef.num_leaves == 1 and children and children[0][0] == ():
            out.append((path, *_leaf_entry(x)))
            return
        node_type, aux = treedef.node_data()
        keys = [getattr(kp[-1], "key", kp[-1]) for kp, _ in children]
        text = _node_text(x, node_type, aux, keys)
        out.append((path, ("node", text), text))
        for kp, child in children:
            walk(child, path + jax.tree_util.keystr(kp))

    walk(tree, "")
    return out


def _fingerprint(entries):
    text = "\n".join(f"{_show(p)}: {t}" for p, _, t in entries)
    return hashlib.sha256(text.encode()).hexdigest()


def _first_difference(saved, given):
    """The first place where ``saved`` (the file) and ``given`` (``like``) differ, or None.

    A ``...`` in ``like`` matches whatever subtree the file has there.
    """
    i = j = 0
    while i < len(saved) and j < len(given):
        (pa, da, ta), (pb, db, tb) = saved[i], given[j]
        if pa != pb:
            return f"{_show(pa)} vs {_show(pb)}"
        if db == ("any",):
            i += 1
            while i < len(saved) and saved[i][0].startswith(pa) and saved[i][0][len(pa):][:1] in (".", "["):
                i += 1
            j += 1
            continue
        if da != db:
            if da[0] == db[0] and da[0] in ("array", "key") and da[1] == db[1]:
                return f"{_show(pa)}: shape {da[2]} vs {db[2]}"
            if da[0] == db[0] == "array" and da[2] == db[2]:
                return f"{_show(pa)}: dtype {da[1]} vs {db[1]}"
            return f"{_show(pa)}: {ta} vs {tb}"
        i, j = i + 1, j + 1
    if i < len(saved):
        return f"{_show(saved[i][0])}: {saved[i][2]} only in the file"
    if j < len(given):
        return f"{_show(given[j][0])}: {given[j][2]} only in `like`"
    return None


# --------------------------------------------------------------------------------------------
# Pickling the skeleton, and the restricted unpickler
# --------------------------------------------------------------------------------------------

_TRUSTED = ("spikax", "equinox", "jax", "jaxlib", "numpy", "optax")
# Functions (as opposed to classes) are only rebuilt from the numerical parts of those packages:
# calling a function is what an attack does, so the I/O parts are left out.
_CALLABLE_HOMES = (
    "spikax", "equinox", "optax", "jax.numpy", "jax.nn", "jax.lax", "jax.random", "jax.scipy",
    "jax.tree_util", "jax._src.numpy", "jax._src.nn", "jax._src.lax", "jax._src.random",
    "jax._src.scipy", "jax._src.tree_util", "jax._src.ops", "jax._src.custom_derivatives",
)
# The parts of spikax that read or write files: only their modules (and NamedTuples) are rebuilt.
_SPIKAX_IO = (
    "spikax.train._checkpoint", "spikax.train._fit", "spikax.train._experiment", "spikax.train.tasks",
    "spikax.cli", "spikax.encode", "spikax.plot", "spikax.interop", "spikax.distributed",
    "spikax.devices.dynapse.deploy",
)
# Within jax, numpy, equinox and optax: names that touch files, processes, imports or global
# configuration are refused whatever they are.
_DENY = re.compile(
    r"save|load|file|open|memmap|datasource|exec|eval|system|spawn|popen|subprocess|compil|import|"
    r"callback|debug|profil|ctypes|pickle|marshal|serial|config|environ|globals|reconstruct|"
    r"dump|write|cache|shell|path|(^|\.)_?os$|(^|\.)sys$|socket|thread",
    re.IGNORECASE,
)
_SAFE = frozenset(
    [("builtins", n) for n in (
        "tuple", "list", "dict", "set", "frozenset", "int", "float", "complex", "bool", "str",
        "bytes", "bytearray", "slice", "range", "object", "Ellipsis", "NotImplemented",
    )]
    + [("collections", n) for n in ("OrderedDict", "defaultdict", "deque")]
    + [("copyreg", n) for n in ("_reconstructor", "__newobj__", "__newobj_ex__")]
    + [("functools", "partial"), ("typing", "Any")]
    # NumPy arrays and scalars (in static fields) pickle through these.
    + [(m, n) for m in ("numpy._core.multiarray", "numpy.core.multiarray") for n in ("_reconstruct", "scalar")]
    + [(m, "_frombuffer") for m in ("numpy._core.numeric", "numpy.core.numeric")]
)


def _under(module, prefixes):
    return isinstance(module, str) and any(module == p or module.startswith(p + ".") for p in prefixes)


class _Untrusted(Exception):
    """The skeleton refers to a global that may not be rebuilt."""


class _Missing(Exception):
    """The skeleton refers to a class or function this installation does not have."""


def _resolve(module, name):
    """The global ``module.name`` if a checkpoint may refer to it, else :class:`_Untrusted`."""
    what = f"{module}.{name}"
    if (module, name) in _SAFE:
        try:
            return getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError) as e:
            raise _Missing(what) from e
    if not _under(module, _TRUSTED) or not isinstance(name, str):
        raise _Untrusted(what)
    is_spikax = _under(module, ("spikax",))
    if not is_spikax and _DENY.search(what):
        raise _Untrusted(what)
    try:
        obj = importlib.import_module(module)
    except ImportError as e:
        raise _Missing(what) from e
    for part in name.split("."):
        if part.startswith("__") or not part:
            raise _Untrusted(what)
        try:
            obj = getattr(obj, part)
        except AttributeError as e:
            raise _Missing(what) from e
        if isinstance(obj, types.ModuleType):
            raise _Untrusted(what)  # no hopping through a module's imports (`x.os.system`)
    home = getattr(obj, "__module__", None)
    full = f"{home}.{getattr(obj, '__qualname__', name)}"
    if isinstance(obj, type):
        if not _under(home, _TRUSTED) or (not _under(home, ("spikax",)) and _DENY.search(full)):
            raise _Untrusted(what)
        if _under(home, _SPIKAX_IO) and not issubclass(obj, (eqx.Module, tuple)) and obj is not _ArrayLeaf:
            raise _Untrusted(what)
        return obj
    if callable(obj) and _under(home, _CALLABLE_HOMES) and not _under(home, _SPIKAX_IO):
        if _under(home, ("spikax",)) or not _DENY.search(full):
            return obj
    raise _Untrusted(what)


class _Unpickler(pickle.Unpickler):
    def find_class(self, module, name):
        return _resolve(module, name)

    def persistent_load(self, pid):
        raise _Untrusted(f"persistent id {pid!r}")


class _Pickler(pickle.Pickler):
    """Functions and other callables (``jnp.tanh``, ``jax.nn.relu``) are stored by name.

    The default pickler refuses JAX's jitted and custom-derivative functions (the name resolves to
    the wrapper, not to the wrapped function); storing the name is what they mean.
    """

    def reducer_override(self, obj):
        if isinstance(obj, type) or not callable(obj) or isinstance(obj, eqx.Module):
            return NotImplemented
        module = getattr(obj, "__module__", None)
        mod = sys.modules.get(module) if isinstance(module, str) else None
        if mod is None:
            return NotImplemented
        qualname = getattr(obj, "__qualname__", None)
        if isinstance(qualname, str) and "<" not in qualname:
            target = mod
            for part in qualname.split("."):
                target = getattr(target, part, None)
            if target is obj:
                return qualname
        for k, v in vars(mod).items():  # e.g. equinox's `_identity = lambda x: x`
            if v is obj:
                return k
        return NotImplemented


def _dumps(skeleton):
    f = io.BytesIO()
    _Pickler(f, protocol=4).dump(skeleton)
    return f.getvalue()


def _loads(data):
    return _Unpickler(io.BytesIO(data)).load()


def _unpicklable(skeleton):
    """Where in ``skeleton`` the first object that cannot be pickled is (best effort)."""

    def fails(obj):
        try:
            _dumps(obj)
        except Exception:
            return True
        return False

    def walk(x, path):
        if x is None or isinstance(x, _ArrayLeaf):
            return None
        children, treedef = jax.tree_util.tree_flatten_with_path(x, is_leaf=lambda y: y is not x)
        if treedef.num_nodes == 1 and treedef.num_leaves == 1 and children and children[0][0] == ():
            return f"{_show(path)} ({_value_repr(x)})" if fails(x) else None
        if fails(type(x)):
            return f"{_show(path)} (class {_name(type(x))})"
        if isinstance(x, eqx.Module):
            for f in dataclasses.fields(x):
                if f.metadata.get("static", False) and fails(getattr(x, f.name)):
                    return f"{_show(path + '.' + f.name)} ({_value_repr(getattr(x, f.name))})"
        for kp, child in children:
            where = walk(child, path + jax.tree_util.keystr(kp))
            if where:
                return where
        return None

    return walk(skeleton, "")


# --------------------------------------------------------------------------------------------
# The header
# --------------------------------------------------------------------------------------------


def _check_json(x, where):
    if x is None or isinstance(x, (bool, int, float, str)):
        return
    if isinstance(x, (list, tuple)):
        for i, v in enumerate(x):
            _check_json(v, f"{where}[{i}]")
        return
    if isinstance(x, dict):
        for k, v in x.items():
            if not isinstance(k, str):
                raise TypeError(f"`metadata` must be JSON-serialisable: {where} has the key {k!r}, keys must be str")
            _check_json(v, f"{where}[{k!r}]")
        return
    hint = ""
    if isinstance(x, (np.generic, np.ndarray, jax.Array)):
        hint = " (convert it with float(), int() or .tolist())"
    raise TypeError(f"`metadata` must be JSON-serialisable: {where} is a {_name(type(x))}{hint}")


def _check_kind(kind):
    if not isinstance(kind, str) or not kind:
        raise TypeError(f"`kind` must be a non-empty str, got {kind!r}")


def _spikax_version():
    import spikax

    return spikax.__version__


def _corrupt(path, why):
    return ValueError(f"{path} is truncated or corrupted: {why}")


def _check_size(path, start, n, size):
    if start + n > size:
        raise _corrupt(path, f"the payload should be {n} bytes but only {size - start} are there")
    if start + n < size:
        raise _corrupt(path, f"{size - start - n} unexpected bytes after the payload")


def _read_header(path, f, size):
    """Read and check the header from the open file ``f`` of ``size`` bytes; returns (header, offset)."""
    head = f.read(len(MAGIC) + _LEN)
    magic = head[: len(MAGIC)]
    if magic != MAGIC:
        if size == 0:
            raise ValueError(f"{path} is not a spikax checkpoint: the file is empty")
        if len(head) < len(MAGIC) and MAGIC.startswith(magic):
            raise _corrupt(path, f"{size} bytes, shorter than the magic")
        raise ValueError(f"{path} is not a spikax checkpoint: it does not start with {MAGIC!r}")
    if len(head) < len(MAGIC) + _LEN:
        raise _corrupt(path, "the file ends inside the header length")
    n = int.from_bytes(head[len(MAGIC):], "little")
    if n > _MAX_HEADER or len(head) + n + _HASH > size:
        raise _corrupt(path, f"a header of {n} bytes does not fit in a file of {size} bytes")
    raw = f.read(n)
    digest = f.read(_HASH)
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise _corrupt(path, "the header is not valid JSON") from None
    if not isinstance(header, dict):
        raise _corrupt(path, "the header is not a JSON object")
    version = header.get("format_version")
    if header.get("format") != FORMAT or not isinstance(version, int) or isinstance(version, bool):
        raise _corrupt(path, "the header does not name the format and its version")
    if version > FORMAT_VERSION:
        raise ValueError(
            f"{path} was written by a newer format version ({version}; this spikax "
            f"{_spikax_version()} reads up to {FORMAT_VERSION}): upgrade spikax to load it"
        )
    if hashlib.sha256(raw).digest() != digest:
        raise _corrupt(path, "the header's SHA-256 does not match")
    spec = {"kind": str, "spikax_version": str, "metadata": dict, "fingerprint": str, "leaves": int,
            "skeleton_bytes": int, "payload_bytes": int, "payload_sha256": str, "byteorder": str}
    for k, t in spec.items():
        if not isinstance(header.get(k), t):
            raise _corrupt(path, f"the header's {k!r} is missing or not a {t.__name__}")
    return header, len(head) + n + _HASH


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


def save(path: str | os.PathLike, tree: Any, *, kind: str, metadata: dict | None = None) -> pathlib.Path:
    """Write ``tree`` to ``path`` atomically, in a file that rebuilds it without a template.

    **Arguments:**

    - `path`: the file to write (any name; the parent directory is created if missing). An
        existing file is replaced only once the new one is complete on disk.
    - `tree`: any PyTree of spikax/equinox modules (static fields included), optax states, JAX
        and NumPy arrays, typed PRNG keys, Python scalars and strings, ``None``, lists, tuples
        and dicts. Functions in it (e.g. ``jnp.tanh``) are stored by name.
    - `kind`: what the file holds (``"model"``, ``"run"``, ...); ``load`` checks it.
    - `metadata`: a JSON-serialisable dict stored in the header (see :func:`read_metadata`).

    **Returns:** the path written, as a ``pathlib.Path``.

    **Raises:** ``TypeError`` if ``metadata`` is not JSON-serialisable, or ``tree`` holds what a
    checkpoint cannot rebuild (a traced value, an object array, a lambda, a class from outside
    spikax, equinox, jax, jaxlib, numpy and optax); the target is then untouched.
    """
    _check_kind(kind)
    metadata = {} if metadata is None else metadata
    if not isinstance(metadata, dict):
        raise TypeError(f"`metadata` must be a dict or None, got {_name(type(metadata))}")
    _check_json(metadata, "metadata")
    path = pathlib.Path(path)

    skeleton, chunks = _split(tree)
    try:
        skeleton_bytes = _dumps(skeleton)
    except Exception as e:
        where = _unpicklable(skeleton)
        at = f" at {where}" if where else ""
        raise TypeError(
            f"cannot save the tree: an object{at} cannot be stored ({e}); functions must be "
            "importable by name (no lambdas or local functions), classes defined at module level"
        ) from e
    try:
        _loads(skeleton_bytes)
    except _Untrusted as e:
        raise TypeError(
            f"cannot save the tree: it holds {e}, which `load` would refuse as not trusted "
            f"(checkpoints rebuild objects from {', '.join(_TRUSTED)} only)"
        ) from None
    except Exception as e:
        raise TypeError(f"cannot save the tree: it would not load back ({type(e).__name__}: {e})") from e
    entries = _describe(skeleton)

    digest = hashlib.sha256(skeleton_bytes)
    for c in chunks:
        digest.update(c)
    header = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "kind": kind,
        "spikax_version": _spikax_version(),
        "metadata": metadata,
        "fingerprint": _fingerprint(entries),
        "leaves": len(chunks),
        "skeleton_bytes": len(skeleton_bytes),
        "payload_bytes": len(skeleton_bytes) + sum(c.size for c in chunks),
        "payload_sha256": digest.hexdigest(),
        "byteorder": sys.byteorder,
    }
    raw = json.dumps(header, sort_keys=True).encode("utf-8")
    pieces = [MAGIC, len(raw).to_bytes(_LEN, "little"), raw, hashlib.sha256(raw).digest(), skeleton_bytes, *chunks]
    _atomic_write(path, pieces)
    return path


def _atomic_write(path, pieces):
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    # os.open with 0o666 lets the umask set the permissions, as for any new file.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with open(fd, "wb", closefd=True) as f:
            for p in pieces:
                f.write(p)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError, AttributeError):  # make the rename itself durable (POSIX)
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


def read_metadata(path: str | os.PathLike) -> dict:
    """The header of a checkpoint, read and checked without loading the tree.

    The header's hash and the file's length are checked; the payload's hash is not (that is
    :func:`load`'s work, reading the whole file).

    **Returns:** a dict with ``kind``, ``spikax_version``, ``metadata`` (the dict given to
    :func:`save`), ``format_version``, ``fingerprint`` (SHA-256 of the tree's structure, classes,
    static fields and leaf shapes and dtypes: equal for two files of the same model), ``leaves``
    (the number of arrays) and the payload's size and SHA-256.

    **Raises:** ``ValueError`` as :func:`load` does for the header.
    """
    path = pathlib.Path(path)
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        header, start = _read_header(path, f, size)
    _check_size(path, start, header["payload_bytes"], size)
    return header


def load(path: str | os.PathLike, *, kind: str, like: Any = None) -> tuple[Any, dict]:
    """Rebuild the tree saved at ``path`` by :func:`save`.

    **Arguments:**

    - `path`: the file.
    - `kind`: the kind the file must hold (as given to :func:`save`).
    - `like`: optional; a tree of the same model (arrays or ``jax.ShapeDtypeStruct``; values do
        not matter). The file must match its structure, classes, static fields, every array's
        shape and dtype and every other leaf's type. A ``...`` in ``like`` matches anything
        (e.g. ``eqx.tree_at(lambda r: r.history, run, ...)`` for a run whose metric history
        grows).

    **Returns:** ``(tree, metadata)``.

    **Raises:** ``FileNotFoundError`` if there is no file; ``ValueError`` naming the path if it
    is not a spikax checkpoint, is truncated or corrupted, holds another kind, was written by a
    newer format version, refers to objects that are not trusted or no longer exist, or belongs
    to a different model than ``like`` (the message names the first difference). Loading never
    writes anything.
    """
    _check_kind(kind)
    path = pathlib.Path(path)
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        header, start = _read_header(path, f, size)
        if header["kind"] != kind:
            raise ValueError(f"{path} holds a {header['kind']!r} but a {kind!r} was expected")
        n = header["payload_bytes"]
        _check_size(path, start, n, size)
        payload = f.read(n)
    view = memoryview(payload)
    if len(payload) != n or hashlib.sha256(view).hexdigest() != header["payload_sha256"]:
        raise _corrupt(path, "the payload's SHA-256 does not match")
    k = header["skeleton_bytes"]
    if not 0 < k <= n:
        raise _corrupt(path, "the skeleton length does not fit the payload")

    written = f"(written by spikax {header['spikax_version']}; this is {_spikax_version()})"
    try:
        skeleton = _loads(view[:k])
    except _Untrusted as e:
        raise ValueError(
            f"{path} refers to {e}, which is not trusted: a checkpoint may only rebuild objects "
            f"from {', '.join(_TRUSTED)} and plain Python containers"
        ) from None
    except _Missing as e:
        raise ValueError(f"{path} refers to {e}, which this installation does not have {written}") from None
    except Exception as e:
        raise _corrupt(path, f"its tree cannot be rebuilt ({type(e).__name__}: {e})") from None
    try:
        saved = _describe(skeleton, loaded=True)
    except _Incompatible as e:
        raise ValueError(f"{path} cannot be loaded by this spikax {written}: {e}") from None
    except Exception as e:
        raise _corrupt(path, f"its tree cannot be rebuilt ({type(e).__name__}: {e})") from None
    if like is not None:
        diff = _first_difference(saved, _describe(like))
        if diff is not None:
            raise ValueError(f"{path} belongs to a different model than `like`: {diff} (file vs like)")

    leaves, treedef = jax.tree_util.tree_flatten(skeleton)
    placeholders = [x for x in leaves if isinstance(x, _ArrayLeaf)]
    byteswap = header["byteorder"] != sys.byteorder
    offset, arrays = k, []
    for i, leaf in enumerate(placeholders):
        try:
            ok = (
                leaf.index == i
                and leaf.kind in ("jax", "numpy", "numpy-scalar", "key")
                and isinstance(leaf.shape, tuple)
                and isinstance(leaf.data_shape, tuple)
                and all(isinstance(d, int) and d >= 0 for d in (*leaf.shape, *leaf.data_shape))
                and (leaf.kind == "key" or leaf.shape == leaf.data_shape)
                and (leaf.kind != "numpy-scalar" or leaf.shape == ())
            )
            nbytes = leaf.nbytes() if ok else 0
        except (TypeError, AttributeError):
            ok = False
        if not ok or offset + nbytes > n:
            raise _corrupt(path, f"array {i} is malformed or past the end of the payload")
        try:
            arrays.append(_restore(leaf, payload, offset, byteswap, path))
        except _NeedsX64:
            raise
        except Exception as e:
            raise _corrupt(path, f"array {i} cannot be rebuilt ({type(e).__name__}: {e})") from None
        offset += nbytes
    if len(placeholders) != header["leaves"] or offset != n:
        raise _corrupt(path, "the arrays do not add up to the payload")
    it = iter(arrays)
    tree = jax.tree_util.tree_unflatten(treedef, [next(it) if isinstance(x, _ArrayLeaf) else x for x in leaves])
    return tree, header["metadata"]


def save_model(path: str | os.PathLike, model: Any, *, metadata: dict | None = None) -> pathlib.Path:
    """Save a model (an equinox Module, e.g. any spikax network) with ``kind="model"``.

    See :func:`save` for the format and guarantees; :func:`load_model` reads it back.
    """
    if not isinstance(model, eqx.Module):
        raise TypeError(
            f"save_model takes an equinox Module (a spikax model), got {_name(type(model))}; "
            "use save(path, tree, kind=...) for other trees"
        )
    return save(path, model, kind="model", metadata=metadata)


def load_model(path: str | os.PathLike, *, like: Any = None) -> Any:
    """Load a model written by :func:`save_model` (optionally checked against ``like``).

    Raises ``ValueError`` as :func:`load` does, including for a file of another kind.
    """
    return load(path, kind="model", like=like)[0]
