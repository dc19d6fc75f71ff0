"""Public AppSync templates, unchanged (tests/fixtures/public): what `validate` says about each.

Every part they use that the emulator does not run is named, once, with its file and line; what
it does run loads without a complaint. The expectations are exact so that a regression (a
silent gap, a follow-on message, a traceback) shows up here.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from appsync_emu.validate import Report, check
from tests.conftest import FIXTURES

PUBLIC = FIXTURES / "public"


def validate(tmp_path: Path, name: str) -> Report:
    shutil.copytree(PUBLIC / name, tmp_path / name)  # serving writes inline code next to the template
    return check(tmp_path / name)


@pytest.mark.parametrize(
    ("name", "gaps"),
    [
        ("sp-appsync-dynamodb-singletable-js-resolver", []),
        ("sp-appsync-dynamodb", []),  # four VTL resolvers on DynamoDB
        ("sp-appsync-bedrock", []),  # its HTTP data source calls Bedrock Runtime, which the emulator serves
        ("sp-appsync-ws-lambda-bedrock-sam", []),
        ("sam-graphqlapi_lambda_resolver", []),
        ("cdk-integ-log-retention", []),
        ("sam-graphqlapi-configuration", []),
    ],
)
def test_each_gap_is_named_once_and_nothing_else_is_wrong(tmp_path: Path, name: str, gaps: list[str]) -> None:
    report = validate(tmp_path, name)
    assert report.problems == [] and report.code_problems == []
    assert len(report.gaps) == len(gaps), report.gaps
    for gap, expected in zip(report.gaps, gaps, strict=True):
        assert expected in gap and gap.endswith("which is not emulated")
        assert gap.startswith(str(tmp_path / name)) and ":" in gap.split(" ")[0]


def test_a_typescript_function_built_with_esbuild_validates_before_any_build(tmp_path: Path) -> None:
    """Its `index.handler` exists only once `index.mts` is bundled; the entry point is what is checked."""
    report = validate(tmp_path, "sp-appsync-bedrock-streaming-sam")
    assert (report.problems, report.code_problems, report.gaps) == ([], [], [])


def test_cdks_log_retention_helper_does_not_block_the_api(tmp_path: Path) -> None:
    report = validate(tmp_path, "cdk-integ-log-retention")
    assert (report.problems, report.gaps) == ([], [])


def test_a_second_api_in_one_template_is_said_to_be_left_out(tmp_path: Path) -> None:
    report = validate(tmp_path, "sam-graphqlapi-configuration")
    (warning,) = [w for w in report.warnings if "second GraphQL API" in w]
    assert "API IntrospectionDisableSuperCoolAPI: a second GraphQL API in one template" in warning
    assert "(only SuperCoolAPI is served) is not emulated" in warning


def test_an_events_only_template_says_events_apis_are_not_emulated(tmp_path: Path) -> None:
    (problem,) = validate(tmp_path, "cdk-integ-eventapi-api-key-auth").problems
    assert (
        "it defines an AppSync Events API (EventApiApiKeyAuth4E07D412), which the emulator does not emulate" in problem
    )


def test_cognito_only_api_reports_its_schema_error_and_no_auth_gap(tmp_path: Path) -> None:
    report = validate(tmp_path, "samtr-graphqlapi_cognito_default_auth")
    (problem,) = report.problems
    assert "Unknown type 'Todo'" in problem
    assert report.gaps == []  # user pools are checked (auth/cognito.py)
