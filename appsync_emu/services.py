"""The long-lived services one emulator owns and its data sources and routes share.

Built once per emulator from the project and settings: the LLM backend behind the Bedrock
Runtime endpoint always, the Lambda service and its async queue when the API uses functions.
`aclose` stops them in the order that loses nothing: the async queue first (it records what
it could not finish), then the workers, then the LLM backend.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .config.model import LocalEndpoints, Project
from .endpoints import Credentials, EndpointRouter, Outbound, aws_service, sdk_env_names, served_endpoints
from .settings import DEFAULT_SESSION_TOKEN, Settings

if TYPE_CHECKING:
    from .dynamodb.api import DynamoDBApi
    from .invoker.queue import AsyncInvoker
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
    for host, url in settings.endpoint_overrides.items():
        service = aws_service(host)
        for name in sdk_env_names(service) if service else ():
            env[f"AWS_ENDPOINT_URL_{name}"] = url
    return env


@dataclass
class Services:
    """The LLM backend, and the Lambda service and async queue when the template has functions."""

    llm: LLMBackend
    outbound: Outbound | None = None  # HTTP data sources' router, credentials and client
    lambdas: LambdaService | None = None
    invoker: AsyncInvoker | None = None
    dynamodb: DynamoDBApi | None = None

    @classmethod
    def build(cls, project: Project, endpoints: LocalEndpoints, settings: Settings) -> Services:
        """Build the functions (`ConfigErrors` if one fails), start nothing: workers start on the first invocation."""
        from .llm.factory import make_backend

        if project.functions:
            from .lambdas.build import build_functions

            build_functions(project)  # before serving, so never while the event loop serves anyone
        services = cls(make_backend(settings.llm, **settings.llm_settings))
        access_key, secret = next(iter(settings.iam_credentials.items()))
        services.outbound = Outbound(
            EndpointRouter(served_endpoints(endpoints), settings.endpoint_overrides),
            Credentials(access_key, secret, DEFAULT_SESSION_TOKEN),
        )
        if project.functions:
            from .invoker.queue import AsyncInvoker, InvokerSettings
            from .lambdas.service import LambdaService

            services.lambdas = LambdaService(
                project.functions,
                injected_env=injected_environment(project, endpoints, settings),
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
        return services

    async def aclose(self, grace_s: float) -> None:
        """Stop background work without losing any: queue (records the unfinished), workers, LLM."""
        if self.invoker is not None:
            # After the grace the invoker stops the workers itself, so attempts that answer meanwhile count.
            await self.invoker.shutdown(grace_s, stop_workers=self.lambdas.aclose if self.lambdas is not None else None)
        if self.lambdas is not None:
            await self.lambdas.aclose()
        await self.llm.aclose()
        if self.outbound is not None:
            await self.outbound.aclose()
