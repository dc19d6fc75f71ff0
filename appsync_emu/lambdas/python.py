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
    """The handler's module must exist in the code folder (Lambda fails with Runtime.ImportModuleError)
    and compile (Runtime.UserCodeSyntaxError): a hot reload keeps the last good version instead."""
    module, _, name = function.handler.rpartition(".")
    if not module or not name:
        return f"Handler {function.handler!r} must be <module>.<function>"
    relative = Path(*module.replace("/", ".").split("."))
    code_dir = function.code_dir
    for candidate in (code_dir / relative.with_suffix(".py"), code_dir / relative / "__init__.py"):
        if candidate.is_file():
            return _syntax_error(candidate, module)
    return f"Handler {function.handler!r}: no module {relative}.py in {code_dir}"


def _syntax_error(path: Path, module: str) -> str | None:
    """Lambda's words for a handler module that does not compile, or None."""
    try:
        compile(path.read_bytes(), str(path), "exec", dont_inherit=True)
    except SyntaxError as err:
        return f"Syntax error in module '{module}': {err.msg} ({path}, line {err.lineno})"
    except (OSError, ValueError) as err:  # unreadable, or a NUL byte
        return f"Handler module {path} cannot be read: {err}"
    return None


def note(function: LambdaFunction) -> str | None:
    """Functions run on the emulator's Python, whatever version the template declares."""
    running = f"python{sys.version_info.major}.{sys.version_info.minor}"
    if function.runtime == running:
        return None
    return f"{function.function_name}: declares {function.runtime}, runs on the emulator's {running}"


RUNTIME = FunctionRuntime("python", "python", command, check, note)
