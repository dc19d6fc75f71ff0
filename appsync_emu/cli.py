"""The `appsync-emu` command line: `serve`, `validate`, `init`, `prepare` and `invocations`.

Everyday mistakes end in one `error:` line and exit status 1, never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from pathlib import Path

from .settings import Settings


def _add_template(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "path",
        nargs="?",
        default=".",
        type=Path,
        help="a template file, or a folder holding template.yaml|yml|json (default: .)",
    )
    p.add_argument(
        "--parameter-overrides",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="override template Parameters, as `sam deploy --parameter-overrides` does",
    )
    p.add_argument(
        "--stack",
        metavar="NAME",
        help="in a CDK cloud assembly (cdk.out) with several stacks holding a GraphQL API: the one to load",
    )
    p.add_argument(
        "--endpoint-override",
        action="append",
        default=[],
        metavar="AWS_URL=LOCAL_URL",
        help="send calls for an AWS endpoint the emulator does not serve to a local stand-in, from HTTP data "
        "sources and functions (https://states.us-east-1.amazonaws.com=http://127.0.0.1:8083; repeatable); "
        "other AWS endpoints answer NotEmulated",
    )
    p.add_argument(
        "--dynamodb-endpoint",
        default=None,
        metavar="URL",
        help="use this DynamoDB (DynamoDB Local, LocalStack, a real account; needs the aws extra) "
        "instead of the embedded engine",
    )


def _add_jwks(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--jwks",
        action="append",
        default=[],
        metavar="POOL=FILE",
        help="verify tokens of a real user pool (pool id or logical id) or OIDC provider (name or Issuer) "
        "against this JWKS file (repeatable); without it such tokens are refused",
    )
    p.add_argument(
        "--trust-unverified-tokens",
        action="store_true",
        help="accept tokens of a real pool or OIDC provider without a JWKS, unverified (the banner warns)",
    )


def _parse_jwks(items: list[str]) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for item in items:
        name, sep, file = item.partition("=")
        if not sep or not name or not file:
            raise ValueError(f"--jwks: expected POOL=FILE, got {item!r}")
        out[name] = Path(file).expanduser()
    return out


def _parse_overrides(items: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"--parameter-overrides: expected KEY=VALUE, got {item!r}")
        out[key] = value
    return out


def _parse_endpoint_overrides(items: list[str]) -> dict[str, str]:
    from .endpoints import parse_override

    return dict(parse_override(item) for item in items)


def _parse_delays(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated seconds, got {text!r}") from None


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("appsync-emu")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="appsync-emu", description="A local, offline emulator of AWS AppSync.")
    parser.add_argument("--version", action="version", version=f"appsync-emu {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="serve the template's API over HTTP and real-time WebSockets")
    _add_template(serve)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=4000)
    serve.add_argument("--api-key", help="fix the value of the template's API key (default: a stable da2-… value)")
    serve.add_argument("--keepalive", type=float, default=None, help="seconds between `ka` frames (default 60)")
    serve.add_argument(
        "--llm",
        choices=["fake", "bedrock"],
        default=None,
        help="LLM behind the Bedrock Runtime endpoint (default fake; env APPSYNC_EMU_LLM)",
    )
    serve.add_argument(
        "--llm-tps",
        type=float,
        default=None,
        help="fake LLM: tokens per second (default 30 here, so a demo visibly streams; 0 = instant)",
    )
    serve.add_argument(
        "--llm-first-token-ms",
        type=float,
        default=None,
        help="fake LLM: delay before the first token (default 300 here; 0 = none)",
    )
    serve.add_argument("--llm-script", type=Path, default=None, help="fake LLM: JSON/YAML file of scripted replies")
    serve.add_argument(
        "--lambda-retry-delays",
        type=_parse_delays,
        default=None,
        metavar="S1,S2",
        help="delays before the 1st and 2nd retry of a failed Event invocation (default 60,120 like Lambda)",
    )
    serve.add_argument("--no-prewarm", action="store_true", help="do not start one worker per function at start-up")
    serve.add_argument(
        "--no-async-journal",
        action="store_true",
        help="keep accepted Event invocations in memory only (not taken up after a crash)",
    )
    serve.add_argument("--failure-log", type=Path, default=None, help="append async failure records to this JSONL file")
    serve.add_argument("--shutdown-grace", type=float, default=None, help="seconds to finish async work on shutdown")
    serve.add_argument(
        "--allow-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="let pages from this origin (https://app.example:3000; * for any) open real-time connections; "
        "loopback origins and the emulator's own are always allowed",
    )
    serve.add_argument("--tls-cert", type=Path, default=None, help="serve https/wss with this certificate (PEM)")
    serve.add_argument("--tls-key", type=Path, default=None, help="private key for --tls-cert (PEM)")
    serve.add_argument(
        "--log-level",
        default="info",
        choices=["debug", "info", "warning", "error"],
        help="info: a line per operation and WebSocket event; debug adds each field's evaluated request and response",
    )
    serve.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help="keep DynamoDB's tables and items across restarts in DIR/dynamodb (default: in memory, gone at exit)",
    )
    serve.add_argument(
        "--dynamodb-seed",
        type=Path,
        default=None,
        metavar="FILE",
        help="JSON or YAML {<table logical id or name>: [items]}: written at start into tables that are empty",
    )
    serve.add_argument(
        "--dynamodb-create-tables",
        action="store_true",
        help="with --dynamodb-endpoint: create the template's tables that are missing there",
    )
    serve.add_argument(
        "--users",
        type=Path,
        default=None,
        metavar="FILE",
        help="the Cognito endpoint's users: YAML {<pool logical id or id, or *>: [{username, password, groups, "
        "attributes, temporary}]} (default: alice and bob, password Passw0rd!, in every pool)",
    )
    serve.add_argument(
        "--user",
        action="append",
        default=[],
        metavar="USER:PASSWORD[:GROUPS]",
        help="add a user to every pool of the Cognito endpoint (alice:Passw0rd!:admin,editor; repeatable)",
    )
    serve.add_argument(
        "--no-watch",
        action="store_true",
        help="do not reload when the template, schema, resolver code or function sources change "
        "(WATCHFILES_FORCE_POLLING=true: poll, for mounts that report no changes)",
    )
    _add_jwks(serve)
    serve.add_argument(
        "--strict",
        action="store_true",
        help="refuse to start when the template uses something the emulator does not run (else it answers NotEmulated)",
    )

    validate = sub.add_parser("validate", help="load everything and report every problem with file and line")
    _add_template(validate)
    _add_jwks(validate)

    init = sub.add_parser("init", help="copy a bundled example app into a folder, to serve and change")
    init.add_argument("example", nargs="?", help="the example's name (omit to list them)")
    init.add_argument("dest", nargs="?", type=Path, help="where to copy it (default: ./<example>)")

    prepare = sub.add_parser(
        "prepare",
        help="install esbuild, AWS SDK packages and the DynamoDB engine into the emulator's cache now "
        "(images, offline use)",
    )
    prepare.add_argument(
        "packages", nargs="*", metavar="PACKAGE", help="@aws-sdk/* or @smithy/* packages (default: the common clients)"
    )

    token = sub.add_parser(
        "token",
        help="print a JWT of the template's user pool (or OIDC provider) that the emulator accepts, "
        "without a running server",
    )
    _add_template(token)
    token.add_argument("--user", required=True, help="the username (cognito:username; sub is stable per user)")
    token.add_argument("--groups", default="", metavar="G1,G2", help="cognito:groups, comma-separated")
    token.add_argument("--pool", default=None, metavar="NAME", help="pool logical id or id, or OIDC provider name")
    token.add_argument("--claims", default=None, metavar="JSON", help='extra claims, e.g. \'{"email": "a@b.c"}\'')
    token.add_argument("--expires-in", type=int, default=3600, metavar="S", help="lifetime in seconds (default 3600)")
    token.add_argument("--token-use", choices=("id", "access"), default="id", help="an ID (default) or access token")
    token.add_argument(
        "--url",
        default="http://127.0.0.1:4000",
        help="the emulator's base URL, which the issuer URL (`iss`) contains (default http://127.0.0.1:4000)",
    )

    inv = sub.add_parser("invocations", help="list asynchronous Lambda invocations of a running emulator")
    inv.add_argument("--url", default="http://127.0.0.1:4000", help="the emulator's base URL")
    inv.add_argument("--function", default=None, help="only this function (name or logical id)")
    inv.add_argument("--state", default=None, help="only this state (queued, running, retry-wait, succeeded, failed…)")
    inv.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return parser


def _settings_from(args: argparse.Namespace) -> Settings:
    settings = Settings(
        host=args.host,
        port=args.port,
        api_key=args.api_key,
        parameter_overrides=_parse_overrides(args.parameter_overrides),
        llm=args.llm or os.environ.get("APPSYNC_EMU_LLM") or None,
        failure_log=args.failure_log,
        tls_certfile=args.tls_cert,
        tls_keyfile=args.tls_key,
        log_level=args.log_level,
        prewarm_functions=not args.no_prewarm,
        async_journal=not args.no_async_journal,
        strict=args.strict,
        watch=not args.no_watch,
        allow_origins=tuple(args.allow_origin),
        endpoint_overrides=_parse_endpoint_overrides(args.endpoint_override),
        data_dir=args.data_dir,
        dynamodb_seed=args.dynamodb_seed,
        dynamodb_endpoint=args.dynamodb_endpoint,
        dynamodb_create_tables=args.dynamodb_create_tables,
        users_file=args.users,
        users=tuple(args.user),
        jwks=_parse_jwks(args.jwks),
        trust_unverified_tokens=args.trust_unverified_tokens,
    )
    if settings.dynamodb_create_tables and not settings.dynamodb_endpoint:
        raise ValueError("--dynamodb-create-tables needs --dynamodb-endpoint (the embedded engine always creates them)")
    if args.keepalive is not None:
        settings.keepalive_s = args.keepalive
    if (settings.llm or "fake") == "fake":
        settings.llm_settings = _fake_llm_settings(args)
    if args.lambda_retry_delays is not None:
        settings.lambda_retry_delays_s = args.lambda_retry_delays
    if args.shutdown_grace is not None:
        settings.shutdown_grace_s = args.shutdown_grace
    return settings


def _fake_llm_settings(args: argparse.Namespace) -> dict[str, object]:
    """Pacing for the fake LLM on the command line: visible streaming unless told otherwise.

    An explicit flag wins, then the APPSYNC_EMU_FAKE_LLM_* variables, then the CLI's
    human-friendly defaults (tests and the pytest fixture use no delay at all).
    """
    out: dict[str, object] = {}
    env = os.environ
    if args.llm_tps is not None:
        out["tps"] = args.llm_tps
    elif "APPSYNC_EMU_FAKE_LLM_TPS" not in env:
        out["tps"] = 30.0
    if args.llm_first_token_ms is not None:
        out["first_token_ms"] = args.llm_first_token_ms
    elif "APPSYNC_EMU_FAKE_LLM_FIRST_TOKEN_MS" not in env:
        out["first_token_ms"] = 300.0
    if args.llm_script is not None:
        out["script"] = str(args.llm_script)
    return out


def _flush_logs() -> None:
    """Write the log lines still waiting in the batching handler, so they come before what follows."""
    for handler in logging.getLogger().handlers:
        handler.flush()


def _fail(message: str) -> int:
    _flush_logs()
    print(f"error: {message}", file=sys.stderr)
    return 1


def _choose_stack(args: argparse.Namespace) -> str | None:
    """With `--stack`: point `args.path` at that stack's template in the cloud assembly; else the error."""
    if args.stack is None:
        return None
    from .config.assembly import stack_template
    from .config.model import ConfigErrors

    try:
        args.path = stack_template(args.path.expanduser().resolve(), args.stack)
    except ConfigErrors as errs:
        return "; ".join(str(e) for e in errs.errors)
    return None


