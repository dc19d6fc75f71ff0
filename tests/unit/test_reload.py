"""The sans-I/O half of hot reload: which files belong to which part, one reload at a time, what restarts."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from graphql import parse

from appsync_emu.config.loader import load_project
from appsync_emu.config.model import LambdaFunction, LocalEndpoints, Origin, Project
from appsync_emu.pubsub.registry import PubSub, SubscriptionSpec
from appsync_emu.reload import (
    MAPPING_TEMPLATE,
    RESOLVER_CODE,
    SCHEMA,
    TEMPLATE,
    ReloadGate,
    WatchMap,
    functions_to_restart,
    restart_notes,
    still_valid,
)
from appsync_emu.schema import build_appsync_schema
from appsync_emu.settings import Settings
from tests.conftest import APPS, ROOT

APP = (APPS / "reload").resolve()


@pytest.fixture(scope="module")
def project() -> Project:
    return load_project(APP, LocalEndpoints("127.0.0.1", 4000))


@pytest.fixture(scope="module")
def watch_map(project: Project) -> WatchMap:
    return WatchMap.of(project, Settings(data_dir=APP / "data", failure_log=APP / "failures.jsonl"))


def test_the_map_knows_each_part_of_the_project(watch_map: WatchMap) -> None:
    assert watch_map.roots == (APP,)
    assert watch_map.files[APP / "template.yaml"] == TEMPLATE
    assert watch_map.files[APP / "schema.graphql"] == SCHEMA
    assert watch_map.files[APP / "resolvers" / "js.js"] == RESOLVER_CODE
    assert watch_map.files[APP / "resolvers" / "vtl.req.vtl"] == MAPPING_TEMPLATE
    assert watch_map.functions == {APP / "functions" / "py": "PyFunction"}


@pytest.mark.parametrize(
    ("path", "parts", "functions"),
    [
        ("template.yaml", (TEMPLATE,), set()),
        ("schema.graphql", (SCHEMA,), set()),
        ("resolvers/js.js", (RESOLVER_CODE,), set()),
        ("resolvers/vtl.req.vtl", (MAPPING_TEMPLATE,), set()),
        ("functions/py/app.py", ("function PyFunction",), {"PyFunction"}),
        ("functions/py/lib/new_module.py", ("function PyFunction",), {"PyFunction"}),
        ("functions/py/requirements.txt", ("function PyFunction",), {"PyFunction"}),
        ("nested/child.yaml", (TEMPLATE,), set()),  # a nested stack's template, or a CDK assembly's
        ("manifest.json", (TEMPLATE,), set()),
        ("README.md", (), set()),
        ("resolvers/unused.js", (), set()),  # not the project's until the template names it
        ("resolvers/js.js.swp", (), set()),
        ("resolvers/.#js.js", (), set()),
        ("resolvers/js.js~", (), set()),
        ("functions/py/__pycache__/app.cpython-311.pyc", (), set()),
        ("functions/py/__pycache__", (), set()),  # created by the worker's first import: no restart loop
        ("functions/py/node_modules", (), set()),
        ("functions/py/node_modules/x/package.json", (), set()),
        (".appsync-emu/build/PyFunction/app.py", (), set()),  # the emulator's own output
        (".appsync-emu/async-invocations.sqlite3", (), set()),
        (".git/index.json", (), set()),
        ("data/dynamodb/000005.log", (), set()),  # --data-dir
        ("failures.jsonl", (), set()),  # --failure-log
    ],
)
def test_classify(watch_map: WatchMap, path: str, parts: tuple[str, ...], functions: set[str]) -> None:
    change = watch_map.classify([APP / path])
    assert change.parts == parts
    assert change.functions == functions
    assert bool(change) is bool(parts)


def test_a_batch_names_every_part_once(watch_map: WatchMap) -> None:
    change = watch_map.classify([APP / "resolvers/js.js", APP / "template.yaml", APP / "resolvers/js.js", APP / "x.md"])
    assert change.parts == (RESOLVER_CODE, TEMPLATE)


def test_after_a_refused_reload_any_file_of_the_project_counts(watch_map: WatchMap) -> None:
    """The fix of a template that names a missing file is creating that file, which the map does not know."""
    assert not watch_map.classify([APP / "resolvers/new.js"])
    assert watch_map.classify([APP / "resolvers/new.js"], after_failure=True).parts == ("files",)
    assert not watch_map.classify([APP / "resolvers/new.js~"], after_failure=True)
    assert not watch_map.classify([APP / ".appsync-emu/x.js"], after_failure=True)


def test_files_outside_the_template_folder_are_watched_where_they_are(tmp_path: Path) -> None:
    app, shared = tmp_path / "app", tmp_path / "shared"
    app.mkdir()
    shared.mkdir()
    (shared / "schema.graphql").write_text("type Query { a: String }\n")
    (app / "template.yaml").write_text(
        (APP / "template.yaml")
        .read_text()
        .replace("DefinitionS3Location: schema.graphql", "DefinitionS3Location: ../shared/schema.graphql")
        .replace("CodeS3Location: resolvers/js.js", "Code: 'export function request(){} export function response(){}'")
        .replace("RequestMappingTemplateS3Location: resolvers/vtl.req.vtl", "RequestMappingTemplate: '{}'")
        .replace("CodeUri: functions/py/", f"CodeUri: {APP / 'functions/py'}")
    )
    project = load_project(app, LocalEndpoints("127.0.0.1", 4000))
    watch_map = WatchMap.of(project)
    assert set(watch_map.roots) == {app, shared, APP / "functions" / "py"}
    assert watch_map.classify([shared / "schema.graphql"]).parts == (SCHEMA,)
    assert watch_map.classify([app / "template.yaml"]).parts == (TEMPLATE,)


def test_nested_roots_collapse_into_the_outer_one(project: Project) -> None:
    assert WatchMap.of(project).roots == (APP,)  # functions/py is inside the template's folder


def test_the_gate_runs_one_reload_at_a_time_and_merges_what_comes_meanwhile() -> None:
    gate = ReloadGate()
    a, b, c = Path("/a"), Path("/b"), Path("/c")
    assert gate.offer([a]) == {a}
    assert gate.running
    assert gate.offer([b]) is None
    assert gate.offer([c, b]) is None
    assert gate.done() == {b, c}  # one more reload, for everything that changed during the first
    assert gate.running
    assert gate.done() is None
    assert not gate.running
    assert gate.offer([a]) == {a}


def _function(logical_id: str, **changes: Any) -> LambdaFunction:
    fn = LambdaFunction(
        logical_id, logical_id, "app.handler", "python3.11", Path("/code"), Origin(Path("t.yaml"), None, 3)
    )
    return dataclasses.replace(fn, **changes)


def test_functions_restart_when_their_source_or_settings_change_or_they_are_new() -> None:
    old = {"A": _function("A"), "B": _function("B"), "C": _function("C"), "Gone": _function("Gone")}
    new = {
        "A": _function("A", origin=Origin(Path("t.yaml"), None, 9)),  # moved in the template: same function
        "B": _function("B", timeout_s=9.0),
        "C": _function("C"),
        "New": _function("New"),
    }
    assert functions_to_restart(old, new, touched={"C", "Gone"}) == {"B", "C", "New"}
    assert functions_to_restart(old, new, touched=()) == {"B", "New"}


def test_what_a_reload_cannot_apply_is_named(project: Project) -> None:
    same = restart_notes(project, project, has_lambdas=True, has_dynamodb=False)
    assert same == []
    without_functions = dataclasses.replace(project, functions={})
    notes = restart_notes(without_functions, project, has_lambdas=False, has_dynamodb=False)
    assert notes == ["the template now has Lambda functions: restart appsync-emu to start the Lambda service"]
    dynamodb = load_project(APPS / "dynamodb", LocalEndpoints("127.0.0.1", 4000))
    assert any("now uses DynamoDB" in n for n in restart_notes(project, dynamodb, has_lambdas=True, has_dynamodb=False))
    fewer = dataclasses.replace(dynamodb, tables=dict(list(dynamodb.tables.items())[:-1]))
    assert any("tables changed" in n for n in restart_notes(dynamodb, fewer, has_lambdas=True, has_dynamodb=True))


SCHEMA_V1 = """
type Message { msg: String! }
type Query { a: String }
type Mutation { post(msg: String!): Message }
type Subscription {
  onPost: Message @aws_subscribe(mutations: ["post"])
  onPostToo: Message @aws_subscribe(mutations: ["post"])
}
"""


def _spec(field_name: str, query: str) -> SubscriptionSpec:
    return SubscriptionSpec(field_name, query, parse(query), None, {}, {})


class _Outbox:
    def __init__(self) -> None:
        self.ended: list[str] = []

    def send_data(self, sub_id: str, payload_json: str) -> None:
        raise AssertionError("no event expected")

    def end_subscription(self, sub_id: str) -> None:
        self.ended.append(sub_id)


def test_subscriptions_the_new_schema_does_not_validate_are_ended() -> None:
    origin = Origin(Path("schema.graphql"))
    v2 = build_appsync_schema(
        SCHEMA_V1.replace('  onPostToo: Message @aws_subscribe(mutations: ["post"])\n', ""), origin
    )
    v3 = build_appsync_schema(SCHEMA_V1.replace("msg: String!", "text: String!"), origin)
    kept = _spec("onPost", "subscription { onPost { msg } }")
    removed = _spec("onPostToo", "subscription { onPostToo { msg } }")
    assert still_valid(v2, kept)
    assert not still_valid(v2, removed)
    assert not still_valid(v3, kept)  # a selected field went away

    pubsub = PubSub(lambda spec, event: {"data": event})
    first, second = _Outbox(), _Outbox()
    pubsub.add(first, "1", kept)
    pubsub.add(first, "2", removed)
    pubsub.add(second, "3", removed)
    assert pubsub.retain(lambda spec: still_valid(v2, spec)) == 2
    assert (first.ended, second.ended) == (["2"], ["3"])
    assert pubsub.count() == 1
    assert pubsub.retain(lambda spec: still_valid(v2, spec)) == 0


def test_the_docker_image_watches_the_mounted_folder() -> None:
    """The image's command is `serve /app` without `--no-watch`: it reloads what the user edits on the host."""
    import shlex

    from appsync_emu.cli import _settings_from, build_parser
    from tests.unit.test_dockerfile import instructions

    [entry] = [rest for word, rest in instructions() if word == "ENTRYPOINT"]
    argv = shlex.split(entry.strip("[]").replace('", "', '" "'))
    args = build_parser().parse_args(argv[1:])
    assert args.command == "serve" and args.path == Path("/app")
    assert _settings_from(args).watch is True
    assert "WATCHFILES_FORCE_POLLING" in (ROOT / "Dockerfile").read_text()
