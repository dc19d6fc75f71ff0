"""`appsync-emu validate`: load everything a server would load and report every problem.

Each stage that can still run after an earlier one failed does run, so a single pass lists
the template's, the schema's and every resolver module's and function's problems together,
and everything the template uses that the emulator does not run (`support.find_gaps`).
`serve` prints the same messages when it cannot start.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .config.model import ConfigError, ConfigErrors, LocalEndpoints


@dataclass
class Report:
    """What `validate` found, as printable lines with file and line.

    `problems` stop `serve` (template and schema); `code_problems` (resolver code or a function
    handler that does not load) and `gaps` (not emulated) do not: those fields answer with an
    error instead. `validate` fails on any of the three.
    """

    problems: list[str] = field(default_factory=list)
    code_problems: list[str] = field(default_factory=list)
    gaps: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def check(
    path: Path,
    parameter_overrides: dict[str, str] | None = None,
    endpoint_overrides: dict[str, str] | None = None,
    dynamodb_endpoint: str | None = None,
) -> Report:
    """Every problem, gap and warning of the template at `path` (`endpoint_overrides`: AWS host → local URL).

    Without `dynamodb_endpoint`, a template with DynamoDB needs node for the embedded engine:
    its absence is a problem (as `serve` refuses to start), though nothing is started here.
    """
    from . import runtimes
    from .config.loader import load_project
    from .lambdas.node import find_node
    from .lambdas.runtimes import code_problems
    from .schema import build_appsync_schema
    from .services import uses_dynamodb
    from .support import find_gaps

    report = Report()
    try:
        project = load_project(path, LocalEndpoints("127.0.0.1", 4000), parameter_overrides=parameter_overrides)
    except ConfigErrors as errs:
        report.problems += [str(e) for e in errs.errors]
        if errs.partial is None:
            return report
        project = errs.partial
    report.warnings += project.warnings
    if not project.apis:
        return report
    for api in project.apis:
        try:
            build_appsync_schema(api.schema_sdl, api.schema_origin)
        except ConfigErrors as errs:
            report.problems += [str(e) for e in errs.errors]
        except ConfigError as err:
            report.problems.append(str(err))
        errors, lint = runtimes.check(api)
        report.code_problems += [str(e) for e in errors]
        report.warnings += [str(w) for w in lint]
    report.code_problems += code_problems(project)
    if dynamodb_endpoint is None and uses_dynamodb(project):
        node = find_node()
        if node.problem:
            report.problems.append(
                f"{project.template_path}: the template's DynamoDB runs in the embedded engine, which needs "
                f"Node.js: {node.problem} (or use --dynamodb-endpoint)"
            )
    for gap in find_gaps(project, endpoint_overrides):
        (report.gaps if gap.blocking else report.warnings).append(str(gap))
    return report