def cmd_serve(args: argparse.Namespace) -> int:
    from .config.model import ConfigErrors
    from .logs import configure
    from .server import ServeError, run

    try:
        settings = _settings_from(args)
    except ValueError as err:
        return _fail(str(err))
    stack_error = _choose_stack(args)
    if stack_error:
        return _fail(stack_error)
    if (settings.llm or "fake") == "bedrock":  # before logging is set up: botocore's chatter stays out
        from .llm.bedrock import missing_configuration

        missing = missing_configuration(settings.llm_settings)
        if missing:
            return _fail(f"--llm bedrock: {missing}")
    configure(settings.log_level)
    try:
        with contextlib.suppress(KeyboardInterrupt):
            run(args.path, settings)
    except ServeError as err:
        return _fail(str(err))
    except ConfigErrors as errs:
        return _report_config_errors(args, settings.strict, errs)
    return 0


def _report_config_errors(args: argparse.Namespace, strict: bool, errs: Exception) -> int:
    """Every problem that stops `serve`, as `validate` words them, then the count."""
    from .config.model import ConfigErrors
    from .validate import check

    _flush_logs()
    logging.getLogger().setLevel(logging.ERROR)  # loading again for the report repeats no info line
    report = check(
        args.path,
        _parse_overrides(args.parameter_overrides),
        _parse_endpoint_overrides(args.endpoint_override),
        args.dynamodb_endpoint,
    )
    problems = report.problems + (report.gaps if strict else [])
    if not problems:  # what failed is not something validate looks at (a build): say it as it was raised
        problems = [str(e) for e in errs.errors] if isinstance(errs, ConfigErrors) else [str(errs)]
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    print(f"{len(problems)} problem(s) found: not serving", file=sys.stderr)
    return 1


