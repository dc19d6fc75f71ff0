"""Data sources: one small module per AppSync data source type, found through `MODULES`.

Adding a type is adding a module here that defines `create(source, services) -> DataSource`
(and, when some sources of the type cannot run, `not_emulated(source, project) -> str | None`),
then one line in `MODULES`. The engine and the resolver runtimes only ever call
`DataSource.invoke`; they know no concrete type. A type missing from `MODULES` is reported by
`validate` and the banner, and its data sources answer every call with `NotEmulated`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from ..support import Gap, GapKind
from .base import DataSource, NotEmulatedDataSource

if TYPE_CHECKING:
    from ..config.model import DataSource as DataSourceModel
    from ..config.model import GraphQLApi, Project
    from ..services import Services

#: AppSync data source type → the module (in this package) that runs it. Imported on first use.
MODULES = {
    "NONE": "none",
    "AWS_LAMBDA": "lambda_",
    "AMAZON_BEDROCK_RUNTIME": "bedrock",
    "HTTP": "http",
    "AMAZON_DYNAMODB": "dynamodb",
}


def not_emulated(source: DataSourceModel, project: Project) -> str | None:
    """Why the emulator cannot run this data source (None when it can)."""
    module_name = MODULES.get(source.type)
    if module_name is None:
        return source.type
    module = importlib.import_module(f".{module_name}", __package__)
    check = getattr(module, "not_emulated", None)
    reason: str | None = check(source, project) if check is not None else None
    return reason


def data_source_gaps(api: GraphQLApi, project: Project) -> list[Gap]:
    """The API's data sources that cannot run here."""
    gaps = []
    for source in api.data_sources.values():
        reason = not_emulated(source, project)
        if reason is not None:
            gaps.append(Gap(GapKind.DATA_SOURCE, reason, f"data source {source.name}", source.origin))
    return gaps


def build_data_sources(api: GraphQLApi, project: Project, services: Services) -> dict[str, DataSource]:
    """One runnable data source per data source of the API, by name."""
    built: dict[str, DataSource] = {}
    for name, source in api.data_sources.items():
        reason = not_emulated(source, project)
        if reason is not None:
            gap = Gap(GapKind.DATA_SOURCE, reason, f"data source {name}", source.origin)
            built[name] = NotEmulatedDataSource(gap.message)
            continue
        module = importlib.import_module(f".{MODULES[source.type]}", __package__)
        built[name] = module.create(source, services)
    return built
