"""`appsync-emu validate`: load everything a server would load and report every problem.

Each stage that can still run after an earlier one failed does run, so a single pass
lists the template's, the schema's and every resolver module's problems together.
"""

from __future__ import annotations

from pathlib import Path

from .app import build_plans, collect_modules
from .config.model import ConfigError, ConfigErrors, LocalEndpoints
from .datasources.base import DataSource
from .datasources.none import NoneDataSource


def validate_template(path: Path, parameter_overrides: dict[str, str] | None = None) -> tuple[list[str], list[str]]:
    """(problems, warnings) as printable lines with file and line."""
    from .config.loader import load_project
    from .runtimes.js.lint import lint_modules
    from .runtimes.js.runtime import check_modules
    from .schema import build_appsync_schema

    problems: list[ConfigError] = []
    warnings: list[str] = []
    try:
        project = load_project(path, LocalEndpoints("127.0.0.1", 4000), parameter_overrides=parameter_overrides)
    except ConfigErrors as errs:
        if errs.partial is None:
            return [str(e) for e in errs.errors], warnings
        problems.extend(errs.errors)
        project = errs.partial
    warnings.extend(str(w) for w in project.warnings)
    if not project.apis:
        return [
            "the template defines no AppSync GraphQL API (AWS::AppSync::GraphQLApi or AWS::Serverless::GraphQLApi)"
        ], []
    for api in project.apis:
        try:
            build_appsync_schema(api.schema_sdl, api.schema_origin)
        except ConfigErrors as errs:
            problems.extend(errs.errors)
        except ConfigError as err:
            problems.append(err)
        modules = collect_modules(api)
        problems.extend(check_modules(modules))
        warnings.extend(str(w) for w in lint_modules(modules))
        stub: dict[str, DataSource] = {"NONE": NoneDataSource()}
        stub.update({name: NoneDataSource() for name in api.data_sources})
        _plans, plan_problems = build_plans(api, stub)
        problems.extend(plan_problems)
    return [str(p) for p in problems], warnings
