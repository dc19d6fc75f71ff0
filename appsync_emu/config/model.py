"""The one plain, typed model of an API definition that every input format converts into.

Loaders (CloudFormation / SAM today) produce a `Project`; the engine, the Lambda service
and the invoker only ever read this model. Nothing here knows about HTTP or YAML.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from .. import limits


class AuthMode(str, Enum):
    """AppSync's five authorization modes, spelled as in CloudFormation."""

    API_KEY = "API_KEY"
    AWS_IAM = "AWS_IAM"
    AMAZON_COGNITO_USER_POOLS = "AMAZON_COGNITO_USER_POOLS"
    OPENID_CONNECT = "OPENID_CONNECT"
    AWS_LAMBDA = "AWS_LAMBDA"


@dataclass(frozen=True)
class Origin:
    """Where a model element came from, for error messages: file, resource and line."""

    file: Path
    resource: str | None = None
    line: int | None = None

    def __str__(self) -> str:
        where = str(self.file)
        if self.line is not None:
            where += f":{self.line}"
        if self.resource:
            where += f" ({self.resource})"
        return where


@dataclass
class Code:
    """Resolver or function source code (APPSYNC_JS module or VTL template).

    `path` is the file the code was read from, or the template for inline code, in which
    case `line_offset` is the template line where the inline code starts (0-based), so
    that an error at code line N is reported at template line N + line_offset.
    """

    source: str
    path: Path
    line_offset: int = 0


@dataclass
class AuthProvider:
    """One authorization mode of the API with its settings (pool ids, issuer, authorizer)."""

    mode: AuthMode
    settings: dict[str, Any] = field(default_factory=dict)
    origin: Origin | None = None  # where the template sets this mode


@dataclass
class ApiKey:
    """An API key. `value` None means: derive a stable `da2-…` value from the template."""

    logical_id: str
    value: str | None = None
    expires: int | None = None  # epoch seconds; None means never in the emulator
    description: str | None = None


@dataclass
class DataSource:
    """An AppSync data source. `type` is AppSync's (NONE, AWS_LAMBDA, HTTP, AMAZON_BEDROCK_RUNTIME…).

    For AWS_LAMBDA, `lambda_function` is the logical id of the function resource the ARN names in
    the same template (None when it names none; `lambda_arn` keeps the ARN either way).
    """

    name: str
    type: str
    origin: Origin
    lambda_function: str | None = None
    lambda_arn: str | None = None
    config: dict[str, Any] = field(default_factory=dict)


@dataclass
class PipelineFunction:
    """An `AWS::AppSync::FunctionConfiguration` (or a SAM `Functions` entry)."""

    name: str
    data_source: str
    origin: Origin
    runtime: str = "APPSYNC_JS"  # or "VTL"
    code: Code | None = None
    request_template: Code | None = None
    response_template: Code | None = None
    max_batch_size: int = 0


@dataclass
class Resolver:
    """A resolver on `type_name.field_name`: UNIT (one data source) or PIPELINE (functions).

    A UNIT resolver on an AWS_LAMBDA data source with no code is a direct Lambda resolver.
    """

    type_name: str
    field_name: str
    kind: str  # "UNIT" | "PIPELINE"
    origin: Origin
    data_source: str | None = None
    runtime: str | None = None  # "APPSYNC_JS" | "VTL" | None (direct Lambda)
    code: Code | None = None
    request_template: Code | None = None
    response_template: Code | None = None
    functions: list[str] = field(default_factory=list)  # PipelineFunction names, in order
    max_batch_size: int = 0


@dataclass
class AsyncInvokeConfig:
    """Lambda's EventInvokeConfig for asynchronous invocations."""

    maximum_retry_attempts: int = limits.LAMBDA_DEFAULT_MAX_RETRY_ATTEMPTS
    maximum_event_age_s: int = limits.LAMBDA_DEFAULT_MAX_EVENT_AGE_S
    on_success: str | None = None  # destination ARN
    on_failure: str | None = None  # destination ARN


