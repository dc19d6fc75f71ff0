"""Resolver runtimes: one package per AppSync resolver runtime, found through `RUNTIMES`.

A runtime package defines `create(modules, settings) -> ResolverRuntime` (evaluate one handler
of one module against a plain-JSON `ctx`), `check(modules)` (load errors with file and line,
for `validate`) and `deploy_warnings(modules)` (what AppSync would refuse at deploy time). A
module is the code of one resolver or pipeline function, keyed by `module_id`: a `Code` for
APPSYNC_JS, a `MappingTemplates` pair for VTL. A runtime missing from `RUNTIMES` is reported by
`validate` and the banner, and its fields answer `NotEmulated`.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING

from ..support import Gap, GapKind

if TYPE_CHECKING:
    from ..config.model import Code, ConfigError, GraphQLApi, Resolver
    from ..settings import Settings
    from .base import ResolverRuntime

#: AppSync resolver runtime name → the package (in this package) that runs it.
RUNTIMES = {"APPSYNC_JS": "js", "VTL": "vtl"}


@dataclass(frozen=True)
class MappingTemplates:
    """A VTL module: the request and response mapping templates of one resolver or pipeline function.

    `direct_lambda` ("Invoke" or "BatchInvoke") marks a UNIT resolver on a Lambda data source,
    whose missing request template AppSync replaces with the direct Lambda event.
    """

    request: Code | None
    response: Code | None
    direct_lambda: str | None = None


def module_id(kind: str, name: str) -> str:
    """The id of a resolver's (`kind` "resolver", name `Type.field`) or a pipeline function's code."""
    return f"{kind}:{name}"


def _package(runtime: str) -> ModuleType:
    return importlib.import_module(f".{RUNTIMES[runtime]}", __package__)


def modules_of(api: GraphQLApi) -> dict[str, dict[str, Code | MappingTemplates]]:
    """The code of every resolver and pipeline function, by runtime, then by module id."""
    found: dict[str, dict[str, Code | MappingTemplates]] = {name: {} for name in RUNTIMES}
    for r in api.resolvers:
        mid = module_id("resolver", f"{r.type_name}.{r.field_name}")
        if r.runtime == "VTL" and "VTL" in found and not is_pass_through(r):
            source = api.data_sources.get(r.data_source) if r.data_source else None
            lambda_op = None
            if r.kind == "UNIT" and source is not None and source.type == "AWS_LAMBDA":
                lambda_op = "BatchInvoke" if r.max_batch_size > 0 else "Invoke"
            found["VTL"][mid] = MappingTemplates(r.request_template, r.response_template, lambda_op)
        elif r.code is not None and r.runtime in found:
            found[r.runtime][mid] = r.code
    for fn in api.functions.values():
        mid = module_id("function", fn.name)
        if fn.runtime == "VTL" and "VTL" in found:
            found["VTL"][mid] = MappingTemplates(fn.request_template, fn.response_template)
        elif fn.code is not None and fn.runtime in found:
            found[fn.runtime][mid] = fn.code
    return found


def is_pass_through(resolver: Resolver) -> bool:
    """A pipeline resolver with no code and no mapping templates: it runs its functions, nothing else."""
    return resolver.kind == "PIPELINE" and not (
        resolver.code or resolver.request_template or resolver.response_template
    )


def resolver_runtime_gaps(api: GraphQLApi) -> list[Gap]:
    """The resolvers and pipeline functions written for a runtime the emulator does not run."""
    gaps = [
        Gap(GapKind.RESOLVER_RUNTIME, r.runtime, f"resolver {r.type_name}.{r.field_name}", r.origin)
        for r in api.resolvers
        if r.runtime is not None and r.runtime not in RUNTIMES and not is_pass_through(r)
    ]
    gaps += [
        Gap(GapKind.RESOLVER_RUNTIME, fn.runtime, f"pipeline function {fn.name}", fn.origin)
        for fn in api.functions.values()
        if fn.runtime not in RUNTIMES
    ]
    return gaps


def build_runtimes(api: GraphQLApi, settings: Settings) -> dict[str, ResolverRuntime]:
    """A started runtime for each resolver runtime the API's code uses."""
    return {name: _package(name).create(modules, settings) for name, modules in modules_of(api).items() if modules}


def check(api: GraphQLApi) -> tuple[list[ConfigError], list[ConfigError]]:
    """(load errors, deploy-time warnings) of all the API's resolver code, with file and line."""
    errors: list[ConfigError] = []
    warnings: list[ConfigError] = []
    for name, modules in modules_of(api).items():
        if modules:
            package = _package(name)
            errors += package.check(modules)
            warnings += package.deploy_warnings(modules)
    return errors, warnings
