"""The VTL runtime: mapping templates rendered by airspeed in AppSync's dialect (`engine.py`), with `$util`."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING

from .runtime import MAPPING_TEMPLATE_ERROR, VtlRuntime, check_modules, lint_modules

if TYPE_CHECKING:
    from ...config.model import ConfigError
    from ...settings import Settings
    from .. import MappingTemplates

__all__ = ["MAPPING_TEMPLATE_ERROR", "VtlRuntime", "check", "create", "deploy_warnings"]

_log = logging.getLogger("appsync_emu.resolver")


def create(modules: Mapping[str, MappingTemplates], settings: Settings) -> VtlRuntime:
    """The runtime serving `modules`, under the same CPU and memory limits as APPSYNC_JS handlers."""
    return VtlRuntime(
        modules,
        cpu_limit_s=settings.js_cpu_limit_s,
        memory_limit=settings.js_memory_limit,
        workers=settings.js_workers,
        inline_budget_s=settings.js_inline_budget_s,
        log=lambda where, line: _log.info("[%s] %s", where, line),
    )


def check(modules: Mapping[str, MappingTemplates]) -> list[ConfigError]:
    """Every template that does not parse, with file and line."""
    return check_modules(modules)


def deploy_warnings(modules: Mapping[str, MappingTemplates]) -> list[ConfigError]:
    """Templates the engine renders but AppSync refuses at deploy time."""
    return lint_modules(modules)
