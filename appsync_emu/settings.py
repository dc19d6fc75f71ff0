"""The emulator's settings: one dataclass filled from the command line, the environment or a fixture."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import limits
from .secret import derived

#: The credentials handed to Lambda functions (and shown in `/_emu/config`) and accepted for SigV4.
#: They only ever sign requests to this emulator. The secret and the session token derive from
#: this machine's secret, so that no web page can sign with them (docs/SECURITY.md).
DEFAULT_ACCESS_KEY_ID = "AKIAAPPSYNCEMULATOR0"
DEFAULT_SECRET_ACCESS_KEY = derived("iam-secret-access-key", 40)
DEFAULT_SESSION_TOKEN = derived("iam-session-token", 64)


@dataclass
class Settings:
    """Everything that can be changed about one emulator instance."""

    host: str = "127.0.0.1"
    port: int = 4000
    api_key: str | None = None  # fixes the value of the template's first API key
    parameter_overrides: dict[str, str] = field(default_factory=dict)
    request_timeout_s: float = limits.REQUEST_EXECUTION_TIMEOUT_S
    request_read_timeout_s: float = limits.REQUEST_READ_TIMEOUT_S
    keepalive_s: float = limits.KEEP_ALIVE_INTERVAL_S
    connection_timeout_ms: int = limits.CONNECTION_TIMEOUT_MS
    max_subscriptions: int = limits.MAX_SUBSCRIPTIONS_PER_CONNECTION
    max_pending_frames: int = limits.MAX_PENDING_FRAMES_PER_CONNECTION
    max_pending_bytes: int = limits.MAX_PENDING_BYTES_PER_CONNECTION
    subscriber_stall_timeout_s: float = limits.SUBSCRIBER_STALL_TIMEOUT_S
    max_subscription_payload_bytes: int = limits.MAX_SUBSCRIPTION_PAYLOAD_BYTES
    #: A subscription argument passed explicitly as null: "match-null" (only events whose field is
    #: null, as recent AppSync docs read) or "ignore" (the argument does not filter).
    subscription_null_argument: str = "match-null"
    js_cpu_limit_s: float = limits.JS_HANDLER_CPU_LIMIT_S
    js_memory_limit: int = limits.JS_MEMORY_LIMIT_BYTES
    #: Processes that run the handlers that need more than the inline budget (0: all inline, unbounded).
    js_workers: int = 2
    #: CPU a handler may use on the event loop thread before it is rerun in a worker process.
    js_inline_budget_s: float = 0.01
    iam_credentials: dict[str, str] = field(default_factory=lambda: {DEFAULT_ACCESS_KEY_ID: DEFAULT_SECRET_ACCESS_KEY})
    # Lambda and the async invocation queue
    lambda_retry_delays_s: tuple[float, ...] = limits.LAMBDA_RETRY_DELAYS_S
    lambda_max_concurrency: int = limits.LAMBDA_DEFAULT_CONCURRENCY
    failure_log: Path | None = None
    #: Keep accepted Event invocations in `<template dir>/.appsync-emu/async-invocations.sqlite3`, so a
    #: crashed emulator takes them up on its next start (docs/LAMBDA.md). `APPSYNC_EMU_ASYNC_JOURNAL=0` also
    #: turns it off.
    async_journal: bool = True
    #: Start one worker per function once the server is ready, so the first invocation is warm
    #: (the CLI does; fixtures do not, so tests see Lambda's cold starts).
    prewarm_functions: bool = False
    shutdown_grace_s: float = 10.0
    # LLM backend behind the Bedrock Runtime endpoint
    llm: str | None = None  # "fake" (default) | "bedrock"; env APPSYNC_EMU_LLM
    llm_settings: dict[str, Any] = field(default_factory=dict)
    #: `--endpoint-override`: AWS endpoint host → the local URL that stands in for it, for HTTP data
    #: sources and functions' SDK calls (`endpoints.py`).
    endpoint_overrides: dict[str, str] = field(default_factory=dict)
    # DynamoDB (docs/DYNAMODB.md)
    #: `--data-dir`: what the emulator keeps across restarts (DynamoDB's tables in `<dir>/dynamodb`);
    #: without it the embedded engine holds them in memory, as long as the emulator runs.
    data_dir: Path | None = None
    #: `--dynamodb-seed`: items written into the template's tables that are empty at start (JSON or YAML).
    dynamodb_seed: Path | None = None
    #: `--dynamodb-endpoint`: DynamoDB Local, LocalStack or a real account instead of the embedded engine.
    dynamodb_endpoint: str | None = None
    #: `--dynamodb-create-tables`: create the template's missing tables at `dynamodb_endpoint`.
    dynamodb_create_tables: bool = False
    # The Cognito endpoint's users (auth/cognito_users.py; docs/COGNITO.md)
    #: `--users FILE`: YAML {pool: [{username, password, groups, attributes, temporary}]}.
    users_file: Path | None = None
    #: `--user USERNAME:PASSWORD[:GROUP,GROUP]`, each added to every pool. Without these and
    #: `users_file`, every pool has the default users alice and bob.
    users: tuple[str, ...] = ()
    # serving
    #: Web origins besides loopback ones and the emulator's own that may open real-time connections ("*": any).
    allow_origins: tuple[str, ...] = ()
    tls_certfile: Path | None = None
    tls_keyfile: Path | None = None
    log_level: str = "info"
    demo: bool = True
    #: `--jwks POOL=FILE`: a real user pool's (or OIDC provider's) JWKS, so that its tokens verify
    #: (auth/cognito.py, auth/oidc.py); keyed by pool id, logical id or provider name.
    jwks: dict[str, Path] = field(default_factory=dict)
    #: `--trust-unverified-tokens`: accept a real pool's or provider's tokens without checking their
    #: signature when no JWKS is given (the banner warns).
    trust_unverified_tokens: bool = False
    #: Refuse to start when the template uses a data source type, resolver or function runtime, or
    #: auth mode the emulator does not run (by default those parts answer `NotEmulated`).
    strict: bool = False
    #: Watch the template, schema, resolver code and function sources and reload on a change
    #: (`reload.py`). The CLI's `serve` does unless `--no-watch`; fixtures only when asked (`watch=True`).
    watch: bool = False
