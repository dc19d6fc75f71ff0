"""The long-lived services one emulator owns and its data sources and routes share.

Built once per emulator from the project and settings: the LLM backend behind the Bedrock
Runtime endpoint always, the Lambda service and its async queue when the API uses functions,
DynamoDB (the embedded engine, or `--dynamodb-endpoint`) when the template has tables or
AMAZON_DYNAMODB data sources. `aclose` stops them in the order that loses nothing: the async
queue first (it records what it could not finish), then the workers, then DynamoDB (functions
and queued invocations may use it until then; the engine closes its store last), then the LLM
backend and the outbound client.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .config.model import ConfigError, ConfigErrors, LocalEndpoints, Project
from .endpoints import Credentials, EndpointRouter, Outbound, aws_service, sdk_env_names, served_endpoints
from .observe import Observer
from .settings import DEFAULT_SESSION_TOKEN, Settings

if TYPE_CHECKING:
    from .dynamodb.engine import DynamoDBService
    from .invoker.queue import AsyncInvoker
    from .invoker.stream_poller import StreamPollers
    from .lambdas.service import LambdaService
    from .llm.base import LLMBackend


def injected_environment(project: Project, endpoints: LocalEndpoints, settings: Settings) -> dict[str, str]:
    """What the emulator adds to every function's environment (documented in the README).

    The standard AWS variables point the function's boto3 at the emulator: Bedrock Runtime
    through `AWS_ENDPOINT_URL_BEDROCK_RUNTIME`, and dummy credentials that the API accepts for
    SigV4. The API's own URLs are also given under `APPSYNC_EMU_*` names, for functions whose
    template does not pass `!GetAtt Api.GraphQLUrl` in their Environment. `AWS_ENDPOINT_URL` sends
    every other AWS call to the emulator, which answers `NotEmulated` naming the service and the
    operation (`endpoints.UnservedAwsCalls`); each `--endpoint-override` of an AWS endpoint points
    that service's variable at its stand-in. Service variables win over the global one in both SDKs.
    `--dynamodb-endpoint` is DynamoDB's (the embedded engine's URL is added once it answers:
    `dynamodb_environment`).
    """
    access_key, secret = next(iter(settings.iam_credentials.items()))
    env = {
        "AWS_REGION": project.region,
        "AWS_DEFAULT_REGION": project.region,
        "AWS_ACCESS_KEY_ID": access_key,
        "AWS_SECRET_ACCESS_KEY": secret,
        "AWS_SESSION_TOKEN": DEFAULT_SESSION_TOKEN,
        "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": endpoints.bedrock_url,
        "APPSYNC_EMU_GRAPHQL_URL": endpoints.graphql_url,
        "APPSYNC_EMU_REALTIME_URL": endpoints.realtime_url,
        "AWS_ENDPOINT_URL": endpoints.base_url,
    }
    if settings.dynamodb_endpoint and uses_dynamodb(project):
        env.update(dynamodb_environment(settings.dynamodb_endpoint))
    for host, url in settings.endpoint_overrides.items():
        service = aws_service(host)
        for name in sdk_env_names(service) if service else ():
            env[f"AWS_ENDPOINT_URL_{name}"] = url
    return env


def dynamodb_environment(url: str) -> dict[str, str]:
    """The variables that point functions' DynamoDB and DynamoDB Streams clients (boto3, JS SDK v3) at `url`."""
    return {"AWS_ENDPOINT_URL_DYNAMODB": url, "AWS_ENDPOINT_URL_DYNAMODB_STREAMS": url}


def uses_dynamodb(project: Project) -> bool:
    """Whether the template has DynamoDB tables, AMAZON_DYNAMODB data sources or HTTP ones on
    DynamoDB's endpoint (then DynamoDB runs)."""
    from .datasources.http import calls_dynamodb

    return bool(project.tables) or any(
        source.type == "AMAZON_DYNAMODB" or calls_dynamodb(source)
        for api in project.apis
        for source in api.data_sources.values()
    )


def build_dynamodb(project: Project, settings: Settings) -> DynamoDBService:
    """DynamoDB for the template: the embedded engine spawned now (it answers while the server starts), or the
    user's endpoint. `ConfigErrors` says what stops it (no node, an install that failed, a bad seed file).
    """
    from .dynamodb.client import DynamoDBSetupError
    from .dynamodb.engine import DynamoDBService, EngineProcess, load_seeds
    from .lambdas.packages import InstallError

    try:
        seeds = load_seeds(settings.dynamodb_seed, project.tables) if settings.dynamodb_seed else None
        if settings.dynamodb_endpoint:
            return DynamoDBService(
                project.tables,
                region=project.region,
                endpoint=settings.dynamodb_endpoint,
                create_tables=settings.dynamodb_create_tables,
                seeds=seeds,
            )
        engine = EngineProcess(settings.data_dir / "dynamodb" if settings.data_dir else None)
        engine.spawn()
    except (DynamoDBSetupError, InstallError) as err:
        raise ConfigErrors([ConfigError(str(err))]) from None
    return DynamoDBService(project.tables, region=project.region, engine=engine, seeds=seeds)


