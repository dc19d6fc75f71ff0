"""What the emulator runs and what it does not: the one place that says so, by name.

Each kind of part has its own registry: data source types (`datasources`), resolver runtimes
(`runtimes`), function runtimes (`lambdas.runtimes`) and auth modes (`auth.modes`). `find_gaps`
asks all of them about one project, so `validate`, `serve`'s banner and `--strict` report the
same list. At request time a part that does not run raises `NotEmulatedError`, which becomes an
error with `errorType: "NotEmulated"` in the response and a WARNING line in the log: never a
silent `null`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum

from .config.model import Origin, Project

#: `errorType` of every error about something the emulator does not run.
NOT_EMULATED = "NotEmulated"


class NotEmulatedError(Exception):
    """Raised when a request reaches a part the emulator does not run; the message names it."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class GapKind(str, Enum):
    """The kinds of parts that plug into one registry each."""

    DATA_SOURCE = "data source type"
    RESOLVER_RUNTIME = "resolver runtime"
    FUNCTION_RUNTIME = "function runtime"
    AUTH_MODE = "auth mode"
    AWS_SERVICE = "AWS service"  # an HTTP data source's AWS endpoint that is neither served nor mapped
    FEATURE = "feature"


@dataclass(frozen=True)
class Gap:
    """One part of the template the emulator does not run.

    `blocking` gaps (a data source type, a resolver or function runtime, an auth mode) are
    `validate` errors and make `serve --strict` refuse to start; features (caching, an Events
    API…) are warnings: the API runs, without them.
    """

    kind: GapKind
    name: str  # what is not emulated: AMAZON_DYNAMODB, VTL, nodejs20.x, AMAZON_COGNITO_USER_POOLS…
    subject: str  # where it is used: "data source Todos", "resolver Query.getTodo"…
    origin: Origin | None
    blocking: bool = True

    @property
    def message(self) -> str:
        if self.kind is GapKind.FEATURE:
            return f"{self.subject}: {self.name} is not emulated"
        return f"{self.subject} uses {self.kind.value} {self.name}, which is not emulated"

    def __str__(self) -> str:
        return f"{self.origin}: {self.message}" if self.origin else self.message


def find_gaps(project: Project, endpoint_overrides: Mapping[str, str] | None = None) -> list[Gap]:
    """Every part of the served API that the emulator does not run, in template order.

    `endpoint_overrides` (`--endpoint-override`, AWS host → local URL) count as served.
    """
    from .auth.lambda_ import authorizer_gaps
    from .auth.modes import auth_gaps
    from .datasources import data_source_gaps
    from .datasources.http import endpoint_gaps
    from .lambdas.runtimes import function_runtime_gaps
    from .runtimes import resolver_runtime_gaps

    api = project.api
    gaps = [
        *auth_gaps(api),
        *authorizer_gaps(project),
        *data_source_gaps(api, project),
        *endpoint_gaps(api, endpoint_overrides or {}),
        *resolver_runtime_gaps(api),
        *function_runtime_gaps(project),
        *feature_gaps(project),
    ]
    return sorted(gaps, key=lambda g: (str(g.origin.file) if g.origin else "", (g.origin.line or 0) if g.origin else 0))


def feature_gaps(project: Project) -> list[Gap]:
    """AppSync features the template turns on that the emulator leaves out (warnings)."""
    return [Gap(GapKind.FEATURE, s.feature, s.subject, s.origin, blocking=False) for s in project.skipped]
