"""Assembling the parts into one ASGI app for one template.

`build_emulator` is the only place that knows every package: it loads the template into
the model, builds the schema, the resolver runtime, the data sources, the engine, auth and
the transports, and mounts the routes AppSync clients expect (plus the Bedrock Runtime wire
endpoint and the emulator's own `/_emu` routes, which no AppSync client ever calls).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute

from .auth.authorizer import Authorizer
from .auth.directives import field_rules
from .config.model import (
    ConfigError,
    ConfigErrors,
    GraphQLApi,
    LocalEndpoints,
    Project,
)
from .datasources.base import DataSource, DataSourceCall, DataSourceResult
from .datasources.none import NoneDataSource
from .engine.engine import Engine
from .engine.resolvers import FunctionPlan, ResolverPlan, ResolverRunner, handler_module_id
from .pubsub.registry import PubSub
from .runtimes.base import ResolverRuntime
from .settings import DEFAULT_SESSION_TOKEN, Settings
from .transport.http import GraphQLHttpEndpoint
from .transport.realtime import RealtimeEndpoint

log = logging.getLogger("appsync_emu")


class UnsupportedDataSource:
    """A data source type the emulator does not run yet: every call is a clear field error."""

    def __init__(self, name: str, type_: str) -> None:
        self.name = name
        self.type = type_

    async def invoke(self, request: Any, call: DataSourceCall) -> DataSourceResult:
        return DataSourceResult(
            None,
            {
                "message": f"data source {self.name} of type {self.type} is not emulated yet",
                "type": "DataSourceNotEmulated",
            },
        )


def collect_modules(api: GraphQLApi) -> dict[str, Any]:
    """Every APPSYNC_JS module of the API, keyed by the id the resolver plans use."""
    modules: dict[str, Any] = {}
    for r in api.resolvers:
        if r.code is not None and (r.runtime or "APPSYNC_JS") == "APPSYNC_JS":
            modules[handler_module_id("resolver", f"{r.type_name}.{r.field_name}")] = r.code
    for fn in api.functions.values():
        if fn.code is not None and fn.runtime == "APPSYNC_JS":
            modules[handler_module_id("function", fn.name)] = fn.code
    return modules


def build_plans(api: GraphQLApi, data_sources: dict[str, DataSource]) -> tuple[list[ResolverPlan], list[ConfigError]]:
    """A resolver plan per resolver of the model, and what cannot be run."""
    plans: list[ResolverPlan] = []
    problems: list[ConfigError] = []
    none = NoneDataSource()
    for r in api.resolvers:
        rid = handler_module_id("resolver", f"{r.type_name}.{r.field_name}")
        if r.kind == "PIPELINE":
            fns: list[FunctionPlan] = []
            for name in r.functions:
                fn = api.functions.get(name)
                if fn is None:
                    problems.append(ConfigError(f"pipeline function {name!r} is not defined", r.origin))
                    continue
                ds = data_sources.get(fn.data_source, none)
                fid = handler_module_id("function", fn.name) if fn.code is not None else None
                if fn.code is None:
                    problems.append(
                        ConfigError(
                            f"function {fn.name!r} has no APPSYNC_JS code (VTL is not supported yet)",
                            fn.origin,
                        )
                    )
                fns.append(FunctionPlan(fn.name, fid, ds, fn.max_batch_size))
            plans.append(
                ResolverPlan(
                    r.type_name, r.field_name, "PIPELINE", rid if r.code else None, None, fns, r.max_batch_size
                )
            )
            continue
        ds_name = r.data_source or "NONE"
        unit_ds = data_sources.get(ds_name)
        if unit_ds is None:
            problems.append(ConfigError(f"data source {ds_name!r} is not defined", r.origin))
            continue
        if r.code is None:
            dsm = api.data_sources.get(ds_name)
            if dsm is not None and dsm.type == "AWS_LAMBDA" and r.request_template is None:
                plans.append(
                    ResolverPlan(
                        r.type_name, r.field_name, "DIRECT_LAMBDA", None, unit_ds, max_batch_size=r.max_batch_size
                    )
                )
            else:
                problems.append(
                    ConfigError(
                        f"resolver {r.type_name}.{r.field_name} has no APPSYNC_JS code (VTL is not supported yet)",
                        r.origin,
                    )
                )
            continue
        plans.append(ResolverPlan(r.type_name, r.field_name, "UNIT", rid, unit_ds, max_batch_size=r.max_batch_size))
    return plans, problems


@dataclass
class Emulator:
    """One running API: the ASGI app plus the services it owns."""

    project: Project
    endpoints: LocalEndpoints
    settings: Settings
    app: Starlette
    engine: Engine
    pubsub: PubSub
    runtime: ResolverRuntime
    services: dict[str, Any] = field(default_factory=dict)
    _background: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def api(self) -> GraphQLApi:
        return self.project.api

    @property
    def api_keys(self) -> list[str]:
        return [k.value for k in self.api.api_keys if k.value]

    def prewarm(self) -> None:
        """Start one worker per function in the background (call on the server's loop)."""
        lambdas = self.services.get("lambdas")
        if lambdas is None:
            return
        for logical_id in self.project.functions:
            task = asyncio.get_running_loop().create_task(lambdas.warm(logical_id))
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    async def aclose(self) -> None:
        """Stop background work: the async queue first (it records what it could not finish)."""
        invoker = self.services.get("invoker")
        if invoker is not None:
            await invoker.shutdown(self.settings.shutdown_grace_s)
        lambdas = self.services.get("lambdas")
        if lambdas is not None:
            await lambdas.aclose()
        llm = self.services.get("llm")
        if llm is not None:
            await llm.aclose()
        self.runtime.close()


def build_emulator(template: Path, endpoints: LocalEndpoints, settings: Settings) -> Emulator:
    """Load `template` and assemble the emulator; raises `ConfigErrors` listing every problem."""
    from .config.loader import load_project
    from .runtimes.js.runtime import JsRuntime
    from .schema import build_appsync_schema

    project = load_project(
        template,
        endpoints,
        parameter_overrides=settings.parameter_overrides or None,
        api_key_override=settings.api_key,
    )
    if not project.apis:
        raise ConfigErrors([ConfigError("the template defines no AppSync GraphQL API", None)])
    api = project.api
    schema = build_appsync_schema(api.schema_sdl, api.schema_origin)
    runtime = JsRuntime(
        collect_modules(api),
        cpu_limit_s=settings.js_cpu_limit_s,
        memory_limit=settings.js_memory_limit,
        threads=settings.js_threads,
        inline_budget_s=settings.js_inline_budget_s,
        log=lambda where, line: logging.getLogger("appsync_emu.resolver").info("[%s] %s", where, line),
        defer_load_errors=True,
    )
    for err in runtime.load_errors.values():
        log.warning("resolver code does not load; its field will answer with this error: %s", err)
    services = build_services(project, endpoints, settings)
    data_sources, problems = build_data_sources(project, services)
    plans, plan_problems = build_plans(api, data_sources)
    problems.extend(plan_problems)
    if problems:
        runtime.close()
        raise ConfigErrors(problems)
    runner = ResolverRunner(runtime, api.environment)
    engine_box: list[Engine] = []
    pubsub = PubSub(
        lambda spec, event: engine_box[0].project(spec, event),
        max_payload_bytes=settings.max_subscription_payload_bytes,
    )
    engine = Engine(
        schema,
        lambda: build_appsync_schema(api.schema_sdl, api.schema_origin),
        runner,
        plans,
        field_rules(schema, api),
        pubsub,
        request_timeout_s=settings.request_timeout_s,
        null_arguments_filter=settings.subscription_null_argument != "ignore",
    )
    engine_box.append(engine)
    keys = {k.value: k for k in api.api_keys if k.value}
    authorizer = Authorizer(api, keys, settings.iam_credentials)
    http = GraphQLHttpEndpoint(engine, authorizer)
    realtime = RealtimeEndpoint(
        engine,
        authorizer,
        pubsub,
        keepalive_s=settings.keepalive_s,
        connection_timeout_ms=settings.connection_timeout_ms,
        max_subscriptions=settings.max_subscriptions,
        max_pending=settings.max_pending_frames,
    )
    routes: list[BaseRoute] = [
        Route("/graphql", http.handle, methods=["POST", "OPTIONS", "GET"]),
        WebSocketRoute("/graphql", realtime),
        WebSocketRoute("/graphql/realtime", realtime),
        WebSocketRoute("/realtime", realtime),
    ]
    emulator_box: list[Emulator] = []

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        yield
        await emulator_box[0].aclose()

    app = Starlette(routes=routes, lifespan=lifespan)
    emulator = Emulator(project, endpoints, settings, app, engine, pubsub, runtime, services)
    emulator_box.append(emulator)
    app.router.routes.extend(extra_routes(emulator))
    return emulator


def function_environment(project: Project, endpoints: LocalEndpoints, settings: Settings) -> dict[str, str]:
    """What the emulator adds to every function's environment (documented in the README).

    The standard AWS variables point the function's boto3 at the emulator: Bedrock Runtime
    through `AWS_ENDPOINT_URL_BEDROCK_RUNTIME`, and dummy credentials that the API accepts for
    SigV4. The API's own URLs are also given under `APPSYNC_EMU_*` names, for functions whose
    template does not pass `!GetAtt Api.GraphQLUrl` in their Environment.
    """
    access_key, secret = next(iter(settings.iam_credentials.items()))
    return {
        "AWS_REGION": project.region,
        "AWS_DEFAULT_REGION": project.region,
        "AWS_ACCESS_KEY_ID": access_key,
        "AWS_SECRET_ACCESS_KEY": secret,
        "AWS_SESSION_TOKEN": DEFAULT_SESSION_TOKEN,
        "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": endpoints.bedrock_url,
        "APPSYNC_EMU_GRAPHQL_URL": endpoints.graphql_url,
        "APPSYNC_EMU_REALTIME_URL": endpoints.realtime_url,
    }


def build_services(project: Project, endpoints: LocalEndpoints, settings: Settings) -> dict[str, Any]:
    """The LLM backend, and the Lambda service and async queue when the template has functions."""
    from .llm.factory import make_backend

    services: dict[str, Any] = {"llm": make_backend(settings.llm, **settings.llm_settings)}
    if project.functions:
        from .invoker.queue import AsyncInvoker, InvokerSettings
        from .lambdas.service import LambdaService

        lambdas = LambdaService(
            project.functions,
            injected_env=function_environment(project, endpoints, settings),
            max_concurrency=settings.lambda_max_concurrency,
        )
        invoker_settings = InvokerSettings(
            retry_delays_s=settings.lambda_retry_delays_s, failure_log=settings.failure_log
        )
        services["lambdas"] = lambdas
        services["invoker"] = AsyncInvoker(lambdas, project.functions, invoker_settings)
    return services


def build_data_sources(project: Project, services: dict[str, Any]) -> tuple[dict[str, DataSource], list[ConfigError]]:
    """One data source object per data source of the API (NONE is always there)."""
    from .datasources.bedrock import BedrockDataSource
    from .datasources.lambda_ import LambdaDataSource

    api = project.api
    out: dict[str, DataSource] = {"NONE": NoneDataSource()}
    problems: list[ConfigError] = []
    for name, ds in api.data_sources.items():
        if ds.type == "NONE":
            out[name] = NoneDataSource()
        elif ds.type == "AWS_LAMBDA":
            fn = project.function_by_name_or_arn(ds.lambda_function or ds.lambda_arn or "")
            if fn is None or "lambdas" not in services:
                out[name] = UnsupportedDataSource(
                    name, f"AWS_LAMBDA ({ds.lambda_arn}: not a function of this template)"
                )
                continue
            out[name] = LambdaDataSource(name, fn.logical_id, services["lambdas"], services["invoker"])
        elif ds.type == "AMAZON_BEDROCK_RUNTIME":
            out[name] = BedrockDataSource(services["llm"])
        else:
            out[name] = UnsupportedDataSource(name, ds.type)
    return out, problems


def extra_routes(emulator: Emulator) -> list[BaseRoute]:
    """Routes beyond AppSync's own: Bedrock Runtime's wire, `/_emu/*`, and the demo page."""
    from starlette.responses import JSONResponse
    from starlette.staticfiles import StaticFiles

    from .llm.wire import bedrock_routes

    routes: list[BaseRoute] = list(bedrock_routes(emulator.services["llm"]))
    invoker = emulator.services.get("invoker")
    if invoker is not None:
        from .invoker.routes import invocation_routes

        routes.extend(invocation_routes(invoker))

    async def config(_request: Any) -> JSONResponse:
        ep = emulator.endpoints
        return JSONResponse(
            {
                "apiName": emulator.api.name,
                "graphqlUrl": ep.graphql_url,
                "realtimeUrl": ep.realtime_url,
                "apiKeys": emulator.api_keys,
                "bedrockUrl": ep.bedrock_url,
            },
            headers={"access-control-allow-origin": "*"},
        )

    routes.append(Route("/_emu/config", config))
    demo = emulator.project.template_path.parent / "demo"
    if emulator.settings.demo and demo.is_dir():
        emulator.services["demo"] = demo
        routes.append(Mount("/demo", app=StaticFiles(directory=demo, html=True)))
    return routes
