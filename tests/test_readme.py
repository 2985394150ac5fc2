"""The README's example runs as printed, and its two set-up commands are where CI finds them."""

import re

from conftest import REPO


def test_readme_example_runs(tmp_path, monkeypatch):
    text = (REPO / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert blocks, "README.md has no python example"
    monkeypatch.chdir(tmp_path)
    exec(compile(blocks[0], "README.md", "exec"), {})
    assert (tmp_path / "neuron.png").stat().st_size > 5000


def test_readme_starts_with_the_two_commands():
    lines = [l for l in (REPO / "README.md").read_text().splitlines() if l.startswith("pip install")]
    assert len(lines) >= 2
    assert lines[0].endswith("spikax demo")
    assert "[test]" in lines[1] and "pytest" in lines[1]
    ci = (REPO / ".ci" / "run").read_text()
    assert "pytest" in ci and "README.md" in ci
