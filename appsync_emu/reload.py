"""Hot reload: `serve` watches the project's files and swaps in what an edit changed, without a restart.

Two halves. The sans-I/O one decides: `WatchMap` says which files belong to which part of the
running project (the template and the nested or assembly templates beside it, the schema,
resolver code and mapping templates, each function's source folder) and what the editor's and
the emulator's own files are (ignored); `ReloadGate` runs one reload at a time and merges the
changes that arrive meanwhile into the next; `functions_to_restart` and `restart_notes` compare
the old project with the new. Unit tests drive them directly.

The I/O half, `Reloader`, watches with `watchfiles` (changes are grouped: handed over once none
came for `STEP_MS`, at most `DEBOUNCE_MS` after the first) and reloads:

1. on a thread, so the event loop keeps serving: load and check the template as `validate` does
   (template and schema problems, and resolver code or function handlers that no longer load),
   build the functions (esbuild, dependencies), then assemble a new emulator around the running
   one's services (`app.build_emulator(..., services=...)`);
2. on the loop, in one step with no `await`: the new engine and authorizer go behind the same
   front door and real-time endpoint, the pub/sub registry keeps its subscriptions (those the new
   schema no longer validates end with `complete`, as an invalidation ends them), and the Lambda
   service retires the pools of functions whose code or settings changed.

What is kept: open connections and their subscriptions, the DynamoDB engine and its data, the
async queue and its journal, the LLM backend, the workers of unchanged functions. An edit that
does not load keeps the last good version serving and logs the problems in `validate`'s words.
The request path pays nothing for this: the endpoints already read their engine from an attribute.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from .config.model import ConfigError, ConfigErrors, LambdaFunction, Project

if TYPE_CHECKING:
    from graphql import GraphQLSchema

    from .app import Emulator
    from .config.model import GraphQLApi, PipelineFunction, Resolver
    from .pubsub.registry import SubscriptionSpec
    from .settings import Settings

log = logging.getLogger("appsync_emu.reload")
T = TypeVar("T")

#: watchfiles hands changes over once none came for this long (an editor's save is several events)…
STEP_MS = 50
#: …and at the latest this long after the first, so a reload starts well within a second.
DEBOUNCE_MS = 300
#: Folders whose files are never the project's: version control, dependencies, caches, the emulator's own output.
IGNORED_DIRS = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        "node_modules",
        "__pycache__",
        ".appsync-emu",
        ".venv",
        "venv",
        ".tox",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        ".hypothesis",
        ".idea",
        ".vscode",
    }
)
#: Files that may be a template: a nested stack's, a CDK assembly's manifest or stack templates.
TEMPLATE_SUFFIXES = frozenset({".yaml", ".yml", ".json", ".template"})
_EDITOR_SUFFIXES = (".swp", ".swx", ".swo", ".tmp", ".pyc", ".bak")

TEMPLATE = "template"
SCHEMA = "schema"
RESOLVER_CODE = "resolver code"
MAPPING_TEMPLATE = "mapping template"


def _is_editor_file(name: str) -> bool:
    """Swap, backup and lock files editors write next to the file being saved."""
    if name.endswith("~") or name.startswith(".#") or name.endswith(_EDITOR_SUFFIXES):
        return True
    return name in ("4913", ".DS_Store")  # vim's probe of a folder, macOS Finder


def _under(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


@dataclass(frozen=True)
class Change:
    """What a batch of changed files touches: the parts, for the log, and the functions whose source changed."""

    parts: tuple[str, ...] = ()
    functions: frozenset[str] = frozenset()

    def __bool__(self) -> bool:
        return bool(self.parts)


@dataclass(frozen=True)
class WatchMap:
    """The running project's files by part, and where to watch for them."""

    roots: tuple[Path, ...]
    files: Mapping[Path, str]  # a file the project was read from → its part
    functions: Mapping[Path, str]  # a function's source folder → its logical id
    ignored: tuple[Path, ...] = ()  # the emulator's own output (its cache, --data-dir, --failure-log)

    @classmethod
    def of(cls, project: Project, settings: Settings | None = None) -> WatchMap:
        """The map of `project`: its template, schema, resolver code, mapping templates and function sources."""
        from .config.lambda_functions import cache_root

        files: dict[Path, str] = {}

        def add(path: Path | None, part: str) -> None:
            if path is not None:
                files.setdefault(path.resolve(), part)

        template = project.template_path.resolve()
        add(template, TEMPLATE)
        for api in project.apis:
            add(api.schema_origin.file, SCHEMA)
            for code, part in _code_files(api):
                add(code, part)
        ignored = [cache_root(project.template_path).resolve()]
        functions: dict[Path, str] = {}
        for fn in project.functions.values():
            folder = (fn.source_dir or fn.code_dir).resolve()
            if not any(_under(folder, cache) for cache in ignored):  # inline code unpacked into the cache
                functions[folder] = fn.logical_id
        if settings is not None:
            ignored += [p.resolve() for p in (settings.data_dir, settings.failure_log) if p is not None]
        candidates = [template.parent, *(p.parent for p in files), *functions]
        roots: list[Path] = []
        for folder in sorted(set(candidates), key=lambda p: len(p.parts)):
            if not any(_under(folder, root) for root in roots):
                roots.append(folder)
        return cls(tuple(roots), files, functions, tuple(ignored))

    def wants(self, path: Path) -> bool:
        """Whether a change to `path` may matter: not an editor's temporary file, not under an ignored folder."""
        if _is_editor_file(path.name):
            return False
        if any(_under(path, folder) for folder in self.ignored):
            return False
        root = next((r for r in self.roots if _under(path, r)), None)
        parts = path.relative_to(root).parts if root is not None else path.parts
        return not any(part in IGNORED_DIRS for part in parts)  # the folder itself too (a new `__pycache__`)

    def classify(self, paths: Iterable[Path], *, after_failure: bool = False) -> Change:
        """The parts `paths` touch. After a refused reload any file counts (the fix may add one the map lacks)."""
        parts: set[str] = set()
        functions: set[str] = set()
        for raw in paths:
            path = raw.resolve()
            if not self.wants(path):
                continue
            part = self.files.get(path)
            if part is None:
                owner = next((fid for folder, fid in self.functions.items() if _under(path, folder)), None)
                if owner is not None:
                    functions.add(owner)
                    part = f"function {owner}"
                elif path.suffix in TEMPLATE_SUFFIXES or after_failure:
                    part = TEMPLATE if path.suffix in TEMPLATE_SUFFIXES else "files"
            if part is not None:
                parts.add(part)
        return Change(tuple(sorted(parts)), frozenset(functions))


