"""The APPSYNC_JS runtime: resolver modules run in quickjs-ng with an `@aws-appsync/utils` prelude."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING

from .runtime import JS_RUNTIME_ERROR_TYPE, JsRuntime, check_modules

if TYPE_CHECKING:
    from ...config.model import Code, ConfigError
    from ...settings import Settings

__all__ = ["JS_RUNTIME_ERROR_TYPE", "JsRuntime", "check", "check_modules", "create", "deploy_warnings"]

_log = logging.getLogger("appsync_emu.resolver")


def create(modules: Mapping[str, Code], settings: Settings) -> JsRuntime:
    """The runtime serving `modules`; code that does not load answers its calls with a `Code` error."""
    return JsRuntime(
        modules,
        cpu_limit_s=settings.js_cpu_limit_s,
        memory_limit=settings.js_memory_limit,
        workers=settings.js_workers,
        inline_budget_s=settings.js_inline_budget_s,
        log=lambda where, line: _log.info("[%s] %s", where, line),
        defer_load_errors=True,
    )


def check(modules: Mapping[str, Code]) -> list[ConfigError]:
    """Every syntax and load error, with file and line."""
    return check_modules(modules)


def deploy_warnings(modules: Mapping[str, Code]) -> list[ConfigError]:
    """Code quickjs runs but AppSync refuses at deploy time (warnings; imported only by `validate`)."""
    from .lint import lint_modules

    return lint_modules(modules)
