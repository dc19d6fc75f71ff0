"""What a pip user gets: the licence, and the examples `appsync-emu init` copies."""

from __future__ import annotations

import tomllib

from appsync_emu.examples import EXAMPLES, example_names
from tests.conftest import ROOT

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_the_declared_licence_is_an_spdx_expression_and_its_text_ships() -> None:
    project = PYPROJECT["project"]
    assert project["license"] == "Apache-2.0"
    assert project["license-files"] == ["LICENSE"]
    assert (ROOT / "LICENSE").read_text().lstrip().startswith("Apache License\n                           Version 2.0")


def test_the_package_ships_the_top_level_examples() -> None:
    assert EXAMPLES.resolve() == (ROOT / "examples").resolve()
    assert example_names() == ["cognito-notes", "genai-chat", "quickstart", "quickstart-vtl", "todos"]
    assert "examples/**/*" in PYPROJECT["tool"]["setuptools"]["package-data"]["appsync_emu"]