def _code_files(api: GraphQLApi) -> list[tuple[Path, str]]:
    """The files of the API's resolvers and pipeline functions: APPSYNC_JS code and VTL mapping templates."""
    found: list[tuple[Path, str]] = []
    units: list[Resolver | PipelineFunction] = [*api.resolvers, *api.functions.values()]
    for unit in units:
        if unit.code is not None:
            found.append((unit.code.path, RESOLVER_CODE))
        found.extend((t.path, MAPPING_TEMPLATE) for t in (unit.request_template, unit.response_template) if t)
    return found


class ReloadGate:
    """One reload at a time: changes that arrive while one runs are kept and make one more reload after it."""

    def __init__(self) -> None:
        self.running = False
        self._pending: set[Path] = set()

    def offer(self, paths: Iterable[Path]) -> set[Path] | None:
        """The paths to reload for now, or None: a reload runs, and these wait for it to finish."""
        if self.running:
            self._pending.update(paths)
            return None
        self.running = True
        return set(paths)

    def done(self) -> set[Path] | None:
        """A reload finished: the paths that changed meanwhile (reload again), or None (the gate is open)."""
        if self._pending:
            pending, self._pending = self._pending, set()
            return pending
        self.running = False
        return None


def _settings_of(fn: LambdaFunction) -> dict[str, Any]:
    return {f.name: getattr(fn, f.name) for f in dataclasses.fields(fn) if f.name != "origin"}


