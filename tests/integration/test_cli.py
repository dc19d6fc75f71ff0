"""The `appsync-emu` command line, run as a real process."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

import httpx

from tests.conftest import EXAMPLES, FIXTURES
from tests.integration.conftest import CLI, serving


def banner_value(lines: list[str], label: str) -> str:
    for line in lines:
        m = re.match(rf"\s*{label}:\s+(\S+)", line)
        if m:
            return m.group(1)
    raise AssertionError(f"no {label!r} in banner:\n" + "\n".join(lines))


def test_serve_prints_urls_and_key_then_ready_and_answers_queries() -> None:
    with serving(str(EXAMPLES / "quickstart")) as served:
        lines = served.banner
        url = banner_value(lines, "GraphQL")
        realtime = banner_value(lines, "Real-time")
        key = banner_value(lines, "API key")
        assert url.endswith("/graphql") and realtime.startswith("ws://") and realtime.endswith("/graphql/realtime")
        assert re.fullmatch(r"da2-[a-z0-9]{26}", key)
        assert any(line.startswith("appsync-emu: ready on http://127.0.0.1:") for line in lines)
        r = httpx.post(url, json={"query": '{ hello(name: "cli") }'}, headers={"x-api-key": key})
        assert r.json() == {"data": {"hello": "Hello, cli!"}}


def test_api_key_is_stable_across_restarts_and_can_be_fixed() -> None:
    with serving(str(EXAMPLES / "quickstart")) as first:
        key1 = banner_value(first.banner, "API key")
    with serving(str(EXAMPLES / "quickstart")) as second:
        assert banner_value(second.banner, "API key") == key1
    with serving(str(EXAMPLES / "quickstart"), "--api-key", "da2-fixedfixedfixedfixedfixedfi") as fixed:
        assert banner_value(fixed.banner, "API key") == "da2-fixedfixedfixedfixedfixedfi"


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

    with serving(str(EXAMPLES / "genai-chat")) as served:
        proc = served.proc
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


def run_cli(*args: str, timeout: float = 60, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, timeout=timeout, env={**os.environ, **env} if env else None
    )


def one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    """The whole of what a failed command said: exactly one `error:` line and no traceback."""
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("error: ")
    return line


def test_a_port_in_use_is_one_line_that_suggests_another() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        line = one_error_line(run_cli("serve", str(EXAMPLES / "quickstart"), "--port", str(port)))
    assert (
        line
        == f"error: port {port} on 127.0.0.1 is already in use: choose another with --port (--port 0 picks a free one)"
    )


def test_an_address_that_cannot_be_bound_is_one_line() -> None:
    line = one_error_line(run_cli("serve", str(EXAMPLES / "quickstart"), "--host", "192.0.2.77", "--port", "0"))
    assert line.startswith("error: cannot listen on 192.0.2.77:0: ") and "(check --host)" in line


def test_a_missing_tls_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "cert.pem"
    line = one_error_line(run_cli("serve", str(EXAMPLES / "quickstart"), "--tls-cert", str(missing), "--port", "0"))
    assert line == f"error: --tls-cert {missing}: no such file"
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate")
    line = one_error_line(run_cli("serve", str(EXAMPLES / "quickstart"), "--tls-cert", str(garbage), "--port", "0"))
    assert line.startswith(f"error: --tls-cert {garbage}: cannot load the certificate and key")


def test_serve_lists_every_template_and_schema_problem_as_validate_does(tmp_path: Path) -> None:
    app = tmp_path / "app"
    shutil.copytree(EXAMPLES / "quickstart", app)
    schema = app / "schema.graphql"
    schema.write_text(schema.read_text().replace("hello(name: String): String!", "hello(name: String): Strin!"))
    template = app / "template.yaml"
    template.write_text(template.read_text().replace("resolvers/postMessage.js", "resolvers/missing.js"))
    served = run_cli("serve", str(app), "--port", "0")
    validated = run_cli("validate", str(app))
    assert served.returncode == 1 and "Traceback" not in served.stderr
    errors = [line for line in served.stderr.splitlines() if line.startswith("error: ")]
    assert errors == [line for line in validated.stdout.splitlines() if line.startswith("error: ")]
    assert len(errors) == 2 and served.stderr.strip().endswith("2 problem(s) found: not serving")
    assert any("Unknown type 'Strin'" in line for line in errors)
    assert any("CodeS3Location 'resolvers/missing.js' not found" in line for line in errors)


def test_version() -> None:
    from importlib.metadata import version

    done = run_cli("--version")
    assert done.returncode == 0 and done.stdout.strip() == f"appsync-emu {version('appsync-emu')}"


def test_the_banner_ends_with_a_curl_command_that_works_and_how_to_stop() -> None:
    with serving(str(EXAMPLES / "quickstart")) as served:
        assert served.banner[-1].strip() == "Ctrl+C to stop."
        command = served.banner[-2].split("Try it: ", 1)[1]
        assert command.startswith("curl ")
        answer = subprocess.run(command, shell=True, capture_output=True, text=True, timeout=30)
        assert json.loads(answer.stdout) == {"data": {"__typename": "Query"}}


def test_llm_bedrock_says_what_is_missing_at_start(tmp_path: Path) -> None:
    env = {
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        "AWS_ACCESS_KEY_ID": "",
        "AWS_SECRET_ACCESS_KEY": "",
        "AWS_PROFILE": "",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    clean = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    done = subprocess.run(
        [*CLI, "serve", str(EXAMPLES / "quickstart"), "--port", "0", "--llm", "bedrock"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**clean, **{k: v for k, v in env.items() if v}},
    )
    line = one_error_line(done)
    assert line.startswith("error: --llm bedrock: no AWS credentials found")
    with_keys = {
        **clean,
        **{k: v for k, v in env.items() if v},
        "AWS_ACCESS_KEY_ID": "AKIAX",
        "AWS_SECRET_ACCESS_KEY": "s",
    }
    done = subprocess.run(
        [*CLI, "serve", str(EXAMPLES / "quickstart"), "--port", "0", "--llm", "bedrock"],
        capture_output=True,
        text=True,
        timeout=60,
        env=with_keys,
    )
    assert one_error_line(done).startswith("error: --llm bedrock: no AWS region")


def test_init_copies_a_bundled_example_that_validates(tmp_path: Path) -> None:
    listed = run_cli("init")
    assert listed.returncode == 0 and "genai-chat" in listed.stdout and "quickstart" in listed.stdout
    dest = tmp_path / "my-chat"
    done = run_cli("init", "genai-chat", str(dest))
    assert done.returncode == 0, done.stderr
    assert (dest / "template.yaml").is_file() and (dest / "demo" / "index.html").is_file()
    assert not list(dest.rglob("__pycache__"))
    assert run_cli("validate", str(dest)).returncode == 0
    assert (
        one_error_line(run_cli("init", "genai-chat", str(dest)))
        == f"error: {dest} already exists: choose another folder"
    )
    assert one_error_line(run_cli("init", "nope")).startswith("error: no example 'nope'")


def test_prewarm_skips_functions_it_cannot_run_without_a_traceback() -> None:
    with serving(str(FIXTURES / "apps" / "gaps"), log_level="info") as served:
        time.sleep(1.0)  # pre-warming runs after the ready line
    assert "Traceback" not in served.output and "never retrieved" not in served.output
