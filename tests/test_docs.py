"""The documentation site: every public name has a reference entry and a docstring; it builds.

The reference pages are written by ``docs/gen_api.py`` from what each module exports; a name
added without rerunning it, or without a docstring, fails here. ``mkdocs build --strict`` runs
where the ``docs`` extra is installed.
"""

import ast
import importlib
import inspect
import subprocess
import sys

import pytest

from conftest import REPO

sys.path.insert(0, str(REPO / "docs"))
import gen_api  # noqa: E402


@pytest.mark.parametrize("page", sorted(gen_api.PAGES))
def test_every_public_name_has_a_reference_entry(page):
    written = (REPO / "docs" / "api" / page).read_text()
    assert written == gen_api.page(*gen_api.PAGES[page]), f"docs/api/{page} is stale: run python docs/gen_api.py"


def _constant_documented(name: str) -> bool:
    """A module constant is documented by ``#:`` comments right above its assignment."""
    for path in (REPO / "src" / "spikax").rglob("*.py"):
        lines = path.read_text().splitlines()
        for node in ast.parse("\n".join(lines)).body:
            targets = getattr(node, "targets", None) or ([node.target] if isinstance(node, ast.AnnAssign) else [])
            if any(isinstance(t, ast.Name) and t.id == name for t in targets):
                if gen_api.comment_docstring(lines, node.lineno):
                    return True
    return False


def test_every_public_name_has_a_docstring():
    missing = []
    for module_name, _, _ in gen_api.PAGES.values():
        module = importlib.import_module(module_name)
        for name in gen_api.public_names(module_name):
            value = getattr(module, name)
            if inspect.isclass(value) or inspect.isfunction(value):
                doc = value.__dict__.get("__doc__") if inspect.isclass(value) else value.__doc__
                # A dataclass without a docstring gets its signature as one: not documentation.
                if not doc or not doc.strip() or doc.startswith(f"{value.__name__}("):
                    missing.append(f"{module_name}.{name}")
            elif not _constant_documented(name):
                missing.append(f"{module_name}.{name} (constant: no #: comment)")
    assert not missing, missing


def test_the_site_builds_strictly(tmp_path):
    pytest.importorskip("mkdocs")
    pytest.importorskip("mkdocstrings")
    out = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(tmp_path / "site")],
        cwd=REPO, capture_output=True, text=True, env={"NO_MKDOCS_2_WARNING": "1", **__import__("os").environ},
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert (tmp_path / "site" / "api" / "spikax" / "index.html").exists()


def test_the_pages_quote_sections_and_figures_that_exist():
    """The tutorials quote their scripts by named sections (``--8<-- "file:name"``) and show
    figures from docs/img: both must exist, also where mkdocs is not installed."""
    import re

    pages = sorted((REPO / "docs").rglob("*.md"))
    assert len([p for p in pages if p.parent.name == "tutorials"]) == 6
    for page in pages:
        text = page.read_text()
        for path, name in re.findall(r'--8<-- "([^":]+):([^"]+)"', text):
            source = (REPO / path).read_text()
            assert f"--8<-- [start:{name}]" in source and f"--8<-- [end:{name}]" in source, (page.name, path, name)
        for image in re.findall(r"!\[[^\]]*\]\(([^)]+\.png)\)", text):
            assert (page.parent / image).resolve().exists(), (page.name, image)
