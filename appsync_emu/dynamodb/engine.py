"""The emulator's DynamoDB: the embedded engine (dynalite in a child node process) or the user's endpoint.

Start-up never waits for the engine (docs/DYNAMODB.md). `EngineProcess.spawn` installs dynalite
on first need (`appsync-emu prepare` does it ahead of time) and starts `engine/launcher.mjs`,
which prints its port once it listens; that takes about 0.2 s, while the server starts. The
first DynamoDB call, and the first function worker, wait for `DynamoDBService.ready`: the port
read, the template's tables created (kept when they already exist), TTL applied, seed items
written. The event loop never blocks: the port and the engine's stderr are read by two daemon
threads.

The engine never outlives the emulator: its stdin is a pipe only the emulator holds, and the
launcher exits when it closes, however the emulator ended (even SIGKILL). It runs in its own
session, so the terminal's Ctrl+C reaches only the emulator, which stops it last (`aclose`),
after the functions that may still use it.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import json
import logging
import subprocess
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

from ..config.model import Table
from ..lambdas.packages import cache_dir, install_npm_packages
from .api import DynamoDBError
from .client import BotocoreSigner, DynamoDBClient, DynamoDBSetupError

log = logging.getLogger("appsync_emu.dynamodb")

#: The embedded engine, pinned exactly: the launcher and its extension patch dynalite's internals.
DYNALITE_VERSION = "4.0.0"
LAUNCHER = Path(__file__).with_name("engine") / "launcher.mjs"
#: How long the engine may take to listen (0.2 s on a quiet machine, 0.6 s at load 10).
START_TIMEOUT_S = 30.0
#: How long `aclose` waits for the launcher to close its store before it is terminated.
STOP_TIMEOUT_S = 5.0
#: BatchWriteItem's limit per call.
_BATCH_WRITE_ITEMS = 25
_ACTIVE_TIMEOUT_S = 120.0


def dynalite_modules() -> Path:
    """The `node_modules` holding dynalite, installed into the emulator's shared cache on first need."""
    folder = cache_dir() / "npm" / f"dynalite-{DYNALITE_VERSION}"
    doing = f"installing dynalite {DYNALITE_VERSION} (the embedded DynamoDB engine) with npm"
    return install_npm_packages(folder, {"dynalite": DYNALITE_VERSION}, doing)


