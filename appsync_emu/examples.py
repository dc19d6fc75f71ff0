"""The example apps that ship with the package, for `appsync-emu init` (pip users have no checkout)."""

from __future__ import annotations

import shutil
from pathlib import Path

#: The bundled examples (in the source tree, `appsync_emu/examples` links to the top-level `examples/`).
EXAMPLES = Path(__file__).resolve().parent / "examples"
_SKIP = shutil.ignore_patterns("__pycache__", "*.pyc", ".appsync-emu", "node_modules")


def example_names() -> list[str]:
    """The examples that have a template."""
    if not EXAMPLES.is_dir():
        return []
    return sorted(p.name for p in EXAMPLES.iterdir() if (p / "template.yaml").is_file())


def copy_example(name: str, dest: Path) -> None:
    """Copy example `name` into `dest`, which must not exist (`FileExistsError`)."""
    shutil.copytree(EXAMPLES / name, dest, ignore=_SKIP)
