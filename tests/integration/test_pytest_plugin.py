"""The pytest fixtures other projects use: every scope, paths from the pytest root, `call()` results."""

from __future__ import annotations

import re
import shutil

import pytest

from appsync_emu.pytest_plugin import EmulatorHandle
from tests.conftest import EXAMPLES, ROOT

CONFTEST = """
import pytest


@pytest.fixture(scope="session")
def shared(appsync_emu_session):
    return appsync_emu_session("infra")


@pytest.fixture(scope="module")
def per_module(appsync_emu_module):
    return appsync_emu_module("infra/template.yaml")
"""

TESTS = """
import httpx

SEEN = set()


def ask(api):
    r = httpx.post(api.graphql_url, json={"query": '{ hello(name: "fx") }'}, headers={"x-api-key": api.api_key})
    return r.json()


def test_one(shared, per_module, appsync_emu):
    own = appsync_emu("infra")
    for api in (shared, per_module, own):
        assert ask(api) == {"data": {"hello": "Hello, fx!"}}
    SEEN.add(shared.graphql_url)


def test_two(shared):
    SEEN.add(shared.graphql_url)
    assert len(SEEN) == 1  # one session-scoped server for both tests
"""


def test_module_and_session_scoped_fixtures_read_templates_from_the_pytest_root(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copytree(EXAMPLES / "quickstart", pytester.path / "infra")
    pytester.makeini("[pytest]\n")  # makes pytester.path the rootdir
    pytester.makeconftest(CONFTEST)
    test_file = pytester.makepyfile(test_api=TESTS)
    elsewhere = pytester.mkdir("somewhere-else")
    monkeypatch.chdir(elsewhere)
    result = pytester.runpytest_subprocess(str(test_file), "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


def test_call_runs_on_the_servers_loop_and_returns_or_raises(core_api: EmulatorHandle) -> None:
    assert core_api.call(lambda: core_api.emulator.pubsub.count() + 42) >= 42
    with pytest.raises(ZeroDivisionError):
        core_api.call(lambda: 1 / 0)


def test_the_readmes_fixture_example_runs_as_written(pytester: pytest.Pytester) -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## In other projects' test suites", 1)[1]
    example = section.split("```python\n", 1)[1].split("```", 1)[0]
    shutil.copytree(EXAMPLES / "quickstart", pytester.path / "infra")
    pytester.makeini("[pytest]\n")
    result = pytester.runpytest_subprocess(str(pytester.makepyfile(test_readme=example)), "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


def test_the_readmes_links_work_on_pypi() -> None:
    """PyPI shows the README without the repository around it: only absolute links resolve there."""
    links = re.findall(r"\]\(([^)]+)\)", (ROOT / "README.md").read_text())
    assert all(link.startswith(("http://", "https://")) for link in links), links