class EngineProcess:
    """dynalite served by `launcher.mjs` in a child node process; `port` resolves once it listens."""

    def __init__(self, data_dir: Path | None) -> None:
        self.data_dir = data_dir
        self.port: concurrent.futures.Future[int] = concurrent.futures.Future()
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr: collections.deque[str] = collections.deque(maxlen=20)
        self._stopping = False

    @property
    def pid(self) -> int | None:
        """The node process's id (for tests and diagnostics)."""
        return self._proc.pid if self._proc is not None else None

    def spawn(self) -> None:
        """Install dynalite if needed and start the engine; `DynamoDBSetupError` if there is no usable node."""
        from ..lambdas.node import find_node

        node = find_node()
        if node.path is None or node.problem:
            raise DynamoDBSetupError(f"the embedded DynamoDB engine needs Node.js: {node.problem}")
        argv = [node.path, str(LAUNCHER), str(dynalite_modules())]
        if self.data_dir is not None:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            argv += ["--path", str(self.data_dir)]
        self._proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,  # the launcher exits when this closes: it never outlives us
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,  # the terminal's Ctrl+C is ours to handle; we stop it last
        )
        assert self._proc.stdout is not None and self._proc.stderr is not None
        threading.Thread(target=self._read_port, args=(self._proc.stdout,), name="dynalite-port", daemon=True).start()
        threading.Thread(target=self._read_log, args=(self._proc.stderr,), name="dynalite-log", daemon=True).start()

    def _settle(self, port: int | None, error: str | None = None) -> None:
        """Resolve `port` once; a waiter that gave up (the emulator stopped first) cancelled it already."""
        with contextlib.suppress(concurrent.futures.InvalidStateError):
            if port is not None:
                self.port.set_result(port)
            else:
                self.port.set_exception(DynamoDBSetupError(self._failure(error or "")))

    def _read_port(self, stdout: IO[bytes]) -> None:
        line = stdout.readline()
        try:
            port = int(json.loads(line)["port"])
        except (ValueError, KeyError, TypeError):
            self._settle(None, line.decode("utf-8", "replace").strip())
        else:
            self._settle(port)
        for _ in stdout:  # the launcher says nothing more; drain so it never blocks on a full pipe
            pass

    def _read_log(self, stderr: IO[bytes]) -> None:
        for raw in stderr:
            line = raw.decode("utf-8", "replace").rstrip()
            self._stderr.append(line)
            log.warning("DynamoDB engine: %s", line)
        assert self._proc is not None
        status = self._proc.wait()
        if not self.port.done():
            self._settle(None, f"exit status {status}")
        elif not self._stopping:
            log.error("the DynamoDB engine exited (status %s): DynamoDB calls fail until the emulator restarts", status)

    def _failure(self, what: str) -> str:
        said = "\n".join(self._stderr)
        return f"the embedded DynamoDB engine (dynalite) did not start ({what or 'no port'})" + (
            f":\n{said}" if said else ""
        )

    def terminate(self) -> None:
        """Stop it at once (start-up failed elsewhere: there is nothing to close cleanly yet)."""
        if self._proc is not None and self._proc.poll() is None:
            self._stopping = True
            self._proc.terminate()

    async def stop(self) -> None:
        """Close its stdin (the launcher closes its store and exits); terminate it if it does not."""
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        self._stopping = True
        assert proc.stdin is not None
        proc.stdin.close()
        try:
            await asyncio.to_thread(proc.wait, STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            log.warning("the DynamoDB engine did not stop in %.0f s: terminating it", STOP_TIMEOUT_S)
            proc.kill()
            await asyncio.to_thread(proc.wait)


class DynamoDBService:
    """The DynamoDB API the emulator calls (`DynamoDBApi`), at the engine's or the user's endpoint.

    `ready()` sets the endpoint up once (tables, TTL, seeds) and gives its URL; every `call` waits
    for it, then costs one HTTP request on a keep-alive connection.
    """

    def __init__(
        self,
        tables: Mapping[str, Table],
        *,
        region: str,
        engine: EngineProcess | None = None,
        endpoint: str | None = None,
        create_tables: bool = True,
        seeds: Mapping[str, list[dict[str, Any]]] | None = None,
    ) -> None:
        assert (engine is None) != (endpoint is None), "either the embedded engine or an endpoint"
        self.tables = dict(tables)
        self.engine = engine
        self.url = endpoint
        self._signer = BotocoreSigner(region, endpoint) if endpoint is not None else None
        self._create_tables = create_tables
        self._seeds = dict(seeds or {})
        self._client: DynamoDBClient | None = None
        self._setup: asyncio.Task[str] | None = None
        self._ready = False

    @property
    def description(self) -> str:
        """What answers: the embedded engine and where its data lives, or the user's endpoint."""
        if self.engine is None:
            return "external endpoint (--dynamodb-endpoint)"
        where = f"data in {self.engine.data_dir}" if self.engine.data_dir else "in memory, gone when the emulator stops"
        return f"dynalite {DYNALITE_VERSION}, {where}"

    def start(self) -> None:
        """Begin setting the endpoint up in the background, when an event loop runs (else on the first call)."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return
        self._start_setup()

    def _start_setup(self) -> asyncio.Task[str]:
        if self._setup is None:
            self._setup = asyncio.get_running_loop().create_task(self._set_up(), name="dynamodb-setup")
            self._setup.add_done_callback(_retrieve)
        return self._setup

    async def ready(self) -> str:
        """The endpoint's URL once its tables are set up; `DynamoDBError` if the engine did not start."""
        try:
            return await asyncio.shield(self._start_setup())
        except DynamoDBSetupError as err:
            raise DynamoDBError("InternalServerError", str(err)) from None

    async def call(self, operation: str, body: dict[str, Any]) -> dict[str, Any]:
        """One DynamoDB operation, once the endpoint is ready."""
        if not self._ready:
            await self.ready()
        assert self._client is not None
        return await self._client.call(operation, body)

    async def aclose(self) -> None:
        """Stop setting up, close the connections, then stop the engine (its store closes cleanly)."""
        if self._setup is not None and not self._setup.done():
            self._setup.cancel()
        if self._client is not None:
            await self._client.aclose()
        if self.engine is not None:
            await self.engine.stop()

    # --- setting the endpoint up ------------------------------------------------------------------

    async def _set_up(self) -> str:
        started = time.monotonic()
        if self.engine is not None:
            try:
                port = await asyncio.wait_for(asyncio.wrap_future(self.engine.port), START_TIMEOUT_S)
            except TimeoutError:
                raise DynamoDBSetupError(
                    f"the embedded DynamoDB engine (dynalite) did not answer within {START_TIMEOUT_S:.0f} s"
                ) from None
            self.url = f"http://127.0.0.1:{port}"
        assert self.url is not None
        self._client = client = DynamoDBClient(self.url, self._signer)
        answered = time.monotonic() - started
        try:
            created = await self._ensure_tables(client)
            await self._apply_ttl(client, created if self.engine is None else list(self.tables.values()))
            await self._seed(client)
        except DynamoDBError as err:  # the endpoint refused something: say so, keep serving what works
            log.error("DynamoDB at %s: setting up the template's tables failed: %s", self.url, err)
        self._ready = True
        log.info(
            "DynamoDB: %s (%s) answered in %.2f s, tables ready in %.2f s: %s",
            self.url,
            self.description,
            answered,
            time.monotonic() - started,
            ", ".join(f"{lid} → {t.name}" for lid, t in self.tables.items()) or "none",
        )
        return self.url

    async def _existing(self, client: DynamoDBClient) -> set[str]:
        names: set[str] = set()
        body: dict[str, Any] = {}
        while True:
            page = await client.call("ListTables", body)
            names.update(page.get("TableNames") or [])
            if not page.get("LastEvaluatedTableName"):
                return names
            body = {"ExclusiveStartTableName": page["LastEvaluatedTableName"]}

    async def _ensure_tables(self, client: DynamoDBClient) -> list[Table]:
        """Create the template's missing tables (external endpoints: only when asked); the ones created."""
        existing = await self._existing(client)
        missing = [t for t in self.tables.values() if t.name not in existing]
        for table in self.tables.values():
            if table.name in existing:
                await self._compare(client, table)
        if missing and not self._create_tables:
            log.error(
                "DynamoDB at %s has no table %s: calls to them fail with ResourceNotFoundException; create them, "
                "or serve with --dynamodb-create-tables",
                self.url,
                ", ".join(f"{t.name} ({t.logical_id})" for t in missing),
            )
            return []
        for table in missing:
            await client.call("CreateTable", table.create_request)
        await self._wait_active(client, missing)
        return missing

    async def _compare(self, client: DynamoDBClient, table: Table) -> None:
        """Warn when a table kept from an earlier run (`--data-dir`, an external endpoint) has other keys."""
        described = (await client.call("DescribeTable", {"TableName": table.name})).get("Table") or {}
        if _keys(described) != _keys(table.create_request):
            log.warning(
                "DynamoDB table %s (%s) already exists with other keys than the template's (%s there, %s in the "
                "template): it is kept as it is; delete it (or the data dir) to have the template's",
                table.name,
                table.logical_id,
                _describe_keys(described),
                _describe_keys(table.create_request),
            )

    async def _wait_active(self, client: DynamoDBClient, tables: list[Table]) -> None:
        deadline = time.monotonic() + _ACTIVE_TIMEOUT_S
        for table in tables:
            while time.monotonic() < deadline:
                described = await client.call("DescribeTable", {"TableName": table.name})
                if (described.get("Table") or {}).get("TableStatus") == "ACTIVE":
                    break
                await asyncio.sleep(0.2)

    async def _apply_ttl(self, client: DynamoDBClient, tables: list[Table]) -> None:
        unsupported: list[str] = []
        for table in tables:
            if table.ttl_attribute is None:
                continue
            spec = {"Enabled": True, "AttributeName": table.ttl_attribute}
            try:
                await client.call("UpdateTimeToLive", {"TableName": table.name, "TimeToLiveSpecification": spec})
            except DynamoDBError as err:
                if err.error_type == "UnknownOperationException":
                    unsupported.append(f"{table.name} ({table.ttl_attribute})")
                elif "already enabled" not in err.message:
                    log.warning("DynamoDB table %s: TTL on %s not applied: %s", table.name, table.ttl_attribute, err)
        if unsupported:
            log.warning(
                "the DynamoDB engine does not support TTL (UpdateTimeToLive): items of %s are never expired",
                ", ".join(unsupported),
            )

    async def _seed(self, client: DynamoDBClient) -> None:
        """Write the seed items into each seeded table that is empty (a kept table's data is never overwritten)."""
        for name, items in self._seeds.items():
            scan = await client.call("Scan", {"TableName": name, "Limit": 1, "Select": "COUNT"})
            if scan.get("Count") or scan.get("LastEvaluatedKey"):
                log.info("DynamoDB table %s already has items: its seed items are not written", name)
                continue
            for start in range(0, len(items), _BATCH_WRITE_ITEMS):
                chunk = [{"PutRequest": {"Item": item}} for item in items[start : start + _BATCH_WRITE_ITEMS]]
                await _batch_write(client, {name: chunk})
            log.info("DynamoDB table %s: %d seed item(s) written", name, len(items))


async def _batch_write(client: DynamoDBClient, requests: dict[str, list[dict[str, Any]]]) -> None:
    """BatchWriteItem until nothing is left unprocessed."""
    for attempt in range(10):
        answer = await client.call("BatchWriteItem", {"RequestItems": requests})
        requests = answer.get("UnprocessedItems") or {}
        if not requests:
            return
        await asyncio.sleep(0.05 * 2**attempt)
    raise DynamoDBError("ProvisionedThroughputExceededException", "seed items left unprocessed after 10 attempts")


def _retrieve(task: asyncio.Task[str]) -> None:
    """Mark a failed setup's exception as seen: it is raised to every caller of `ready`, and logged once here."""
    if not task.cancelled() and task.exception() is not None:
        log.error("%s", task.exception())


def _keys(description: Mapping[str, Any]) -> tuple[Any, ...]:
    """A table's key schema and its indexes' names and key schemas, as DescribeTable and CreateTable both give them."""

    def schema(value: Any) -> tuple[tuple[str, str], ...]:
        return tuple((str(k.get("AttributeName")), str(k.get("KeyType"))) for k in value or [] if isinstance(k, dict))

    indexes = {
        str(index.get("IndexName")): schema(index.get("KeySchema"))
        for kind in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes")
        for index in description.get(kind) or []
        if isinstance(index, dict)
    }
    return schema(description.get("KeySchema")), tuple(sorted(indexes.items()))


def _describe_keys(description: Mapping[str, Any]) -> str:
    keys, indexes = _keys(description)
    text = ", ".join(f"{name} {kind}" for name, kind in keys)
    return text + "".join(f"; index {name}: {', '.join(f'{a} {k}' for a, k in schema)}" for name, schema in indexes)


# --- seed items ------------------------------------------------------------------------------------


def marshal(value: Any) -> dict[str, Any]:
    """A plain JSON value as a DynamoDB attribute value, as `util.dynamodb.toDynamoDB` converts it."""
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int | float):
        return {"N": str(value)}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, list):
        return {"L": [marshal(v) for v in value]}
    if isinstance(value, dict):
        return {"M": {k: marshal(v) for k, v in value.items()}}
    raise ValueError(f"{type(value).__name__} is not a JSON value")


