"""Assembling the parts into one ASGI app for one template.

`build_emulator` is the only place that knows every package: it loads the template into the
model, asks `support.find_gaps` what cannot run, builds the schema, the resolver runtimes,
the services, the data sources, the engine, auth and the transports, and sets out the front
door's table: AppSync's paths to their endpoints, everything else (the Bedrock Runtime wire
endpoint, the emulator's own `/_emu` routes, the demo page) to a Starlette app.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.routing import BaseRoute, Mount, Route

from . import limits
from .auth.authorizer import Authorizer, jwt_modes
from .auth.directives import field_rules
from .auth.issuers import Issuers
from .auth.lambda_ import LambdaAuthorizer
from .auth.routes import describe_pools, issuer_routes
from .config.model import AuthMode, ConfigError, ConfigErrors, GraphQLApi, LocalEndpoints, Project
from .dashboard import dashboard_routes
from .endpoints import UnservedAwsCalls
from .engine.engine import Engine
from .engine.projection import Projector
from .engine.resolvers import ResolverRunner, build_plans
from .pubsub.registry import PubSub
from .runtimes.base import ResolverRuntime
from .services import Services
from .settings import Settings
from .support import Gap, find_gaps
from .transport.front import REALTIME_PATHS, ASGIApp, FrontDoor
from .transport.http import GraphQLHttpEndpoint
from .transport.origins import EmulatorRoutesGuard, OriginPolicy
from .transport.realtime import RealtimeEndpoint

if TYPE_CHECKING:
    from .auth.cognito_idp import CognitoIdp
    from .dynamodb.engine import DynamoDBService

log = logging.getLogger("appsync_emu")


@dataclass
class Emulator:
    """One running API: the ASGI app plus the parts and services it owns."""

    project: Project
    endpoints: LocalEndpoints
    settings: Settings
    app: ASGIApp
    engine: Engine
    pubsub: PubSub
    realtime: RealtimeEndpoint
    runtimes: dict[str, ResolverRuntime]
    services: Services
    gaps: list[Gap] = field(default_factory=list)
    demo_dir: Path | None = None
    #: The local token issuers: one per Cognito user pool and OIDC provider (`auth/issuers.py`).
    issuers: Issuers = field(default_factory=Issuers)
    #: The Cognito endpoint (sign-in for the user pools), when the template has a pool (`auth/cognito_idp.py`).
    cognito: CognitoIdp | None = None
    _background: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def api(self) -> GraphQLApi:
        return self.project.api

    @property
    def api_keys(self) -> list[str]:
        """The values that open the API with API_KEY auth (none when the API does not use it)."""
        if AuthMode.API_KEY not in self.api.auth_modes:
            return []
        return [k.value for k in self.api.api_keys if k.value]

    def prewarm(self) -> None:
        """Start one worker per runnable function in the background (call on the server's loop)."""
        lambdas = self.services.lambdas
        if lambdas is None:
            return
        from .lambdas.runtimes import runtime_for

        for function in self.project.functions.values():
            if runtime_for(function) is None:
                continue  # listed under "not emulated"; nothing to start
            task = asyncio.get_running_loop().create_task(self._warm(function.logical_id))
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    async def _warm(self, logical_id: str) -> None:
        assert self.services.lambdas is not None
        try:
            await self.services.lambdas.warm(logical_id)
        except Exception as err:  # a pre-warm is a courtesy: the first invocation reports the problem
            log.warning("could not pre-warm %s: %s", logical_id, err)

    async def aclose(self) -> None:
        """Stop background work (the async queue records what it could not finish), then the runtimes."""
        for task in list(self._background):
            task.cancel()
        await self.services.aclose(self.settings.shutdown_grace_s)
        for runtime in self.runtimes.values():
            runtime.close()


def load(template: Path, endpoints: LocalEndpoints, settings: Settings) -> tuple[Project, list[Gap]]:
    """The project and what of it cannot run; `ConfigErrors` lists every problem (and, with `strict`, every gap)."""
    from .config.loader import load_project

    project = load_project(
        template,
        endpoints,
        parameter_overrides=settings.parameter_overrides or None,
        api_key_override=settings.api_key,
    )
    gaps = find_gaps(project, settings.endpoint_overrides)
    blocking = [g for g in gaps if g.blocking]
    if settings.strict and blocking:
        raise ConfigErrors([ConfigError(g.message, g.origin) for g in blocking])
    return project, gaps


def build_emulator(
    template: Path,
    endpoints: LocalEndpoints,
    settings: Settings,
    *,
    loaded: tuple[Project, list[Gap]] | None = None,
    services: Services | None = None,
) -> Emulator:
    """Load `template` and assemble the emulator; raises `ConfigErrors` listing every problem.

    A hot reload (`reload.py`) passes the project it has already `load`ed and checked, and the
    running emulator's `services` (DynamoDB's data, the async queue and its journal, the workers),
    which are then kept instead of built.
    """
    from .runtimes import build_runtimes
    from .schema import build_appsync_schema

    project, gaps = loaded or load(template, endpoints, settings)
    api = project.api
    schema = build_appsync_schema(api.schema_sdl, api.schema_origin)
    for warning in project.warnings:
        log.warning("%s", warning)
    for gap in gaps:
        log.warning("not emulated: %s", gap)
    runtimes = build_runtimes(api, settings)
    for runtime in runtimes.values():
        for err in runtime.load_errors.values():
            log.warning("resolver code does not load; its field will answer with this error: %s", err)
    services = services or Services.build(project, endpoints, settings)
    from .datasources import build_data_sources

    data_sources = build_data_sources(api, project, services)
    runner = ResolverRunner(
        api.environment, resolver_count_limit=api.resolver_count_limit or limits.MAX_RESOLVERS_PER_REQUEST
    )
    projector = Projector(lambda: build_appsync_schema(api.schema_sdl, api.schema_origin))
    pubsub = PubSub(projector.project, max_payload_bytes=settings.max_subscription_payload_bytes)
    engine = Engine(
        schema,
        runner,
        build_plans(api, data_sources, runtimes),
        field_rules(schema, api),
        pubsub,
        request_timeout_s=settings.request_timeout_s,
        null_arguments_filter=settings.subscription_null_argument != "ignore",
        introspection=api.introspection,
        query_depth_limit=api.query_depth_limit,
    )
    issuers = Issuers.from_project(project, endpoints)
    try:
        token_modes = jwt_modes(api, issuers, jwks=settings.jwks, trust_unverified=settings.trust_unverified_tokens)
    except ValueError as err:
        raise ConfigErrors([ConfigError(f"--jwks: {err}")]) from None
    authorizer = Authorizer(
        api,
        {k.value: k for k in api.api_keys if k.value},
        settings.iam_credentials,
        region=project.region,
        endpoints=endpoints,
        jwt_modes=token_modes,
        lambda_authorizer=LambdaAuthorizer.for_project(project, services.lambdas),
    )
    origins = OriginPolicy(settings.allow_origins)
    from .auth.cognito_users import UsersError, cognito_endpoint

    try:
        cognito, cognito_routes = cognito_endpoint(
            project, issuers, origins, users_file=settings.users_file, users=settings.users
        )
    except UsersError as err:
        raise ConfigErrors([ConfigError(str(err))]) from None
    realtime = RealtimeEndpoint(
        engine,
        authorizer,
        pubsub,
        origins=origins,
        keepalive_s=settings.keepalive_s,
        connection_timeout_ms=settings.connection_timeout_ms,
        max_subscriptions=settings.max_subscriptions,
        max_pending=settings.max_pending_frames,
        max_pending_bytes=settings.max_pending_bytes,
        stall_timeout_s=settings.subscriber_stall_timeout_s,
    )
    http = GraphQLHttpEndpoint(engine, authorizer, fanout_pending=realtime.flusher.has_pending)
    observer = services.observer  # the live page at /_emu/ (dashboard/): each part reports to it
    runner.observer = pubsub.observer = http.observer = observer
    if services.invoker is not None:
        services.invoker.observer = observer
    if services.lambdas is not None:
        services.lambdas.on_log_line = observer.function_line
    demo = project.template_path.parent / "demo"
    demo_dir = demo if settings.demo and demo.is_dir() else None
    routes: dict[tuple[str, str], ASGIApp] = {("http", "/graphql"): http}
    routes.update({("websocket", path): realtime for path in REALTIME_PATHS})
    starlette = Starlette(
        routes=[
            *cognito_routes,  # `POST /` with Cognito's X-Amz-Target: the user pools' sign-in
            *extra_routes(project, endpoints, services, demo_dir, settings.iam_credentials, issuers),
            *dashboard_routes(observer, origins),
        ]
    )
    # Where no route matched: an AWS SDK call for a service nothing serves answers NotEmulated.
    starlette.router.default = UnservedAwsCalls(starlette.router.not_found)
    fallback = EmulatorRoutesGuard(starlette, origins)
    from .explorer import for_browsers

    # A browser's page load of `/` or `/graphql` gets the explorer; API clients, AppSync's answers.
    routes[("http", "/graphql")] = for_browsers(http)
    routes[("http", "/")] = for_browsers(fallback)
    return Emulator(
        project,
        endpoints,
        settings,
        FrontDoor(routes, fallback),
        engine,
        pubsub,
        realtime,
        runtimes,
        services,
        gaps,
        demo_dir,
        issuers,
        cognito,
    )


def extra_routes(
    project: Project,
    endpoints: LocalEndpoints,
    services: Services,
    demo_dir: Path | None,
    iam_credentials: dict[str, str],
    issuers: Issuers | None = None,
) -> list[BaseRoute]:
    """Routes beyond AppSync's own: Bedrock Runtime's wire, `/_emu/*`, and the demo page."""
    from starlette.responses import JSONResponse
    from starlette.staticfiles import StaticFiles

    from .auth.sigv4 import SESSION_TOKENS
    from .llm.routes import llm_routes
    from .llm.wire import bedrock_routes

    routes: list[BaseRoute] = list(bedrock_routes(services.llm, credentials=iam_credentials))
    routes.extend(llm_routes(services.llm))
    if services.invoker is not None:
        from .invoker.routes import invocation_routes

        routes.extend(invocation_routes(services.invoker))
    api = project.api
    keys = [k.value for k in api.api_keys if k.value] if AuthMode.API_KEY in api.auth_modes else []
    iam: dict[str, str | None] | None = None
    if AuthMode.AWS_IAM in api.auth_modes:
        access_key, secret = next(iter(iam_credentials.items()))
        iam = {"accessKeyId": access_key, "secretAccessKey": secret, "sessionToken": SESSION_TOKENS.get(access_key)}

    async def config(_request: Any) -> JSONResponse:
        body: dict[str, Any] = {
            "apiName": api.name,
            "graphqlUrl": endpoints.graphql_url,
            "realtimeUrl": endpoints.realtime_url,
            "apiKeys": keys,
            "iamCredentials": iam,
            "region": project.region,  # what SigV4 signs for (the explorer's IAM mode)
            "bedrockUrl": endpoints.bedrock_url,
        }
        if issuers is not None and len(issuers):
            body["userPools"], body["oidcProviders"] = describe_pools(issuers)
            if body["userPools"]:  # the Cognito endpoint (auth/cognito_idp.py): Amplify's `userPoolEndpoint`
                body["cognitoEndpoint"] = endpoints.base_url
                for pool in body["userPools"]:
                    pool["cognitoEndpoint"] = endpoints.base_url
        if services.dynamodb is not None:
            body["dynamodb"] = await dynamodb_config(services.dynamodb)
        return JSONResponse(body)

    routes.append(Route("/_emu/config", config))
    routes.extend(issuer_routes(issuers or Issuers()))
    from .explorer import asset_routes

    routes.append(asset_routes())
    if demo_dir is not None:
        routes.append(Mount("/demo", app=StaticFiles(directory=demo_dir, html=True)))
    return routes


async def dynamodb_config(dynamodb: DynamoDBService) -> dict[str, Any]:
    """DynamoDB's endpoint (once the engine answers) and tables, by logical id, for `/_emu/config`."""
    from .dynamodb.api import DynamoDBError

    error = None
    try:
        await dynamodb.ready()
    except DynamoDBError as err:
        error = err.message
    return {
        "endpointUrl": dynamodb.url,
        "engine": dynamodb.description,
        "tables": {lid: table.name for lid, table in dynamodb.tables.items()},
        **({"error": error} if error else {}),
    }
