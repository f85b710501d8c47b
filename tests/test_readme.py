"""The README's example runs, and CI runs the README's test command."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def test_python_blocks_run():
    blocks = re.findall(r"```python\n(.*?)```", README, flags=re.S)
    assert blocks, "the README has no python example"
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {"__name__": "readme"})


def test_exactly_two_setup_commands_and_ci_runs_the_test_command():
    commands = re.findall(
        r"```bash\n(.*?)```", README.split("## Set up and run")[1].split("##")[0], flags=re.S
    )
    assert len(commands) == 2
    for command in commands:
        assert "pip install torch==2.13.0" in command
    test_command = commands[1].strip().split("&&")[-1].strip()
    ci = (ROOT / ".ci" / "run").read_text()
    assert test_command in ci.splitlines()
