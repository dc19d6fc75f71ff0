"""The resources SAM generates next to an `AWS::Serverless::Function`, with SAM's logical ids.

Mirrors samtranslator's `SamFunction`: `<Fn>Role` when no Role is given, `<Fn>Alias<alias>`
for AutoPublishAlias, `<Fn>EventInvokeConfig` (plus `<Fn>EventInvokeConfigOnSuccessQueue`
or `…Topic` when an SQS/SNS destination has no ARN) for EventInvokeConfig, and `<Fn><Event>`
(`AWS::Lambda::EventSourceMapping`) for each event of a polled source (DynamoDB, Kinesis, SQS…).
"""

from __future__ import annotations

from typing import Any

from .problems import Problems
from .resource import Resource

DESTINATION_TYPES = ("SQS", "SNS", "EventBridge", "Lambda", "S3Bucket")
_AUTO_CREATED = {"SQS": ("Queue", "AWS::SQS::Queue"), "SNS": ("Topic", "AWS::SNS::Topic")}


def _event_invoke_config(function: Resource, config: Any, problems: Problems) -> list[Resource]:
    origin = function.sub_origin("EventInvokeConfig", config)
    if not isinstance(config, dict):
        problems.error("EventInvokeConfig must be a map", origin)
        return []
    logical_id = f"{function.logical_id}EventInvokeConfig"
    alias = function.properties.get("AutoPublishAlias")
    properties: dict[str, Any] = {
        "FunctionName": {"Ref": function.logical_id},
        "Qualifier": alias if alias else "$LATEST",
    }
    for key in ("MaximumEventAgeInSeconds", "MaximumRetryAttempts"):
        if key in config:
            properties[key] = config[key]
    generated: list[Resource] = []
    destinations = config.get("DestinationConfig")
    if destinations is not None and not isinstance(destinations, dict):
        problems.error("EventInvokeConfig.DestinationConfig must be a map", origin)
        destinations = None
    destination_config: dict[str, Any] = {}
    for event in ("OnSuccess", "OnFailure"):
        target = (destinations or {}).get(event)
        if target is None:
            continue
        where = function.sub_origin(f"EventInvokeConfig.DestinationConfig.{event}", target)
        kind = target.get("Type") if isinstance(target, dict) else None
        if kind not in DESTINATION_TYPES:
            problems.error(f"'Type: {kind}' must be one of {list(DESTINATION_TYPES)}", where)
            continue
        destination = target.get("Destination")
        if destination is None:
            if kind not in _AUTO_CREATED:
                problems.error(f"Destination is required if Type is not {list(_AUTO_CREATED)}", where)
                continue
            suffix, type_ = _AUTO_CREATED[kind]
            created = function.child(f"{logical_id}{event}{suffix}", type_, {}, where)
            generated.append(created)
            attribute = "Arn" if kind == "SQS" else None
            destination = {"Fn::GetAtt": [created.logical_id, attribute]} if attribute else {"Ref": created.logical_id}
        destination_config[event] = {"Destination": destination}
    if destination_config:
        properties["DestinationConfig"] = destination_config
    return [*generated, function.child(logical_id, "AWS::Lambda::EventInvokeConfig", properties, origin)]


#: SAM event types that become an `AWS::Lambda::EventSourceMapping`, and the property naming the source.
PULL_EVENT_SOURCES = {
    "DynamoDB": "Stream",
    "Kinesis": "Stream",
    "SQS": "Queue",
    "MSK": "Stream",
    "MQ": "Broker",
    "DocumentDB": "Cluster",
    "SelfManagedKafka": None,
}
#: SAM event properties that are not the mapping's own (SAM turns them into policies or drops them).
_SAM_ONLY_EVENT_PROPERTIES = frozenset({"Stream", "Queue", "Broker", "Cluster"})


def _event_source_mappings(function: Resource, problems: Problems) -> list[Resource]:
    """SAM's `PullEventSource`: one mapping per polled event, named `<Fn><Event>`, invoking the function."""
    events = function.properties.get("Events")
    if not isinstance(events, dict):
        return []
    alias = function.properties.get("AutoPublishAlias")
    target: Any = {"Ref": f"{function.logical_id}.Alias"} if alias else {"Ref": function.logical_id}
    generated = []
    for name, event in events.items():
        kind = event.get("Type") if isinstance(event, dict) else None
        if kind not in PULL_EVENT_SOURCES:
            continue
        assert isinstance(event, dict)
        origin = function.sub_origin(f"Events.{name}", name)
        props = event.get("Properties")
        if not isinstance(props, dict):
            problems.error(f"event {name} of type {kind} needs Properties", origin)
            continue
        mapping: dict[str, Any] = {"FunctionName": target}
        source = PULL_EVENT_SOURCES[kind]
        if source is not None:
            mapping["EventSourceArn"] = props.get(source)
        mapping.update({k: v for k, v in props.items() if k not in _SAM_ONLY_EVENT_PROPERTIES})
        destinations = props.get("DestinationConfig")
        on_failure = destinations.get("OnFailure") if isinstance(destinations, dict) else None
        if isinstance(destinations, dict) and isinstance(on_failure, dict):  # SAM drops `Type` (it picks a policy)
            mapping["DestinationConfig"] = {
                **destinations,
                "OnFailure": {k: v for k, v in on_failure.items() if k != "Type"},
            }
        generated.append(
            function.child(f"{function.logical_id}{name}", "AWS::Lambda::EventSourceMapping", mapping, origin)
        )
    return generated


def expand_function(function: Resource, problems: Problems) -> list[Resource]:
    """The resources SAM adds for one function (the function itself stays as it is)."""
    properties = function.properties
    generated: list[Resource] = []
    if not properties.get("Role"):
        generated.append(function.child(f"{function.logical_id}Role", "AWS::IAM::Role", {}))
    alias = properties.get("AutoPublishAlias")
    if isinstance(alias, str) and alias:
        generated.append(
            function.child(
                f"{function.logical_id}Alias{alias}",
                "AWS::Lambda::Alias",
                {"FunctionName": {"Ref": function.logical_id}, "Name": alias},
            )
        )
    if "EventInvokeConfig" in properties:
        generated.extend(_event_invoke_config(function, properties["EventInvokeConfig"], problems))
    generated.extend(_event_source_mappings(function, problems))
    return generated
