"""Shared test helpers: paths to fixture apps and the examples."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
APPS = FIXTURES / "apps"
EXAMPLES = ROOT / "examples"

pytest_plugins = ["pytester"]
