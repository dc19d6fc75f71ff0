"""The `appsync-emu` command line, run as a real process."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.conftest import EXAMPLES

CLI = [sys.executable, "-m", "appsync_emu.cli"]


@contextmanager
def serving(*args: str) -> Iterator[tuple[list[str], subprocess.Popen[str]]]:
    """Run `appsync-emu serve ARGS` on a free port; yield the banner lines once it is ready."""
    proc = subprocess.Popen(
        [*CLI, "serve", *args, "--port", "0", "--log-level", "warning"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line.rstrip())
            if "ready on" in line:
                break
        assert any("ready on" in line for line in lines), "\n".join(lines)
        yield lines, proc
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()


def banner_value(lines: list[str], label: str) -> str:
    for line in lines:
        m = re.match(rf"\s*{label}:\s+(\S+)", line)
        if m:
            return m.group(1)
    raise AssertionError(f"no {label!r} in banner:\n" + "\n".join(lines))


def test_serve_prints_urls_and_key_then_ready_and_answers_queries() -> None:
    with serving(str(EXAMPLES / "quickstart")) as (lines, _proc):
        url = banner_value(lines, "GraphQL")
        realtime = banner_value(lines, "Real-time")
        key = banner_value(lines, "API key")
        assert url.endswith("/graphql") and realtime.startswith("ws://") and realtime.endswith("/graphql/realtime")
        assert re.fullmatch(r"da2-[a-z0-9]{26}", key)
        assert lines[-1].startswith("appsync-emu: ready on http://127.0.0.1:")
        r = httpx.post(url, json={"query": '{ hello(name: "cli") }'}, headers={"x-api-key": key})
        assert r.json() == {"data": {"hello": "Hello, cli!"}}


def test_api_key_is_stable_across_restarts_and_can_be_fixed() -> None:
    with serving(str(EXAMPLES / "quickstart")) as (first, _):
        key1 = banner_value(first, "API key")
    with serving(str(EXAMPLES / "quickstart")) as (second, _):
        assert banner_value(second, "API key") == key1
    with serving(str(EXAMPLES / "quickstart"), "--api-key", "da2-fixedfixedfixedfixedfixedfi") as (lines, _):
        assert banner_value(lines, "API key") == "da2-fixedfixedfixedfixedfixedfi"


def test_validate_accepts_the_examples() -> None:
    for example in ("quickstart", "genai-chat"):
        done = subprocess.run([*CLI, "validate", str(EXAMPLES / example)], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr


def test_validate_reports_every_problem_with_file_and_line(tmp_path: Path) -> None:
    app = tmp_path / "app"
    shutil.copytree(EXAMPLES / "quickstart", app)
    (app / "resolvers" / "hello.js").write_text(
        "export function request(ctx) {\n  const x = ;\n  return {};\n}\nexport function response(ctx) { return 1; }\n"
    )
    schema = app / "schema.graphql"
    schema.write_text(schema.read_text().replace("hello(name: String): String!", "hello(name: String): Strin!"))
    template = app / "template.yaml"
    template.write_text(template.read_text().replace("resolvers/postMessage.js", "resolvers/missing.js"))
    done = subprocess.run([*CLI, "validate", str(app)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    out = done.stdout
    missing = r"template\.yaml:\d+ \(PostMessageResolver\): CodeS3Location 'resolvers/missing\.js' not found"
    assert re.search(missing, out)
    assert re.search(r"schema\.graphql:\d+: Unknown type 'Strin'", out)
    assert re.search(r"hello\.js:2: SyntaxError", out)


def test_serve_starts_a_warm_worker_per_function_after_ready() -> None:
    import psutil

    with serving(str(EXAMPLES / "genai-chat")) as (_lines, proc):
        deadline = time.monotonic() + 15
        workers: list[psutil.Process] = []
        while time.monotonic() < deadline and not workers:
            workers = [
                c
                for c in psutil.Process(proc.pid).children(recursive=True)
                if "lambdas.worker" in " ".join(c.cmdline())
            ]
            time.sleep(0.1)
        assert workers, "no Lambda worker was started ahead of the first invocation"
