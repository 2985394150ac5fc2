"""Griffe extension for spikax's docstrings as MkDocs renders them.

- Sphinx-style roles (:class:`X`, :func:`X`, ...) become inline code: the docstrings name other
  objects the reStructuredText way so that they read well in ``help()``, and MkDocs would print
  the role itself.
- ``#:`` comments above a module constant become its docstring (the Sphinx convention the
  sources use; griffe reads only string literals).
- Two display equations on consecutive lines are kept apart (MathJax would read one).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import griffe

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from gen_api import comment_docstring  # noqa: E402  (docs/, shared with tests/test_docs.py)

_ROLE = re.compile(r":(?:class|func|meth|mod|attr|data|obj|exc):`~?([^`]+)`")
_ADJACENT_DISPLAY = re.compile(r"\$\$[ \t]*\n[ \t]*\$\$")


def clean(text: str) -> str:
    return _ADJACENT_DISPLAY.sub("$$\n\n$$", _ROLE.sub(r"`\1`", text))


class SpikaxDocstrings(griffe.Extension):
    def on_attribute_instance(self, *, attr, **kwargs) -> None:
        parent = attr.parent
        if attr.docstring is None and attr.lineno is not None and parent is not None and parent.is_module:
            try:
                lines = parent.lines  # a module's lines are its whole file
            except Exception:  # no source (a compiled module)
                return
            text = comment_docstring(lines, attr.lineno)
            if text:
                attr.docstring = griffe.Docstring(text, parent=attr)

    def on_object(self, *, obj, **kwargs) -> None:
        if obj.docstring is not None:
            obj.docstring.value = clean(obj.docstring.value)
