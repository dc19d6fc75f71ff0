"""`AWS::Serverless::GraphQLApi` expanded into the AppSync resources SAM generates for it.

Mirrors samtranslator's `SamGraphQLApi.to_cloudformation`: the same logical ids
(`<Api>Schema`, `<Api><Key>`, `<Api><Name>LambdaDataSource`, `<Api><Name>DynamoDBDataSource`,
`<Api>NoneDataSource`, `<Api><Function>`, `<Api><Type><Field>`), the same defaults (a function
or data source is named after its key; resolvers are pipelines; a resolver without code gets
AppSync's default pass-through JS code) and the same errors.
"""

from __future__ import annotations

from typing import Any

from .intrinsics import placeholder
from .model import Origin
from .problems import Problems
from .resource import Resource
from .sam_graphql_schema import check_properties

#: The resolver code SAM (and the AppSync console) uses when a resolver gives none.
DEFAULT_PIPELINE_RESOLVER_CODE = """
export function request(ctx) {
    return {};
}

export function response(ctx) {
    return ctx.prev.result;
}
"""
DEFAULT_PIPELINE_RESOLVER_RUNTIME = {"Name": "APPSYNC_JS", "RuntimeVersion": "1.0.0"}

_AUTH_CONFIGS = {
    "AWS_LAMBDA": ("LambdaAuthorizer", "LambdaAuthorizerConfig"),
    "OPENID_CONNECT": ("OpenIDConnect", "OpenIDConnectConfig"),
    "AMAZON_COGNITO_USER_POOLS": ("UserPool", "UserPoolConfig"),
}


