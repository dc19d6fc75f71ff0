"""The async invoker's journal: every accepted `Event` invocation in SQLite, so a crash loses none.

One file per template, `<template dir>/.appsync-emu/async-invocations.sqlite3` (see
`config.lambda_functions.cache_root`). `add` inserts and commits an invocation before `submit`
returns: WAL mode with `synchronous=NORMAL` makes a commit a write to the OS, no fsync (~10 µs
measured), so a killed emulator loses nothing (a power cut may lose the last commits). Attempts
and final records wait in a list and are committed together with the next submit, when the
invoker shows its records, or within `COMMIT_DELAY_S`; the WAL is checkpointed (the only fsync)
by a thread of its own, off the loop. A clean shutdown ends every
invocation, so the file is removed; after a crash the next start reads it back
(`AsyncInvoker.recover`). A second emulator serving the same template at the same time takes the
next free file (`async-invocations-1.sqlite3`…), each guarded by an advisory lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import os
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..lambdas.results import InvokeResult
from .records import KEEP_PAYLOAD_BYTES, Condition, Invocation, State, destination_record

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: one emulator per template, unguarded
    fcntl = None  # type: ignore[assignment]

FILE_STEM = "async-invocations"
#: Emulators serving one template at once, each with its own journal file.
MAX_SLOTS = 16
SCHEMA_VERSION = 1
#: Bytes written to the WAL (roughly) between two checkpoints by the checkpointer thread.
CHECKPOINT_BYTES = 4 * 1024 * 1024
#: Small pages: a commit writes (and checksums) each page it changed, and rows are small (~20% less per submit).
PAGE_BYTES = 1024
#: What one commit adds to the WAL besides the payload: the pages it changed.
_COMMIT_BYTES = 3 * PAGE_BYTES
#: Changes of state wait at most this long to be committed (a submit or a look at the records commits them sooner).
COMMIT_DELAY_S = 0.05

_SCHEMA = """
CREATE TABLE IF NOT EXISTS invocations (
    seq INTEGER PRIMARY KEY,
    request_id TEXT NOT NULL,
    function TEXT NOT NULL,
    function_name TEXT NOT NULL,
    payload BLOB,
    payload_bytes INTEGER NOT NULL,
    enqueued_at REAL NOT NULL,
    depth INTEGER NOT NULL,
    source TEXT,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    throttles INTEGER NOT NULL,
    updated_at REAL NOT NULL,
    next_attempt_at REAL,
    final TEXT
)
"""
_INSERT = (
    "INSERT INTO invocations (request_id, function, function_name, payload, payload_bytes, enqueued_at, depth,"
    " source, state, attempts, throttles, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_UPDATE = (
    "UPDATE invocations SET state = ?, attempts = ?, throttles = ?, updated_at = ?, next_attempt_at = ? WHERE seq = ?"
)
_FINISH = (
    "UPDATE invocations SET state = ?, attempts = ?, throttles = ?, updated_at = ?, next_attempt_at = NULL,"
    " final = ?, payload = CASE WHEN payload_bytes > ? THEN NULL ELSE payload END WHERE seq = ?"
)
_COLUMNS = (
    "seq",
    "request_id",
    "function",
    "function_name",
    "payload",
    "payload_bytes",
    "enqueued_at",
    "depth",
    "source",
    "state",
    "attempts",
    "throttles",
    "updated_at",
    "next_attempt_at",
)
_DELETE = "DELETE FROM invocations WHERE seq = ?"
_SELECT = f"SELECT {', '.join(_COLUMNS)}, final FROM invocations ORDER BY seq"


@dataclass(frozen=True)
class Entry:
    """One journaled invocation as read back at start-up; `final` is set once it ended."""

    seq: int
    request_id: str
    function: str  # logical id
    function_name: str
    payload: bytes | None
    payload_bytes: int
    enqueued_at: float
    depth: int
    source: str | None
    state: str
    attempts: int
    throttles: int
    updated_at: float
    next_attempt_at: float | None
    final: dict[str, Any] | None


_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=str)


def final_state(inv: Invocation) -> str:
    """What the journal keeps of a finished invocation to list it again after a crash (no payload, no logs).

    Compact, since it is written for every invocation: `c` condition, `r` the last response
    (function error, payload, duration), `e` error, `d` deliveries, and `h` the attempts, or only
    `s` the start of the one attempt of a plain success. `restore_final` reads it back.
    """
    data: dict[str, Any] = {"c": inv.condition.value if inv.condition else None}
    last = inv.last_result
    if last is not None:
        data["r"] = [last.function_error, last.payload, last.duration_ms]
    history = inv.history
    if len(history) == 1 and history[0].get("functionError") is None and history[0].get("attempt") == 1:
        data["s"] = history[0].get("startedAt")
    elif history:
        data["h"] = history
    if inv.error is not None:
        data["e"] = inv.error
    if inv.deliveries:
        data["d"] = inv.deliveries
    return _ENCODER.encode(data)


def restore_final(inv: Invocation, state: str, final: dict[str, Any]) -> None:
    """Put back on `inv` what `final_state` kept; its destination record is then rebuilt from it."""
    inv.state = State(state)
    inv.condition = Condition(final.get("c") or Condition.RETRIES_EXHAUSTED.value)
    inv.error = final.get("e")
    inv.deliveries = list(final.get("d") or [])
    response = final.get("r")
    if isinstance(response, list) and len(response) == 3:
        error, payload, duration = response
        inv.last_result = InvokeResult(inv.request_id, payload, error, float(duration))
        if "s" in final:
            inv.history = [
                {
                    "attempt": 1,
                    "startedAt": final["s"],
                    "durationMs": round(float(duration), 3),
                    "functionError": None,
                    "errorType": None,
                    "errorMessage": None,
                }
            ]
    if "h" in final:
        inv.history = list(final["h"])
    inv.record = destination_record(inv, inv.condition, inv.updated_at)


class Journal:
    """The SQLite file behind one `AsyncInvoker`. Use it from the event loop's thread only.

    Never raises: a failing disk is logged once and the journal turns itself off, the invoker
    going on in memory as it did before journals existed.
    """

    def __init__(self, path: Path, lock_fd: int | None, *, logger: logging.Logger | None = None) -> None:
        self.path = path
        self._lock_fd = lock_fd
        self._log = logger or logging.getLogger("appsync_emu.invoker")
        self._db: sqlite3.Connection | None = None
        self._pending: list[tuple[str, tuple[Any, ...]]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._unsynced = 0
        self._wake = threading.Event()
        self._stop = False
        self._checkpointer: threading.Thread | None = None
        try:
            self._db = self._connect(path)
        except sqlite3.DatabaseError as e:  # not a database, or an unreadable one: keep it for a human
            aside = path.with_name(path.name + ".unreadable")
            self._log.error("async journal %s cannot be read (%s); moved to %s, starting empty", path, e, aside)
            with contextlib.suppress(OSError):
                os.replace(path, aside)
            for suffix in ("-wal", "-shm"):
                with contextlib.suppress(OSError):
                    os.unlink(f"{path}{suffix}")
            self._db = self._connect(path)

    @classmethod
    def open(cls, folder: Path, *, logger: logging.Logger | None = None) -> Journal | None:
        """The journal in `folder`: the first file no running emulator holds; None (logged) if none can be opened."""
        log = logger or logging.getLogger("appsync_emu.invoker")
        try:
            folder.mkdir(parents=True, exist_ok=True)
            for slot in range(MAX_SLOTS):
                stem = FILE_STEM if slot == 0 else f"{FILE_STEM}-{slot}"
                taken, lock_fd = _lock(folder / f"{stem}.lock")
                if not taken:
                    continue
                try:
                    return cls(folder / f"{stem}.sqlite3", lock_fd, logger=log)
                except BaseException:
                    if lock_fd is not None:
                        os.close(lock_fd)
                    raise
            log.warning("async journal: %d emulators already use %s; this one keeps no journal", MAX_SLOTS, folder)
        except (OSError, sqlite3.Error) as e:
            log.error("async journal off: cannot open one in %s: %s", folder, e)
        return None

    @property
    def active(self) -> bool:
        return self._db is not None

    def _connect(self, path: Path) -> sqlite3.Connection:
        db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        try:
            db.execute(f"PRAGMA page_size={PAGE_BYTES}")  # a new file only; WAL frames are checksummed whole
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA wal_autocheckpoint=0")  # the checkpointer thread does it, off the loop
            version = db.execute("PRAGMA user_version").fetchone()[0]
            tables = db.execute("SELECT count(*) FROM sqlite_master WHERE name = 'invocations'").fetchone()[0]
            if tables and version != SCHEMA_VERSION:
                self._log.warning("async journal %s: format %s, not %s; starting empty", path, version, SCHEMA_VERSION)
                db.execute("DROP TABLE invocations")
            db.execute(_SCHEMA)
            db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except BaseException:
            db.close()
            raise
        return db

    def load(self) -> list[Entry]:
        """Every invocation the file holds, oldest first (unreadable rows are logged and dropped)."""
        if self._db is None:
            return []
        entries = []
        try:
            rows = self._db.execute(_SELECT).fetchall()
        except sqlite3.Error as e:
            self._fail(e)
            return []
        for row in rows:
            try:
                final = json.loads(row[14]) if row[14] is not None else None
                fields = dict(zip(_COLUMNS, row[:14], strict=True))
                entries.append(Entry(**fields, final=final))
            except (TypeError, ValueError) as e:
                self._log.error("async journal %s: dropping unreadable invocation %s: %s", self.path, row[1], e)
        return entries

    def add(self, inv: Invocation) -> None:
        """Journal an accepted invocation, with every change before it, and commit: on disk when `submit` returns."""
        db = self._db
        if db is None:
            return
        params = (
            inv.request_id,
            inv.function.logical_id,
            inv.function.function_name,
            inv.body,
            inv.payload_bytes,
            inv.enqueued_at,
            inv.depth,
            inv.source,
            inv.state.value,
            inv.attempts,
            inv.throttles,
            inv.updated_at,
        )
        try:
            if self._pending:
                db.execute("BEGIN")
                self._run_pending(db)
                inv.seq = db.execute(_INSERT, params).lastrowid or 0
                db.execute("COMMIT")
            else:
                inv.seq = db.execute(_INSERT, params).lastrowid or 0  # a transaction of its own
        except sqlite3.Error as e:
            self._fail(e)
            return
        self._written(inv.payload_bytes)

    def update(self, inv: Invocation) -> None:
        """Record a change of state or attempt count (committed with the next submit, or within `COMMIT_DELAY_S`)."""
        self._later(
            _UPDATE, (inv.state.value, inv.attempts, inv.throttles, inv.updated_at, inv.next_attempt_at, inv.seq)
        )

    def finish(self, inv: Invocation) -> None:
        """Record the final outcome (committed like `update`, or at once by `commit`)."""
        state = final_state(inv)
        self._later(
            _FINISH, (inv.state.value, inv.attempts, inv.throttles, inv.updated_at, state, KEEP_PAYLOAD_BYTES, inv.seq)
        )

    def forget(self, seq: int) -> None:
        """Drop a finished invocation the invoker no longer keeps."""
        self._later(_DELETE, (seq,))

    def _later(self, sql: str, params: tuple[Any, ...]) -> None:
        if self._db is None:
            return
        self._pending.append((sql, params))
        if self._timer is None:
            try:
                self._timer = asyncio.get_running_loop().call_later(COMMIT_DELAY_S, self.commit)
            except RuntimeError:  # no loop (a unit test): commit now
                self.commit()

    def _run_pending(self, db: sqlite3.Connection) -> None:
        """The pending statements, in order, runs of one statement as one `executemany`."""
        pending, self._pending = self._pending, []
        for sql, group in itertools.groupby(pending, key=lambda item: item[0]):
            db.executemany(sql, [params for _, params in group])

    def commit(self) -> None:
        """Write what is pending now; whatever the invoker shows is on disk after this."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        db = self._db
        if db is None or not self._pending:
            return
        try:
            db.execute("BEGIN")
            self._run_pending(db)
            db.execute("COMMIT")
        except sqlite3.Error as e:
            self._fail(e)
            return
        self._written(0)

    def _written(self, payload_bytes: int) -> None:
        """Count what a commit added to the WAL (at least a page or two); checkpoint now and then, off the loop."""
        self._unsynced += payload_bytes + _COMMIT_BYTES
        if self._unsynced >= CHECKPOINT_BYTES:
            self._unsynced = 0
            self._start_checkpointer()
            self._wake.set()

    def _start_checkpointer(self) -> None:
        if self._checkpointer is None:
            self._checkpointer = threading.Thread(target=self._checkpoints, name="async-journal", daemon=True)
            self._checkpointer.start()

    def _checkpoints(self) -> None:
        """Copy the WAL into the database whenever told (its fsyncs happen here, never on the loop)."""
        try:
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as e:
            self._log.error("async journal %s: no checkpoints: %s", self.path, e)
            return
        with contextlib.closing(db):
            while True:
                self._wake.wait()
                self._wake.clear()
                if self._stop:
                    return
                try:
                    db.execute("PRAGMA wal_checkpoint(PASSIVE)")
                except sqlite3.Error as e:
                    self._log.warning("async journal %s: checkpoint failed: %s", self.path, e)

    def _fail(self, error: sqlite3.Error) -> None:
        self._log.error(
            "async journal %s failed (%s); accepted invocations are no longer kept on disk", self.path, error
        )
        self._drop_pending()
        db, self._db = self._db, None
        if db is not None:
            with contextlib.suppress(sqlite3.Error):
                db.close()

    def _drop_pending(self) -> None:
        self._pending = []
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def close(self, *, remove: bool = False) -> None:
        """Commit, stop the checkpointer and close; `remove` deletes the file (nothing in it is unfinished)."""
        self.commit()
        self._stop = True
        self._wake.set()
        if self._checkpointer is not None:
            self._checkpointer.join(5.0)
        db, self._db = self._db, None
        if db is not None:
            with contextlib.suppress(sqlite3.Error):
                if not remove:
                    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                db.close()
            if remove:
                for suffix in ("", "-wal", "-shm"):
                    with contextlib.suppress(OSError):
                        os.unlink(f"{self.path}{suffix}")
        self._release()

    def abandon(self) -> None:
        """Let go of the file as a killed process would: what is not committed is lost (for tests)."""
        self._stop = True
        self._wake.set()
        self._drop_pending()
        db, self._db = self._db, None
        if db is not None:
            db.close()
        self._release()

    def _release(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None


def _lock(path: Path) -> tuple[bool, int | None]:
    """(taken, fd): an exclusive lock on `path`, held while the fd is open; not taken if another emulator has it."""
    if fcntl is None:
        return True, None
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return False, None
    except BaseException:
        os.close(fd)
        raise
    return True, fd
