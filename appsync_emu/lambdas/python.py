"""The Python runtime family: workers run `worker.py` on the emulator's own interpreter."""

from __future__ import annotations

import sys
from pathlib import Path

from ..config.model import LambdaFunction
from .runtimes import FunctionRuntime

_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])
_BOOTSTRAP = "import sys;sys.path.append(sys.argv.pop(1));from appsync_emu.lambdas.worker import main;main()"


def command(function: LambdaFunction) -> list[str]:
    """`python -u -c <bootstrap> <package root>`: the worker imports this package, then the handler."""
    return [sys.executable, "-u", "-c", _BOOTSTRAP, _PACKAGE_ROOT]


def check(function: LambdaFunction) -> str | None:
    """The handler's module must exist in the code folder (Lambda fails with Runtime.ImportModuleError)."""
    module, _, name = function.handler.rpartition(".")
    if not module or not name:
        return f"Handler {function.handler!r} must be <module>.<function>"
    relative = Path(*module.replace("/", ".").split("."))
    code_dir = function.code_dir
    if (code_dir / relative.with_suffix(".py")).is_file() or (code_dir / relative / "__init__.py").is_file():
        return None
    return f"Handler {function.handler!r}: no module {relative}.py in {code_dir}"


def note(function: LambdaFunction) -> str | None:
    """Functions run on the emulator's Python, whatever version the template declares."""
    running = f"python{sys.version_info.major}.{sys.version_info.minor}"
    if function.runtime == running:
        return None
    return f"{function.function_name}: declares {function.runtime}, runs on the emulator's {running}"


RUNTIME = FunctionRuntime("python", "python", command, check, note)