def _map(value: Any, what: str, origin: Origin, problems: Problems) -> dict[Any, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        problems.error(f"{what} must be a map", origin)
        return {}
    return value


def _auth(provider: Any, path: str, additional: bool, api: Resource, problems: Problems) -> dict[str, Any]:
    origin = api.sub_origin(path, provider)
    kind = provider.get("Type")
    if not isinstance(kind, str):
        return {}  # reported by check_properties
    result: dict[str, Any] = {"AuthenticationType": kind}
    if kind in _AUTH_CONFIGS:
        sam_key, cfn_key = _AUTH_CONFIGS[kind]
        config = provider.get(sam_key)
        if not isinstance(config, dict):
            problems.error(f"'{sam_key}' must be defined if type is '{kind}'.", origin)
            return result
        config = dict(config)
        if additional:
            config.pop("DefaultAction", None)
        result[cfn_key] = config
    return result


class _Expansion:
    """The state of one expansion: name maps filled by data sources and functions, read by resolvers."""

    def __init__(self, api: Resource, problems: Problems) -> None:
        self.api = api
        self.problems = problems
        self.api_id = {"Fn::GetAtt": [api.logical_id, "ApiId"]}
        self.data_source_names: dict[str, Any] = {}
        self.function_ids: dict[str, Any] = {}
        self.none_data_source: Resource | None = None
        self.resources: list[Resource] = []

    def add(self, logical_id: str, type_: str, properties: dict[str, Any], origin: Origin | None = None) -> Resource:
        """Add a generated resource; None-valued properties are left out, as SAM leaves them out."""
        present = {k: v for k, v in properties.items() if v is not None}
        resource = self.api.child(logical_id, type_, present, origin)
        self.resources.append(resource)
        return resource

    def graphql_api(self) -> None:
        props, api = self.api.properties, self.api
        for message, origin in check_properties(api):
            self.problems.error(message, origin)
        auth = props.get("Auth")
        if not isinstance(auth, dict):
            auth = {"Type": "API_KEY"}  # reported by check_properties
        default = _auth({k: v for k, v in auth.items() if k != "Additional"}, "Auth", False, api, self.problems)
        properties: dict[str, Any] = {"Name": props.get("Name") or api.logical_id, **default}
        additional = auth.get("Additional") or []
        if not isinstance(additional, list):
            self.problems.error("'Auth.Additional' must be a list", api.sub_origin("Auth.Additional"))
            additional = []
        providers = [
            _auth(item if isinstance(item, dict) else {}, f"Auth.Additional.{i}", True, api, self.problems)
            for i, item in enumerate(additional)
        ]
        if providers:
            properties["AdditionalAuthenticationProviders"] = providers
        for key in (
            "IntrospectionConfig",
            "QueryDepthLimit",
            "ResolverCountLimit",
            "Visibility",
            "XrayEnabled",
        ):
            properties[key] = props.get(key)
        properties = {k: v for k, v in properties.items() if v is not None}
        self.resources.append(
            Resource(api.logical_id, "AWS::AppSync::GraphQLApi", properties, api.origin, api.condition)
        )
        logging = props.get("Logging")
        wants_role = logging is not False and not (isinstance(logging, dict) and logging.get("CloudWatchLogsRoleArn"))
        if wants_role:
            self.add(f"{api.logical_id}CloudWatchRole", "AWS::IAM::Role", {})

    def schema(self) -> None:
        inline, uri = self.api.properties.get("SchemaInline"), self.api.properties.get("SchemaUri")
        if not inline and not uri:
            self.problems.error("One of 'SchemaInline' or 'SchemaUri' must be set.", self.api.origin)
        if inline and uri:
            self.problems.error(
                "Both 'SchemaInline' and 'SchemaUri' cannot be defined at the same time.", self.api.origin
            )
        self.add(
            f"{self.api.logical_id}Schema",
            "AWS::AppSync::GraphQLSchema",
            {"ApiId": self.api_id, "Definition": inline, "DefinitionS3Location": uri},
        )

    def api_keys(self) -> None:
        keys = _map(self.api.properties.get("ApiKeys"), "ApiKeys", self.api.origin, self.problems)
        for relative_id, key in keys.items():
            key = key if isinstance(key, dict) else {}
            properties = {
                "ApiId": self.api_id,
                "ApiKeyId": key.get("ApiKeyId"),
                "Description": key.get("Description"),
                "Expires": key.get("ExpiresOn"),
            }
            self.add(
                f"{self.api.logical_id}{relative_id}",
                "AWS::AppSync::ApiKey",
                properties,
                self.api.sub_origin(f"ApiKeys.{relative_id}", relative_id),
            )

    def data_sources(self) -> None:
        sources = _map(self.api.properties.get("DataSources"), "DataSources", self.api.origin, self.problems)
        for kind, suffix in (("DynamoDb", "DynamoDB"), ("Lambda", "Lambda")):
            entries = _map(sources.get(kind), f"DataSources.{kind}", self.api.origin, self.problems)
            for relative_id, source in entries.items():
                origin = self.api.sub_origin(f"DataSources.{kind}.{relative_id}", relative_id)
                source = source if isinstance(source, dict) else {}
                logical_id = f"{self.api.logical_id}{relative_id}{suffix}DataSource"
                role = source.get("ServiceRoleArn")
                if not role:
                    self.add(f"{logical_id}Role", "AWS::IAM::Role", {}, origin)
                    role = {"Fn::GetAtt": [f"{logical_id}Role", "Arn"]}
                properties: dict[str, Any] = {
                    "ApiId": self.api_id,
                    "Name": source.get("Name") or relative_id,
                    "Description": source.get("Description"),
                    "ServiceRoleArn": role,
                }
                if kind == "Lambda":
                    if "FunctionArn" not in source:
                        self.problems.error("'FunctionArn' is required", origin)
                    properties["Type"] = "AWS_LAMBDA"
                    properties["LambdaConfig"] = {"LambdaFunctionArn": source.get("FunctionArn")}
                else:
                    properties["Type"] = "AMAZON_DYNAMODB"
                    properties["DynamoDBConfig"] = self._dynamodb_config(source)
                self.add(logical_id, "AWS::AppSync::DataSource", properties, origin)
                self.data_source_names[str(relative_id)] = {"Fn::GetAtt": [logical_id, "Name"]}

    @staticmethod
    def _dynamodb_config(source: dict[str, Any]) -> dict[str, Any]:
        config = {
            "AwsRegion": source.get("Region") or {"Ref": "AWS::Region"},
            "TableName": source.get("TableName"),
            "UseCallerCredentials": source.get("UseCallerCredentials") or None,
            "Versioned": source.get("Versioned") or None,
            "DeltaSyncConfig": source.get("DeltaSync"),
        }
        return {k: v for k, v in config.items() if v is not None}

    def _data_source_name(self, value: Any, origin: Origin) -> Any:
        if value is None:
            self.problems.error("'DataSource' must be set.", origin)
            return placeholder("DataSource")
        if not isinstance(value, str):
            return value
        if value.lower() == "none":
            if self.none_data_source is None:
                name = f"{self.api.logical_id}NoneDataSource"
                self.none_data_source = self.api.child(
                    name, "AWS::AppSync::DataSource", {"ApiId": self.api_id, "Name": name, "Type": "NONE"}
                )
            return {"Fn::GetAtt": [self.none_data_source.logical_id, "Name"]}
        if value in self.data_source_names:
            return self.data_source_names[value]
        self.problems.error(
            f"Either define DataSource '{value}' in 'DataSources' or use intrinsic function like GetAtt, "
            "ImportValue, Sub or another one to reference a DataSource defined outside of this GraphQLApi "
            "resource.",
            origin,
        )
        return placeholder(f"DataSource {value}")

    def _runtime(self, item: dict[str, Any], origin: Origin, relative_id: str) -> dict[str, Any] | None:
        runtime = item.get("Runtime")
        if not isinstance(runtime, dict):
            self.problems.error(f"'Runtime' must be defined as a property in {relative_id}.", origin)
            return None
        return {"Name": runtime.get("Name"), "RuntimeVersion": runtime.get("Version")}

    def _code(self, item: dict[str, Any], origin: Origin) -> tuple[Any, Any]:
        inline, uri = item.get("InlineCode"), item.get("CodeUri")
        if inline and uri:
            self.problems.error("Both 'InlineCode' and 'CodeUri' cannot be defined at the same time.", origin)
        return inline, uri

    def functions(self) -> None:
        functions = _map(self.api.properties.get("Functions"), "Functions", self.api.origin, self.problems)
        for relative_id, function in functions.items():
            origin = self.api.sub_origin(f"Functions.{relative_id}", relative_id)
            function = function if isinstance(function, dict) else {}
            if "Id" in function:
                if len(function) != 1:
                    self.problems.error("'Id' cannot be defined with other properties in Function.", origin)
                self.function_ids[str(relative_id)] = function["Id"]
                continue
            inline, uri = self._code(function, origin)
            if not inline and not uri:
                self.problems.error("One of 'InlineCode' or 'CodeUri' must be set.", origin)
            logical_id = f"{self.api.logical_id}{relative_id}"
            properties = {
                "ApiId": self.api_id,
                "Name": function.get("Name") or relative_id,
                "Code": inline,
                "CodeS3Location": uri,
                "DataSourceName": self._data_source_name(function.get("DataSource"), origin),
                "MaxBatchSize": function.get("MaxBatchSize"),
                "Description": function.get("Description"),
                "Runtime": self._runtime(function, origin, str(relative_id)),
                "SyncConfig": function.get("Sync"),
            }
            self.add(logical_id, "AWS::AppSync::FunctionConfiguration", properties, origin)
            self.function_ids[str(relative_id)] = {"Fn::GetAtt": [logical_id, "FunctionId"]}

    def resolvers(self) -> None:
        types = _map(self.api.properties.get("Resolvers"), "Resolvers", self.api.origin, self.problems)
        for type_name, fields in types.items():
            fields = _map(fields, f"Resolvers.{type_name}", self.api.origin, self.problems)
            for relative_id, resolver in fields.items():
                origin = self.api.sub_origin(f"Resolvers.{type_name}.{relative_id}", relative_id)
                resolver = resolver if isinstance(resolver, dict) else {}
                inline, uri = self._code(resolver, origin)
                runtime: dict[str, Any] | None
                if not inline and not uri:
                    inline, runtime = DEFAULT_PIPELINE_RESOLVER_CODE, dict(DEFAULT_PIPELINE_RESOLVER_RUNTIME)
                else:
                    runtime = self._runtime(resolver, origin, str(relative_id))
                pipeline = resolver.get("Pipeline")
                if not pipeline:
                    self.problems.error(
                        f"Resolver '{relative_id}' must have Pipeline defined. Unit resolvers are not "
                        "supported. If you need a Unit resolver you can use AppSync resource.",
                        origin,
                    )
                    continue
                function_ids = []
                for name in pipeline if isinstance(pipeline, list) else [pipeline]:
                    if str(name) not in self.function_ids:
                        self.problems.error(f"Function '{name}' does not exist.", origin)
                        continue
                    function_ids.append(self.function_ids[str(name)])
                properties = {
                    "ApiId": self.api_id,
                    "TypeName": type_name,
                    "FieldName": resolver.get("FieldName") or relative_id,
                    "Kind": "PIPELINE",
                    "PipelineConfig": {"Functions": function_ids},
                    "Code": inline,
                    "CodeS3Location": uri,
                    "Runtime": runtime,
                    "MaxBatchSize": resolver.get("MaxBatchSize") or None,
                    "CachingConfig": resolver.get("Caching"),
                }
                self.add(
                    f"{self.api.logical_id}{type_name}{relative_id}",
                    "AWS::AppSync::Resolver",
                    properties,
                    origin,
                )


def expand_graphql_api(api: Resource, problems: Problems) -> list[Resource]:
    """The AppSync resources SAM generates for one `AWS::Serverless::GraphQLApi`, in SAM's order."""
    expansion = _Expansion(api, problems)
    expansion.graphql_api()
    expansion.schema()
    expansion.api_keys()
    expansion.data_sources()
    for kind, type_ in (("DomainName", "AWS::AppSync::DomainName"), ("Cache", "AWS::AppSync::ApiCache")):
        if api.properties.get(kind):
            suffix = "ApiCache" if kind == "Cache" else kind
            expansion.add(f"{api.logical_id}{suffix}", type_, {})
    expansion.functions()
    expansion.resolvers()
    if expansion.none_data_source is not None:
        expansion.resources.append(expansion.none_data_source)
    return expansion.resources
