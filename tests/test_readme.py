"""The README's example runs as printed, and its two set-up commands are where CI finds them."""

import re

import pytest

from conftest import REPO


_BLOCKS = re.findall(r"```python\n(.*?)```", (REPO / "README.md").read_text(), re.S)


def test_readme_has_its_examples():
    assert len(_BLOCKS) >= 4, "README.md lost its python examples"


# One test per block (each imports what it uses), so the workers share them out.
@pytest.mark.parametrize("index", range(len(_BLOCKS)))
def test_readme_example_runs(index, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    exec(compile(_BLOCKS[index], f"README.md, python block {index}", "exec"), {})
    if index == 0:
        assert (tmp_path / "neuron.png").stat().st_size > 5000


def test_readme_starts_with_the_two_commands():
    lines = [l for l in (REPO / "README.md").read_text().splitlines() if l.startswith("pip install")]
    assert len(lines) >= 2
    assert lines[0].endswith("spikax demo")
    assert "[test]" in lines[1] and "pytest" in lines[1]
    ci = (REPO / ".ci" / "run").read_text()
    assert "pytest" in ci and "README.md" in ci
