"""Write the API reference pages (docs/api/*.md) from what each public module exports.

    python docs/gen_api.py    # after adding or removing a public name; tests/test_docs.py checks the pages

Each page lists every public name of its module (:func:`public_names`) as a mkdocstrings entry
(``::: module.name``).
"""

from __future__ import annotations

import importlib
import inspect
import types
from pathlib import Path

#: page file -> (module, title, one-line introduction).
PAGES = {
    "spikax.md": (
        "spikax", "spikax",
        "Models, layers, the time loop and the adjoints: everything `import spikax as sx` gives.",
    ),
    "surrogate.md": (
        "spikax.surrogate", "spikax.surrogate", "Spike functions: a step forward, a chosen derivative backward.",
    ),
    "encode.md": ("spikax.encode", "spikax.encode", "Turning signals into spike trains."),
    "neurons.md": (
        "spikax.neurons", "spikax.neurons", "Every neuron model's parameters, state and pure stage functions.",
    ),
    "plot.md": (
        "spikax.plot", "spikax.plot", "Rasters, traces and summaries (matplotlib, imported on first use).",
    ),
    "distributed.md": (
        "spikax.distributed", "spikax.distributed",
        "Every core, device and host: batches, sweeps, chip ensembles, data-parallel training.",
    ),
    "dynapse.md": (
        "spikax.devices.dynapse", "spikax.devices.dynapse",
        "The DYNAP-SE2 simulator: circuit parameters, dynamics, mismatch, layers.",
    ),
    "deploy.md": (
        "spikax.devices.dynapse.deploy", "spikax.devices.dynapse.deploy",
        "From a trained network to a DYNAP-SE2 configuration: bias codes, 4-bit weights, placement, routing.",
    ),
    "train.md": (
        "spikax.train", "spikax.train",
        "Training: fit, objectives, chip mismatch, reparametrisations, checkpoints.",
    ),
    "nir.md": ("spikax.interop.nir", "spikax.interop.nir", "Exchanging networks with other tools through NIR."),
}


def public_names(module_name: str) -> list[str]:
    """The module's ``__all__``, or else every name it binds without a leading underscore that
    is not a submodule and not imported from outside spikax (constants included)."""
    module = importlib.import_module(module_name)
    if hasattr(module, "__all__"):
        return list(module.__all__)
    names = []
    for name, value in vars(module).items():
        if name.startswith("_") or isinstance(value, types.ModuleType):
            continue
        if (inspect.isclass(value) or inspect.isfunction(value)) and not value.__module__.startswith("spikax"):
            continue
        if type(value).__module__ in ("typing", "__future__"):
            continue
        names.append(name)
    return names


def comment_docstring(lines: list[str], lineno: int) -> str:
    """The ``#:`` comment lines right above line ``lineno`` (1-based), joined; '' if none.

    The sources document module constants this way (Sphinx's convention); the docs build reads
    them as the constants' docstrings (``docs/hooks/roles.py``).
    """
    found = []
    i = lineno - 2
    while 0 <= i < len(lines) and lines[i].lstrip().startswith("#:"):
        found.append(lines[i].lstrip()[2:].strip())
        i -= 1
    return " ".join(reversed(found))


def page(module_name: str, title: str, intro: str) -> str:
    note = "<!-- Written by docs/gen_api.py: edit the docstrings, not this page. -->"
    lines = [f"# `{title}`", "", intro, "", note, ""]
    for name in public_names(module_name):
        lines += [f"::: {module_name}.{name}", ""]
    return "\n".join(lines)


def main() -> None:
    out = Path(__file__).parent / "api"
    out.mkdir(exist_ok=True)
    for file, spec in PAGES.items():
        (out / file).write_text(page(*spec))


if __name__ == "__main__":
    main()