def load_seeds(path: Path, tables: Mapping[str, Table]) -> dict[str, list[dict[str, Any]]]:
    """`--dynamodb-seed FILE` (JSON or YAML: `{<logical id or table name>: [items]}`) as typed items by table name."""
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))  # YAML reads JSON too
    except (OSError, yaml.YAMLError, UnicodeDecodeError) as err:
        raise DynamoDBSetupError(f"--dynamodb-seed {path}: cannot read it: {err}") from None
    if not isinstance(data, dict):
        raise DynamoDBSetupError(f"--dynamodb-seed {path}: expected a map of table (logical id or name) to items")
    by_name = {t.name: t for t in tables.values()}
    seeds: dict[str, list[dict[str, Any]]] = {}
    for key, items in data.items():
        table = tables.get(str(key)) or by_name.get(str(key))
        if table is None:
            known = ", ".join(f"{lid} ({t.name})" for lid, t in tables.items()) or "none"
            raise DynamoDBSetupError(f"--dynamodb-seed {path}: {key!r} is not a table of the template ({known})")
        if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
            raise DynamoDBSetupError(f"--dynamodb-seed {path}: {key}: expected a list of items (JSON objects)")
        try:
            seeds.setdefault(table.name, []).extend(marshal(item)["M"] for item in items)
        except ValueError as err:
            raise DynamoDBSetupError(f"--dynamodb-seed {path}: {key}: {err}") from None
    return seeds