@dataclass
class LambdaFunction:
    """A Lambda function from the template."""

    logical_id: str
    function_name: str
    handler: str
    runtime: str
    code_dir: Path
    origin: Origin
    environment: dict[str, str] = field(default_factory=dict)
    timeout_s: float = limits.LAMBDA_DEFAULT_TIMEOUT_S
    memory_mb: int = limits.LAMBDA_DEFAULT_MEMORY_MB
    reserved_concurrency: int | None = None
    async_config: AsyncInvokeConfig = field(default_factory=AsyncInvokeConfig)
    dead_letter_target: str | None = None  # DeadLetterConfig.TargetArn
    build_method: str | None = None  # Metadata.BuildMethod (`esbuild` is built as `sam build` does)
    build_properties: dict[str, Any] = field(default_factory=dict)  # Metadata.BuildProperties
    # Set by `lambdas.build`: the CodeUri folder when `code_dir` is a build's output, and the
    # folders of installed packages the function sees after its own code (PYTHONPATH / NODE_PATH).
    source_dir: Path | None = None
    dependency_paths: tuple[Path, ...] = ()

    @property
    def arn(self) -> str:
        """The function's ARN in the emulator's fixed account and region."""
        return f"arn:aws:lambda:{DEFAULT_REGION}:{DEFAULT_ACCOUNT_ID}:function:{self.function_name}"


@dataclass
class GraphQLApi:
    """One AppSync GraphQL API: schema, auth, keys, data sources, functions and resolvers."""

    logical_id: str
    name: str
    api_id: str  # 26 lower-case letters and digits, stable for a template
    origin: Origin
    schema_sdl: str
    schema_origin: Origin
    default_auth: AuthProvider
    additional_auth: list[AuthProvider] = field(default_factory=list)
    api_keys: list[ApiKey] = field(default_factory=list)
    data_sources: dict[str, DataSource] = field(default_factory=dict)
    functions: dict[str, PipelineFunction] = field(default_factory=dict)
    resolvers: list[Resolver] = field(default_factory=list)
    environment: dict[str, str] = field(default_factory=dict)
    introspection: bool = True
    query_depth_limit: int = 0  # QueryDepthLimit; 0 means no limit
    resolver_count_limit: int = 0  # ResolverCountLimit; 0 means AppSync's default

    @property
    def auth_modes(self) -> list[AuthMode]:
        """Default mode first, then the additional ones."""
        return [self.default_auth.mode, *(p.mode for p in self.additional_auth)]


@dataclass(frozen=True)
class Skipped:
    """An AppSync feature the template turns on and the emulator leaves out (caching, an Events API…)."""

    feature: str
    subject: str
    origin: Origin


@dataclass
class Table:
    """A DynamoDB table the template creates: its `CreateTable` request, TTL attribute and stream view type."""

    logical_id: str
    name: str  # the physical name (TableName, else `<StackName>-<LogicalId>`)
    origin: Origin
    create_request: dict[str, Any]  # DynamoDB's CreateTable body
    ttl_attribute: str | None = None
    stream_view_type: str | None = None  # NEW_IMAGE | OLD_IMAGE | NEW_AND_OLD_IMAGES | KEYS_ONLY


@dataclass
class StreamMapping:
    """An event source mapping from a table's DynamoDB stream to a function (`AWS::Lambda::EventSourceMapping`).

    The numbers are Lambda's (docs/LAMBDA.md "Streams"): -1 means infinite retries or record age.
    """

    logical_id: str
    function: str  # the function's logical id
    table: str  # the table's logical id
    stream_arn: str  # EventSourceArn as the template resolves it
    origin: Origin
    starting_position: str = "LATEST"  # or TRIM_HORIZON
    batch_size: int = limits.STREAM_DEFAULT_BATCH_SIZE
    batching_window_s: float = 0.0
    maximum_retry_attempts: int = -1
    maximum_record_age_s: int = -1
    bisect_on_error: bool = False
    report_batch_item_failures: bool = False
    on_failure: str | None = None  # DestinationConfig.OnFailure.Destination (an SQS, SNS or S3 ARN)