def functions_to_restart(
    old: Mapping[str, LambdaFunction], new: Mapping[str, LambdaFunction], touched: Iterable[str]
) -> set[str]:
    """The functions whose workers must restart: source changed, settings changed (line numbers aside), or new."""
    restart = {fid for fid in touched if fid in new}
    for fid, fn in new.items():
        before = old.get(fid)
        if before is None or _settings_of(before) != _settings_of(fn):
            restart.add(fid)
    return restart


def restart_notes(old: Project, new: Project, *, has_lambdas: bool, has_dynamodb: bool) -> list[str]:
    """What a reload does not apply (the services it keeps are built once): each needs a restart."""
    from .services import uses_dynamodb

    notes = []

    def tables(project: Project) -> dict[str, Any]:
        return {
            t.logical_id: (t.name, t.create_request, t.ttl_attribute, t.stream_view_type)
            for t in project.tables.values()
        }

    if has_dynamodb and tables(old) != tables(new):
        notes.append("the DynamoDB tables changed: restart appsync-emu to create or change them")
    elif not has_dynamodb and uses_dynamodb(new):
        notes.append("the template now uses DynamoDB: restart appsync-emu to start it")
    if not has_lambdas and new.functions:
        notes.append("the template now has Lambda functions: restart appsync-emu to start the Lambda service")

    def mappings(project: Project) -> list[Any]:
        return [dataclasses.replace(m, origin=None) for m in project.stream_mappings]  # type: ignore[arg-type]

    if mappings(old) != mappings(new):
        notes.append("the DynamoDB stream event source mappings changed: restart appsync-emu to apply them")
    return notes


def code_problems_of(project: Project) -> list[str]:
    """Resolver code and function handlers that do not load, as `validate` lists them (`code_problems`)."""
    from . import runtimes
    from .lambdas.runtimes import code_problems

    errors, _lint = runtimes.check(project.api)
    return [str(e) for e in errors] + code_problems(project)


def still_valid(schema: GraphQLSchema, spec: SubscriptionSpec) -> bool:
    """Whether a running subscription's document validates against the new schema."""
    from graphql import validate

    return not validate(schema, spec.document)


def _wrapped(app: object, kind: type[T]) -> list[T]:
    """`app` if it is a `kind`, or the `kind` inside the wrappers around it (the explorer's keeps it in `.app`)."""
    for _ in range(8):
        if isinstance(app, kind):
            return [app]
        app = getattr(app, "app", None)
    return []


