"""The README's example runs as printed, and its two set-up commands are where CI finds them."""

import re

from conftest import REPO


def test_readme_examples_run(tmp_path, monkeypatch):
    text = (REPO / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert len(blocks) >= 2, "README.md lost its python examples"
    monkeypatch.chdir(tmp_path)
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {})
    assert (tmp_path / "neuron.png").stat().st_size > 5000


def test_readme_starts_with_the_two_commands():
    lines = [l for l in (REPO / "README.md").read_text().splitlines() if l.startswith("pip install")]
    assert len(lines) >= 2
    assert lines[0].endswith("spikax demo")
    assert "[test]" in lines[1] and "pytest" in lines[1]
    ci = (REPO / ".ci" / "run").read_text()
    assert "pytest" in ci and "README.md" in ci