def cmd_validate(args: argparse.Namespace) -> int:
    from .logs import configure
    from .validate import check

    configure("error")
    try:
        endpoint_overrides = _parse_endpoint_overrides(args.endpoint_override)
    except ValueError as err:
        return _fail(str(err))
    stack_error = _choose_stack(args)
    if stack_error:
        return _fail(stack_error)
    report = check(args.path, _parse_overrides(args.parameter_overrides), endpoint_overrides, args.dynamodb_endpoint)
    for w in report.warnings:
        print(f"warning: {w}")
    errors = report.problems + report.code_problems + report.gaps
    try:
        errors += _check_jwks(args.path, _parse_jwks(args.jwks)) if args.jwks and not report.problems else []
    except ValueError as err:
        errors.append(str(err))
    for p in errors:
        print(f"error: {p}")
    if errors:
        print(f"{len(errors)} problem(s) found")
        return 1
    print("ok: template, schema and resolver code load, and everything they use is emulated")
    return 0


def _check_jwks(path: Path, jwks: dict[str, Path]) -> list[str]:
    """`--jwks` names the API's pools or providers and its files are JWKS: else the problems."""
    from .auth.authorizer import jwt_modes
    from .auth.issuers import Issuers
    from .config.loader import load_project
    from .config.model import LocalEndpoints

    endpoints = LocalEndpoints("127.0.0.1", 4000)
    project = load_project(path, endpoints)
    try:
        jwt_modes(project.api, Issuers.from_project(project, endpoints), jwks=jwks)
    except ValueError as err:
        return [f"--jwks: {err}"]
    return []