@dataclass
class Services:
    """The LLM backend; the Lambda service and async queue for functions; DynamoDB for tables."""

    llm: LLMBackend
    outbound: Outbound | None = None  # HTTP data sources' router, credentials and client
    lambdas: LambdaService | None = None
    invoker: AsyncInvoker | None = None
    streams: StreamPollers | None = None  # DynamoDB stream event source mappings
    dynamodb: DynamoDBService | None = None
    observer: Observer = field(default_factory=Observer)  # the live page's record; kept across hot reloads

    @classmethod
    def build(cls, project: Project, endpoints: LocalEndpoints, settings: Settings) -> Services:
        """Build the functions (`ConfigErrors` if one fails), start nothing: workers start on the first invocation."""
        from .llm.factory import make_backend

        access_key, secret = next(iter(settings.iam_credentials.items()))
        outbound = Outbound(
            EndpointRouter(served_endpoints(endpoints), settings.endpoint_overrides),
            Credentials(access_key, secret, DEFAULT_SESSION_TOKEN),
        )
        # First, so the engine starts while the functions build and the server starts.
        dynamodb = build_dynamodb(project, settings) if uses_dynamodb(project) else None
        if project.functions:
            from .lambdas.build import build_functions

            try:
                build_functions(project)  # before serving, so never while the event loop serves anyone
            except BaseException:
                if dynamodb is not None and dynamodb.engine is not None:
                    dynamodb.engine.terminate()
                raise
        services = cls(make_backend(settings.llm, **settings.llm_settings), outbound=outbound, dynamodb=dynamodb)
        if dynamodb is not None:
            dynamodb.start()
        if project.functions:
            from .invoker.queue import AsyncInvoker, InvokerSettings
            from .lambdas.service import LambdaService

            services.lambdas = LambdaService(
                project.functions,
                injected_env=injected_environment(project, endpoints, settings),
                late_env=services._dynamodb_env if dynamodb is not None and dynamodb.engine is not None else None,
                max_concurrency=settings.lambda_max_concurrency,
            )
            import os

            journal = None
            if settings.async_journal and os.environ.get("APPSYNC_EMU_ASYNC_JOURNAL", "1") != "0":
                from .config.lambda_functions import cache_root
                from .invoker.journal import Journal

                journal = Journal.open(cache_root(project.template_path))
            services.invoker = AsyncInvoker(
                services.lambdas,
                project.functions,
                InvokerSettings(retry_delays_s=settings.lambda_retry_delays_s, failure_log=settings.failure_log),
                journal=journal,
            )
            services.invoker.recover()
        if project.stream_mappings and services.dynamodb is not None and services.lambdas is not None:
            from .invoker.stream_poller import PollerSettings, StreamPollers

            services.streams = StreamPollers.build(
                project.stream_mappings,
                project.tables,
                project.functions,
                services.dynamodb,
                services.lambdas,
                PollerSettings(failure_log=settings.failure_log),
            )
            services.streams.start()  # each poller waits for its table's stream
        return services

    async def _dynamodb_env(self) -> dict[str, str]:
        """The embedded engine's URL for functions, once it answers (none if it did not start: that is logged)."""
        from .dynamodb.api import DynamoDBError

        assert self.dynamodb is not None
        try:
            return dynamodb_environment(await self.dynamodb.ready())
        except DynamoDBError:
            return {}

    async def aclose(self, grace_s: float) -> None:
        """Stop background work without losing any: queue (records the unfinished), workers, DynamoDB, LLM."""
        if self.streams is not None:
            await self.streams.aclose()  # streams invoke nothing more while the rest stops
        if self.invoker is not None:
            # After the grace the invoker stops the workers itself, so attempts that answer meanwhile count.
            await self.invoker.shutdown(grace_s, stop_workers=self.lambdas.aclose if self.lambdas is not None else None)
        if self.lambdas is not None:
            await self.lambdas.aclose()
        if self.dynamodb is not None:
            await self.dynamodb.aclose()
        await self.llm.aclose()
        if self.outbound is not None:
            await self.outbound.aclose()
