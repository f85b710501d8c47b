"""examples/quickstart_digits.py trains and reports finite losses and a sane accuracy."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "examples" / "quickstart_digits.py"


def test_quickstart_trains_a_few_steps(capsys):
    spec = importlib.util.spec_from_file_location("quickstart_digits", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    logs = module.train(steps=3, batch_size=16)
    assert set(logs) == {"instance", "kl", "accuracy", "gan_g", "gan_d"}
    assert all(math.isfinite(v) for v in logs.values())
    assert 0.0 <= logs["accuracy"] <= 1.0
    assert "step     3" in capsys.readouterr().out
