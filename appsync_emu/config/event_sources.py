"""Event source mappings of the template (`AWS::Lambda::EventSourceMapping`, SAM's polled `Events`) as the model's.

A mapping from a DynamoDB table's stream becomes a `StreamMapping` and marks its function used,
so the function is built even when the API never calls it. What the emulator does not run is
listed as skipped (a `find_gaps` feature, so `validate` and the banner say so): mappings from
other sources (Kinesis, SQS, Kafka, MQ, DocumentDB), streams of tables outside the template, and
the properties it leaves out (`FilterCriteria`, `TumblingWindowInSeconds`). A mapping on a table
without a `StreamSpecification` is an error naming both.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from .. import limits
from .intrinsics import at
from .lambda_functions import FunctionTable
from .model import ConfigError, Origin, Skipped, StreamMapping, Table
from .resource import Resource
from .stack import Stack

MAPPING_TYPE = "AWS::Lambda::EventSourceMapping"
#: The service of an EventSourceArn → how the emulator names that source in a gap.
_SOURCES = {
    "kinesis": "Kinesis",
    "sqs": "Amazon SQS",
    "kafka": "Amazon MSK",
    "mq": "Amazon MQ",
    "rds": "Amazon DocumentDB",
    "docdb": "Amazon DocumentDB",
}
#: Properties that change what the function receives, which the emulator does not do.
_LEFT_OUT = {
    "FilterCriteria": "event filtering (FilterCriteria): the function receives every record",
    "TumblingWindowInSeconds": "tumbling windows (TumblingWindowInSeconds): records arrive as plain batches",
}


def load_stream_mappings(
    stack: Stack, tables: dict[str, Table], functions: FunctionTable
) -> tuple[list[StreamMapping], list[Skipped]]:
    """The template's DynamoDB stream mappings, and what of its mappings the emulator leaves out."""
    mappings: list[StreamMapping] = []
    skipped: list[Skipped] = []
    by_name = {table.name: table for table in tables.values()}
    for resource in stack.active(MAPPING_TYPE):
        props = stack.properties(resource)
        subject = f"{MAPPING_TYPE} {resource.logical_id}"
        source = props.get("EventSourceArn")
        table_name = _stream_table(source)
        if table_name is None:
            what = _SOURCES.get(_arn_service(source) or "", "self-managed Apache Kafka" if source is None else None)
            feature = f"event source mapping from {what or repr(source)}"
            skipped.append(Skipped(feature, subject, resource.at_property("EventSourceArn")))
            continue
        table = by_name.get(table_name)
        if table is None:
            feature = f"event source mapping from the stream of table {table_name}, which is not in the template"
            skipped.append(Skipped(feature, subject, resource.at_property("EventSourceArn")))
            continue
        mapping = stack.problems.attempt(partial(_mapping, stack, resource, props, table, functions))
        if mapping is None:
            continue
        if props.get("Enabled") in (False, "false"):
            continue  # Enabled: false reads nothing, as on Lambda
        mappings.append(mapping)
        for name, feature in _LEFT_OUT.items():
            if props.get(name):
                skipped.append(Skipped(feature, f"{resource.logical_id}.{name}", resource.at_property(name)))
    return mappings, skipped


def _arn_service(arn: Any) -> str | None:
    parts = arn.split(":") if isinstance(arn, str) else []
    return parts[2] if len(parts) >= 6 and parts[0] == "arn" else None


def _stream_table(arn: Any) -> str | None:
    """The table name in a DynamoDB stream ARN (`…:table/<name>/stream/<label>`), else None."""
    if _arn_service(arn) != "dynamodb":
        return None
    resource = str(arn).split(":", 5)[5]
    parts = resource.split("/")
    return parts[1] if len(parts) >= 4 and parts[0] == "table" and parts[2] == "stream" else None


def _integer(props: dict[str, Any], name: str, default: int, low: int, high: int, origin: Origin) -> int:
    value = props.get(name, default)
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be an integer, not {value!r}", at(origin, value)) from None
    if not low <= number <= high:
        raise ConfigError(f"{name} must be between {low} and {high}, not {value!r}", at(origin, value))
    return number


def _mapping(
    stack: Stack, resource: Resource, props: dict[str, Any], table: Table, functions: FunctionTable
) -> StreamMapping:
    origin = resource.origin
    if table.stream_view_type is None:
        raise ConfigError(
            f"event source mapping {resource.logical_id} reads the stream of table {table.logical_id},"
            " which has no StreamSpecification",
            resource.at_property("EventSourceArn"),
        )
    position = props.get("StartingPosition")
    if position not in ("TRIM_HORIZON", "LATEST"):
        raise ConfigError(
            f"StartingPosition must be TRIM_HORIZON or LATEST for a DynamoDB stream, not {position!r}",
            resource.at_property("StartingPosition"),
        )
    function_ref = props.get("FunctionName")
    function = functions.use(str(function_ref)) if isinstance(function_ref, str) else None
    if function is None:
        raise ConfigError(
            f"FunctionName {function_ref!r} names no function of the template that the emulator can load",
            resource.at_property("FunctionName"),
        )
    age = _integer(props, "MaximumRecordAgeInSeconds", -1, -1, limits.STREAM_MAX_RECORD_AGE_S, origin)
    if 0 <= age < limits.STREAM_MIN_RECORD_AGE_S:
        raise ConfigError(
            f"MaximumRecordAgeInSeconds must be -1 or between {limits.STREAM_MIN_RECORD_AGE_S}"
            f" and {limits.STREAM_MAX_RECORD_AGE_S}, not {age}",
            resource.at_property("MaximumRecordAgeInSeconds"),
        )
    response_types = props.get("FunctionResponseTypes") or []
    if not isinstance(response_types, list) or any(t != "ReportBatchItemFailures" for t in response_types):
        raise ConfigError(
            f"FunctionResponseTypes may only hold ReportBatchItemFailures, not {response_types!r}",
            resource.at_property("FunctionResponseTypes"),
        )
    return StreamMapping(
        logical_id=resource.logical_id,
        function=function.logical_id,
        table=table.logical_id,
        stream_arn=str(props["EventSourceArn"]),
        origin=origin,
        starting_position=str(position),
        batch_size=_integer(
            props, "BatchSize", limits.STREAM_DEFAULT_BATCH_SIZE, 1, limits.STREAM_MAX_BATCH_SIZE, origin
        ),
        batching_window_s=_integer(
            props, "MaximumBatchingWindowInSeconds", 0, 0, limits.STREAM_MAX_BATCHING_WINDOW_S, origin
        ),
        maximum_retry_attempts=_integer(
            props, "MaximumRetryAttempts", -1, -1, limits.STREAM_MAX_RETRY_ATTEMPTS, origin
        ),
        maximum_record_age_s=age,
        bisect_on_error=props.get("BisectBatchOnFunctionError") in (True, "true"),
        report_batch_item_failures=bool(response_types),
        on_failure=_on_failure(props, resource),
    )


def _on_failure(props: dict[str, Any], resource: Resource) -> str | None:
    config = props.get("DestinationConfig") or {}
    target = config.get("OnFailure") if isinstance(config, dict) else None
    destination = target.get("Destination") if isinstance(target, dict) else None
    if destination is None:
        return None
    if _arn_service(destination) not in ("sqs", "sns", "s3"):
        raise ConfigError(
            f"the OnFailure destination of a stream mapping must be an SQS queue, SNS topic or S3 bucket,"
            f" not {destination!r}",
            resource.at_property("DestinationConfig"),
        )
    return str(destination)