@dataclass
class UserPool:
    """A Cognito user pool whose tokens the API accepts: the template's, or a real one named by id."""

    pool_id: str
    issuer: str  # this emulator's issuer URL for the pool: the `iss` of the tokens it mints
    logical_id: str | None = None  # None for a pool the API names by a literal id
    name: str | None = None
    client_ids: list[str] = field(default_factory=list)  # its UserPoolClient resources' ids
    origin: Origin | None = None
    #: Each client id's sign-in settings from the template (`ExplicitAuthFlows`,
    #: `PreventUserExistenceErrors`), for the emulator's Cognito endpoint (auth/cognito_idp.py).
    client_settings: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: How users sign in, from the template (`UsernameAttributes`, `AliasAttributes`, `UsernameConfiguration`).
    sign_in: dict[str, Any] = field(default_factory=dict)


@dataclass
class Project:
    """Everything loaded from one template: the API(s), the Lambda functions and the DynamoDB tables."""

    template_path: Path
    apis: list[GraphQLApi]
    functions: dict[str, LambdaFunction] = field(default_factory=dict)  # by logical id
    tables: dict[str, Table] = field(default_factory=dict)  # DynamoDB tables, by logical id
    stream_mappings: list[StreamMapping] = field(default_factory=list)  # DynamoDB streams into functions
    parameters: dict[str, Any] = field(default_factory=dict)
    region: str = "us-east-1"
    account_id: str = "123456789012"
    stack_name: str = "appsync-emu"  # AWS::StackName, also the prefix of generated physical names
    outputs: dict[str, Any] = field(default_factory=dict)  # the template's Outputs, resolved
    warnings: list[str] = field(default_factory=list)  # what loaded with a placeholder or was ignored
    skipped: list[Skipped] = field(default_factory=list)  # features of the template the emulator leaves out
    user_pools: list[UserPool] = field(default_factory=list)  # Cognito pools with local issuers (config/cognito.py)

    @property
    def api(self) -> GraphQLApi:
        """The API the emulator serves: the first one in the template."""
        return self.apis[0]


@dataclass(frozen=True)
class LocalEndpoints:
    """The URLs the emulator serves, known before the template is loaded (the port is bound first)."""

    host: str
    port: int
    scheme: str = "http"

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"

    @property
    def graphql_url(self) -> str:
        return f"{self.base_url}/graphql"

    @property
    def realtime_url(self) -> str:
        ws = "wss" if self.scheme == "https" else "ws"
        return f"{ws}://{self.host}:{self.port}/graphql/realtime"

    @property
    def bedrock_url(self) -> str:
        """Where the Bedrock Runtime wire endpoint lives (same server, `/model/...` routes)."""
        return self.base_url


DEFAULT_REGION = "us-east-1"
DEFAULT_ACCOUNT_ID = "123456789012"


def function_ref_name(ref: str) -> str | None:
    """The function name a reference names: itself, `name:qualifier`, or a (qualified) Lambda ARN.

    None for an ARN of something that is not a Lambda function.
    """
    if ref.startswith("arn:"):
        parts = ref.split(":")
        if len(parts) < 7 or parts[2] != "lambda" or parts[5] != "function":
            return None
        return parts[6]
    return ref.split(":", 1)[0]


def find_function(functions: Mapping[str, LambdaFunction], ref: str) -> LambdaFunction | None:
    """The one lookup of a function: by logical id, function name, `name:qualifier` or (qualified) ARN."""
    if ref in functions:
        return functions[ref]
    name = function_ref_name(ref)
    return next((fn for fn in functions.values() if fn.function_name == name), None)


class ConfigError(Exception):
    """A problem in the user's template or code, with the place it was found."""

    def __init__(self, message: str, origin: Origin | None = None) -> None:
        super().__init__(f"{origin}: {message}" if origin else message)
        self.message = message
        self.origin = origin


class ConfigErrors(Exception):
    """Every problem found while loading, so `validate` can report them all at once."""

    def __init__(self, errors: list[ConfigError], partial: Project | None = None) -> None:
        super().__init__("\n".join(str(e) for e in errors))
        self.errors = errors
        self.partial = partial  # what could be loaded anyway, so later checks can still run