class ReloadRejected(Exception):
    """The edit does not load: `problems` in `validate`'s words; the last good version keeps serving."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__(f"{len(problems)} problem(s)")
        self.problems = problems


@dataclass
class _Prepared:
    emulator: Emulator
    code_problems: set[str]
    map: WatchMap
    elapsed_s: float


@dataclass
class Reloader:
    """Watches `emulator`'s project and hot-reloads it; `template` is what `serve` was given (file or folder)."""

    emulator: Emulator
    template: Path
    map: WatchMap = field(init=False)
    gate: ReloadGate = field(default_factory=ReloadGate)
    #: Reloads that took effect, and those refused (with the last refusal's problems): for logs and tests.
    reloads: int = 0
    refusals: int = 0
    problems: list[str] = field(default_factory=list)
    _accepted: set[str] = field(default_factory=set)  # code problems the serving version already had
    _failed: bool = False
    _stop: asyncio.Event | None = None
    _watcher: asyncio.Task[None] | None = None
    _stopped: list[asyncio.Task[None]] = field(default_factory=list)  # watchers of earlier roots, ending
    _reloading: asyncio.Task[None] | None = None
    _retired: list[tuple[float, Any]] = field(default_factory=list)  # (when, runtime) to close

    def __post_init__(self) -> None:
        self.map = WatchMap.of(self.emulator.project, self.emulator.settings)

    # --- watching ------------------------------------------------------------------------------
    async def start(self) -> None:
        """Begin watching (on the server's loop); returns once changes from now on are seen."""
        try:
            self._accepted = set(await asyncio.to_thread(code_problems_of, self.emulator.project))
        except Exception as err:  # the serving version's problems are only a baseline: reload without one
            log.warning("hot reload: could not list the project's code problems: %s", err)
        self._stop = asyncio.Event()
        self._watcher = asyncio.get_running_loop().create_task(self._watch(self._stop, self.map.roots))
        # The watcher registers its folders before its first await: let the task get there.
        for _ in range(2):
            await asyncio.sleep(0)
        log.debug("watching %s for changes", ", ".join(str(r) for r in self.map.roots))

    async def _watch(self, stop: asyncio.Event, roots: tuple[Path, ...]) -> None:
        from watchfiles import awatch

        try:
            async for changes in awatch(
                *roots,
                watch_filter=lambda _change, path: self.map.wants(Path(path)),
                debounce=DEBOUNCE_MS,
                step=STEP_MS,
                stop_event=stop,
            ):
                self.changed(Path(path) for _change, path in changes)
        except Exception as err:  # never silent: the emulator keeps serving, without reloads
            log.error("hot reload stopped: watching %s failed: %s", ", ".join(map(str, roots)), err)

    def _rewatch(self) -> None:
        """The project's files moved to other folders: watch those instead."""
        if self._stop is None:
            return
        self._stop.set()
        if self._watcher is not None:
            self._stopped.append(self._watcher)
        self._stop = asyncio.Event()
        self._watcher = asyncio.get_running_loop().create_task(self._watch(self._stop, self.map.roots))

    def changed(self, paths: Iterable[Path]) -> None:
        """Files changed: reload if they belong to the project (one reload at a time, the rest after it)."""
        paths = set(paths)
        if not self.map.classify(paths, after_failure=self._failed):
            return
        batch = self.gate.offer(paths)
        if batch is not None:
            self._reloading = asyncio.get_running_loop().create_task(self._run(batch))

    async def _run(self, batch: set[Path] | None) -> None:
        while batch is not None:
            change = self.map.classify(batch, after_failure=self._failed)
            if change:
                try:
                    await self.reload(change)
                except Exception:  # a bug here must not end hot reload for the rest of the session
                    log.exception("reload failed; still serving the last good version")
            batch = self.gate.done()

    # --- reloading -----------------------------------------------------------------------------
    async def reload(self, change: Change) -> bool:
        """Load and check on a thread, then swap on the loop; False (and the problems logged) if refused."""
        log.info("%s changed: reloading", ", ".join(change.parts))
        try:
            prepared = await asyncio.to_thread(self._prepare)
        except ReloadRejected as rejected:
            self.refusals += 1
            self._failed = True
            self.problems = rejected.problems
            for problem in rejected.problems:
                log.error("%s", problem)
            log.error(
                "reload refused: %d problem(s) found; still serving the last good version", len(rejected.problems)
            )
            return False
        self._swap(prepared, change)
        return True

    def _prepare(self) -> _Prepared:
        """Everything that reads files or runs tools (on a thread): load, check, build, assemble."""
        from .app import build_emulator, load
        from .schema import build_appsync_schema

        started = time.monotonic()
        running = self.emulator
        try:
            project, gaps = load(self.template, running.endpoints, running.settings)
        except ConfigErrors as errs:
            raise ReloadRejected([str(e) for e in errs.errors]) from None
        problems: list[str] = []
        for api in project.apis[:1]:
            try:
                build_appsync_schema(api.schema_sdl, api.schema_origin)
            except ConfigErrors as errs:
                problems += [str(e) for e in errs.errors]
            except ConfigError as err:
                problems.append(str(err))
        code = code_problems_of(project)
        problems += [p for p in code if p not in self._accepted]  # what was already broken is no news
        if problems:
            raise ReloadRejected(problems)
        if project.functions:
            from .lambdas.build import build_functions

            try:
                build_functions(project)
            except ConfigErrors as errs:
                raise ReloadRejected([str(e) for e in errs.errors]) from None
        try:
            fresh = build_emulator(
                self.template, running.endpoints, running.settings, loaded=(project, gaps), services=running.services
            )
        except ConfigErrors as errs:
            raise ReloadRejected([str(e) for e in errs.errors]) from None
        return _Prepared(fresh, set(code), WatchMap.of(project, running.settings), time.monotonic() - started)

    def _swap(self, prepared: _Prepared, change: Change) -> None:
        """Put the new parts behind the running front door: one synchronous step on the loop."""
        from .app import Emulator
        from .transport.front import FrontDoor
        from .transport.http import GraphQLHttpEndpoint

        old, fresh = self.emulator, prepared.emulator
        services = old.services
        notes = restart_notes(
            old.project,
            fresh.project,
            has_lambdas=services.lambdas is not None,
            has_dynamodb=services.dynamodb is not None,
        )
        # The new engine publishes to the registry that holds the open subscriptions.
        fresh.engine.pubsub = old.pubsub
        old.pubsub.projector = fresh.pubsub.projector
        realtime = old.realtime
        realtime.engine = fresh.engine
        realtime.authorizer = fresh.realtime.authorizer
        realtime.origins = fresh.realtime.origins
        assert isinstance(old.app, FrontDoor) and isinstance(fresh.app, FrontDoor)
        tables: dict[str, dict[str, Any]] = {}
        for kind, table in fresh.app.tables.items():
            tables[kind] = {}
            for path, app in table.items():
                if app is fresh.realtime:
                    app = realtime  # the same endpoint: its connections stay open
                for http in _wrapped(app, GraphQLHttpEndpoint):
                    http.fanout_pending = realtime.flusher.has_pending  # the flusher the connections use
                tables[kind][path] = app
        old.app.tables = tables
        old.app.fallback = fresh.app.fallback
        restarted: set[str] = set()
        if services.lambdas is not None:
            restarted = functions_to_restart(old.project.functions, fresh.project.functions, change.functions)
            services.lambdas.update(fresh.project.functions, restarted)
            if services.invoker is not None:
                services.invoker.update_functions(fresh.project.functions)
        retired = list(old.runtimes.values())
        keep = {"endpoints", "settings", "app", "pubsub", "realtime", "services", "_background"}
        for f in dataclasses.fields(Emulator):
            if f.name not in keep:
                setattr(old, f.name, getattr(fresh, f.name))
        schema = fresh.engine.schema
        ended = old.pubsub.retain(lambda spec: still_valid(schema, spec))
        self._retire_runtimes(retired)
        if restarted and old.settings.prewarm_functions:
            old.prewarm()
        roots = self.map.roots
        self.map = prepared.map
        self._accepted = prepared.code_problems
        self._failed = False
        self.problems = []
        self.reloads += 1
        for note in notes:
            log.warning("not reloaded: %s", note)
        details = [f"{ended} subscription(s) the new schema does not allow ended"] if ended else []
        if restarted:
            details.append(f"functions restarted: {', '.join(sorted(restarted))}")
        log.info("reloaded in %d ms%s", prepared.elapsed_s * 1000, f" ({'; '.join(details)})" if details else "")
        if prepared.map.roots != roots:
            self._rewatch()

    def _retire_runtimes(self, runtimes: list[Any]) -> None:
        """Close the replaced resolver runtimes once the requests that may still use them are over."""
        loop = asyncio.get_running_loop()
        grace = self.emulator.settings.request_timeout_s + 1
        self._retired += [(loop.time() + grace, runtime) for runtime in runtimes]
        loop.call_later(grace, self._close_due)

    def _close_due(self) -> None:
        now = asyncio.get_running_loop().time()
        due = [r for when, r in self._retired if when <= now]
        self._retired = [(when, r) for when, r in self._retired if when > now]
        for runtime in due:
            runtime.close()

    async def aclose(self) -> None:
        """Stop watching, wait for a reload under way, close the replaced runtimes."""
        if self._stop is not None:
            self._stop.set()
        if self._reloading is not None and not self._reloading.done():
            self._reloading.cancel()  # a build on its thread ends on its own; its result is not used
        for task in [*self._stopped, self._watcher, self._reloading]:
            if task is not None and not task.done():
                try:
                    await asyncio.wait_for(task, 5)
                except (TimeoutError, asyncio.CancelledError):
                    pass
                except Exception as err:
                    log.warning("hot reload did not stop cleanly: %s", err)
        for _when, runtime in self._retired:
            runtime.close()
        self._retired = []
