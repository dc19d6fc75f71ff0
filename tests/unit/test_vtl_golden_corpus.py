"""The VTL golden corpus is well formed: every case loads, has a source and a URL, and can be run later.

This checks the data only. The VTL runtime's own tests render the cases.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

GOLDEN = Path(__file__).resolve().parents[1] / "fixtures" / "vtl" / "golden"

FILES = [
    "util_core.yaml",
    "util_time.yaml",
    "util_dynamodb.yaml",
    "util_transform.yaml",
    "util_list_map_str_math.yaml",
    "util_xml_http.yaml",
    "context.yaml",
    "directives.yaml",
    "datasource_dynamodb.yaml",
    "datasource_lambda.yaml",
    "datasource_http.yaml",
    "datasource_none.yaml",
    "extensions.yaml",
]
SOURCES = {"aws-doc", "amplify-simulator", "research-note"}
MATCHES = {"exact", "json", "regex"}
CASE_KEYS = {"id", "source", "url", "template", "context", "runtime", "expect", "match", "notes"}
REQUIRED = {"id", "source", "url", "template", "context", "expect", "match"}
CONTEXT_KEYS = {"arguments", "source", "identity", "request", "info", "stash", "prev", "result", "error"}
RUNTIME_KEYS = {"now", "authMode", "templateVersion", "kind"}
AUTH_MODES = {"API_KEY", "AWS_IAM", "AMAZON_COGNITO_USER_POOLS", "OPENID_CONNECT", "AWS_LAMBDA"}
EFFECTS = {
    "logs",
    "responseHeaders",
    "subscriptionFilter",
    "subscriptionInvalidationFilter",
    "invalidateSubscriptions",
    "evictFromApiCache",
}
ERROR_KEYS = {"type", "message", "data", "errorInfo"}
ID = re.compile(r"[A-Za-z0-9_.-]+")


def _load(name: str) -> dict[str, Any]:
    data = yaml.safe_load((GOLDEN / name).read_text(encoding="utf-8"))
    assert isinstance(data, dict), name
    return data


def _all_cases() -> list[tuple[str, dict[str, Any]]]:
    return [(name, case) for name in FILES for case in _load(name)["cases"]]


def test_every_area_has_a_file_and_nothing_else_is_there() -> None:
    assert sorted(p.name for p in GOLDEN.glob("*.yaml")) == sorted(FILES)


@pytest.mark.parametrize("name", FILES)
def test_file_shape(name: str) -> None:
    data = _load(name)
    assert set(data) == {"title", "about", "cases"}
    assert isinstance(data["title"], str) and data["title"]
    assert isinstance(data["cases"], list) and data["cases"]


def test_ids_are_unique_across_the_corpus() -> None:
    counts = Counter(case["id"] for _, case in _all_cases())
    assert [i for i, n in counts.items() if n > 1] == []


def test_corpus_is_broad_enough() -> None:
    cases = _all_cases()
    assert len(cases) >= 250
    assert {case["source"] for _, case in cases} == SOURCES


def _check_error(where: str, err: Any) -> None:
    assert isinstance(err, dict), where
    assert {"type", "message"} <= set(err) <= ERROR_KEYS, where
    for key in ("type", "message"):
        assert err[key] is None or isinstance(err[key], str), where


def _check_case(name: str, case: dict[str, Any]) -> None:
    where = f"{name}:{case.get('id')}"
    assert REQUIRED <= set(case) <= CASE_KEYS, where
    assert isinstance(case["id"], str) and ID.fullmatch(case["id"]), where
    assert case["source"] in SOURCES, where
    url = case["url"]
    assert isinstance(url, str) and url.startswith(("https://", "file://")), where
    if case["source"] == "amplify-simulator":
        assert url.startswith("https://github.com/aws-amplify/"), where
    if case["source"] == "aws-doc":
        assert url.startswith("https://docs.aws.amazon.com/"), where
    assert isinstance(case["template"], str) and case["template"].strip(), where
    assert isinstance(case["context"], dict) and set(case["context"]) <= CONTEXT_KEYS, where
    if "notes" in case:
        assert isinstance(case["notes"], str) and case["notes"], where

    runtime = case.get("runtime", {})
    assert isinstance(runtime, dict) and set(runtime) <= RUNTIME_KEYS, where
    if "now" in runtime:
        dt.datetime.fromisoformat(runtime["now"].replace("Z", "+00:00"))
    if "authMode" in runtime:
        assert runtime["authMode"] in AUTH_MODES, where
    assert runtime.get("templateVersion", "2018-05-29") in {"2017-02-28", "2018-05-29"}, where
    assert runtime.get("kind", "request") in {"request", "response"}, where

    expect, match = case["expect"], case["match"]
    assert match in MATCHES, where
    assert isinstance(expect, dict), where
    outcomes = {"output", "json", "error"} & set(expect)
    assert len(outcomes) == 1, where
    assert set(expect) - outcomes <= {"errors", "effects"}, where
    if "error" in expect:
        assert match == "exact", where
        assert set(expect) == {"error"}, where
        _check_error(where, expect["error"])
    elif "json" in expect:
        assert match == "json", where
    else:
        assert isinstance(expect["output"], str), where
        assert match in {"exact", "regex"}, where
        if match == "regex":
            re.compile(expect["output"])
    for err in expect.get("errors", []):
        _check_error(where, err)
    effects = expect.get("effects", {})
    assert isinstance(effects, dict) and set(effects) <= EFFECTS, where


def test_every_case_is_well_formed() -> None:
    for name, case in _all_cases():
        _check_case(name, case)


def test_nondeterministic_helpers_use_regexes_or_a_frozen_clock() -> None:
    random = re.compile(r"\$util\.(autoId|autoUlid|autoKsuid|math\.random\w*|time\.now\w*)\(")
    for name, case in _all_cases():
        if not random.search(case["template"]):
            continue
        frozen = "now" in case.get("runtime", {})
        expect = case["expect"]
        # A yes/no about a random value (e.g. two ids differ) is deterministic.
        boolean = expect.get("output") in {"true", "false"}
        if not frozen and not boolean and "error" not in expect:
            assert case["match"] == "regex", f"{name}:{case['id']}"
