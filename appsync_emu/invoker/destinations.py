"""Where an invocation record goes: which AWS service an ARN names and what that service receives.

Only Lambda destinations are acted upon (the invoker runs them); SQS, SNS, EventBridge and S3
targets are recorded and logged as delivered. SQS and SNS would receive the record as the message
body, EventBridge as the event's `detail`.
"""

from __future__ import annotations

#: Services Lambda accepts as asynchronous-invocation destinations (S3 for on-failure only).
DESTINATION_SERVICES = frozenset({"lambda", "sqs", "sns", "events", "s3"})

_DETAIL_TYPES = {
    True: "Lambda Function Invocation Result - Success",
    False: "Lambda Function Invocation Result - Failure",
}


def arn_service(arn: str) -> str | None:
    """The service part of an ARN (`sqs`, `lambda`…), or None when it is not an ARN."""
    parts = arn.split(":")
    if len(parts) < 6 or parts[0] != "arn":
        return None
    return parts[2]


def detail_type(success: bool) -> str:
    """The `detail-type` of the EventBridge event carrying a record (`source` is `lambda`)."""
    return _DETAIL_TYPES[success]