def cmd_init(args: argparse.Namespace) -> int:
    from .examples import copy_example, example_names

    names = example_names()
    if args.example is None:
        print("examples: " + ", ".join(names))
        print("copy one with: appsync-emu init <example> [folder]")
        return 0
    if args.example not in names:
        return _fail(f"no example {args.example!r}; choose one of: {', '.join(names)}")
    dest: Path = args.dest or Path(args.example)
    try:
        copy_example(args.example, dest)
    except FileExistsError:
        return _fail(f"{dest} already exists: choose another folder")
    print(f"copied {args.example} to {dest}")
    print(f"serve it with: appsync-emu serve {dest}")
    return 0


def cmd_prepare(args: argparse.Namespace) -> int:
    """What would otherwise be installed on first need: esbuild, the AWS SDK packages, the DynamoDB engine."""
    from .dynamodb.engine import DYNALITE_VERSION, dynalite_modules
    from .lambdas.packages import COMMON_SDK_PACKAGES, InstallError, emulator_esbuild, provide_sdk
    from .logs import configure

    configure("info")
    try:
        esbuild = emulator_esbuild()
        sdk = provide_sdk(args.packages or COMMON_SDK_PACKAGES)
        dynalite = dynalite_modules()
    except InstallError as err:
        return _fail(str(err))
    _flush_logs()
    print(f"esbuild: {esbuild}")
    print(f"AWS SDK: {sdk}")
    print(f"DynamoDB engine (dynalite {DYNALITE_VERSION}): {dynalite}")
    return 0


def cmd_token(args: argparse.Namespace) -> int:
    """Mint a token offline with this machine's signing key, as the server for `--url` will verify it."""
    import json
    from urllib.parse import urlsplit

    from .auth.issuers import Issuers
    from .config.loader import load_project
    from .config.model import ConfigErrors, LocalEndpoints
    from .logs import configure

    configure("error")
    url = urlsplit(args.url)
    if url.scheme not in ("http", "https") or not url.hostname:
        return _fail(f"--url: expected http(s)://HOST:PORT, got {args.url!r}")
    port = url.port or (443 if url.scheme == "https" else 80)
    host = f"[{url.hostname}]" if ":" in url.hostname else url.hostname
    try:
        claims = json.loads(args.claims) if args.claims else {}
    except json.JSONDecodeError as err:
        return _fail(f"--claims is not JSON: {err}")
    if not isinstance(claims, dict):
        return _fail("--claims must be a JSON object")
    stack_error = _choose_stack(args)
    if stack_error:
        return _fail(stack_error)
    endpoints = LocalEndpoints(host, port, url.scheme)
    try:
        project = load_project(args.path, endpoints, parameter_overrides=_parse_overrides(args.parameter_overrides))
        issuer = Issuers.from_project(project, endpoints).get(args.pool)
    except ConfigErrors as errs:
        return _fail("; ".join(str(e) for e in errs.errors))
    except ValueError as err:
        return _fail(str(err))
    groups = [g.strip() for g in args.groups.split(",") if g.strip()]
    print(
        issuer.mint(
            username=args.user, groups=groups, claims=claims, expires_in=args.expires_in, token_use=args.token_use
        )
    )
    return 0


def cmd_invocations(args: argparse.Namespace) -> int:
    from .invoker.cli import run_invocations_command

    return run_invocations_command(args.url, args.function, args.state, args.json)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handlers = {
        "serve": cmd_serve,
        "validate": cmd_validate,
        "init": cmd_init,
        "prepare": cmd_prepare,
        "invocations": cmd_invocations,
        "token": cmd_token,
    }
    return handlers[args.command](args)


if __name__ == "__main__":
    raise SystemExit(main())
