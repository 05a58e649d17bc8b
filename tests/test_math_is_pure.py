"""The math modules import numpy and the standard library only, never Django
(docs/architecture.md)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MATH_MODULES = (
    "forecasts.pooling",
    "forecasts.trend",
    "forecasts.history",
    "forecasts.distributions",
    "forecasts.import_typed",
    "forecasts.vector_pooling",
    "scoring.rules",
    "scoring.calibration",
    "scoring.rules_types",
    "scoring.calibration_types",
    "trading.lmsr",
)


def test_math_modules_import_without_django() -> None:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    code = (
        f"import {', '.join(MATH_MODULES)}, sys; "
        "assert 'django' not in sys.modules, sorted(m for m in sys.modules if 'django' in m)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
