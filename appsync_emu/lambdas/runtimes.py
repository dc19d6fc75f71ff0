"""Function runtimes: how a worker of each Lambda runtime family starts, and what to check first.

A runtime is one small module (`python.py` today) that defines `RUNTIME`, a `FunctionRuntime`;
adding a family is adding its module and one entry in `RUNTIMES`. Every worker speaks the same
protocol (`protocol.py`) whatever its language. A function whose `Runtime` no entry matches
(or a container image) is reported by `validate` and the banner, and its data sources answer
`NotEmulated`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

from ..config.model import LambdaFunction, Project
from ..support import Gap, GapKind


@dataclass(frozen=True)
class FunctionRuntime:
    """One runtime family: which `Runtime` values it serves and how its workers start."""

    family: str
    prefix: str  # `Runtime` values starting with this (python3.12 …)
    command: Callable[[LambdaFunction], list[str]]  # a worker's argv; the protocol socket's fd is appended
    check: Callable[[LambdaFunction], str | None]  # a problem with the code, found before it runs
    note: Callable[[LambdaFunction], str | None]  # a warning worth one log line (version mismatch)


@functools.cache
def runtimes() -> tuple[FunctionRuntime, ...]:
    """Every runtime family the emulator runs (each module imported on first use)."""
    from . import node, python

    return (python.RUNTIME, node.RUNTIME)


def runtime_for(function: LambdaFunction) -> FunctionRuntime | None:
    """The runtime that runs `function`, or None when the emulator has none for it."""
    return next((r for r in runtimes() if function.runtime.startswith(r.prefix)), None)


def function_runtime_gaps(project: Project) -> list[Gap]:
    """The template's functions (those the API uses) in a runtime the emulator does not run."""
    return [
        Gap(GapKind.FUNCTION_RUNTIME, fn.runtime, f"function {fn.function_name}", fn.origin)
        for fn in project.functions.values()
        if runtime_for(fn) is None
    ]


def code_problems(project: Project) -> list[str]:
    """What each runnable function's runtime finds wrong with its code (a missing handler module…)."""
    problems = []
    for fn in project.functions.values():
        runtime = runtime_for(fn)
        problem = runtime.check(fn) if runtime is not None else None
        if problem is not None:
            problems.append(f"{fn.origin}: {problem}")
    return problems
