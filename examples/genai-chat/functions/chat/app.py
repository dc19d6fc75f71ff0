"""Stream an Amazon Bedrock reply to AppSync subscribers, a batch of tokens at a time.

AppSync invokes this function asynchronously (`invocationType: Event`) from the `ask` mutation
with `{"conversationId", "prompt", "history", "requestedAt"}`: `history` is the conversation so
far, `[{"role": "user" | "assistant", "text": ...}]`, oldest first. The function calls Bedrock's
ConverseStream API with the history and the prompt as `messages` and publishes the reply through
the IAM-only `sendChunk` mutation, signed with SigV4 using the function's own role. AppSync pushes
every `sendChunk` to the `onChunk(conversationId)` subscribers over its WebSocket.

Chunks are numbered from 0 and name the model; the last one has `done: true`. If the model fails,
the last chunk also carries `error`, and the exception is re-raised so that Lambda retries the
event and, when retries are exhausted, sends it to the on-failure destination.

Environment:
    GRAPHQL_URL       the API's GraphQL endpoint (required)
    MODEL_ID          Bedrock model or inference profile id (required)
    MAX_TOKENS        maximum tokens in a reply (default 1024)
    SYSTEM_PROMPT     system prompt (default: a short "be concise" instruction)
    BATCH_MAX_TOKENS  publish once this many tokens are waiting (default 20)
    BATCH_MAX_MS      ... or once this many milliseconds have passed since the last publish (default 100)
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
import urllib.error
import urllib.request
from typing import Any

import boto3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.exceptions import ClientError

logger = logging.getLogger()
logger.setLevel(os.environ.get("LOG_LEVEL", "INFO"))

GRAPHQL_URL = os.environ["GRAPHQL_URL"]
MODEL_ID = os.environ["MODEL_ID"]
REGION = os.environ["AWS_REGION"]
MAX_TOKENS = int(os.environ.get("MAX_TOKENS", "1024"))
SYSTEM_PROMPT = os.environ.get("SYSTEM_PROMPT", "You are a helpful assistant. Answer clearly and concisely.")
BATCH_MAX_TOKENS = int(os.environ.get("BATCH_MAX_TOKENS", "20"))
BATCH_MAX_MS = float(os.environ.get("BATCH_MAX_MS", "100"))
PUBLISH_TIMEOUT_S = 10.0
PUBLISH_ATTEMPTS = 3
RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
# Bedrock's rule for requestMetadata values (shown in its invocation logs; the emulator's page matches on them).
METADATA_VALUE = re.compile(r"[a-zA-Z0-9\s:_@$#=/+,.-]{1,256}")

SEND_CHUNK = """
mutation SendChunk($conversationId: ID!, $seq: Int!, $text: String!, $done: Boolean!, $error: String, $model: String) {
  sendChunk(conversationId: $conversationId, seq: $seq, text: $text, done: $done, error: $error, model: $model) {
    conversationId
    seq
    text
    done
    error
    model
  }
}
"""

# Created once per execution environment and reused by warm invocations. The read timeout bounds
# the silence between two streamed events; "standard" retries cover throttling before the stream.
session = boto3.Session()
bedrock = session.client("bedrock-runtime", config=Config(read_timeout=60, retries={"mode": "standard"}))


class PublishError(Exception):
    """AppSync refused or failed a `sendChunk` call."""


def publish(variables: dict[str, Any]) -> dict[str, Any]:
    """POST `sendChunk` to AppSync, signed with the function's credentials (SigV4, service `appsync`).

    AppSync reports authorization and resolver errors inside an HTTP 200, so the body is
    checked for `errors` as well as the status. Throttling and server errors are retried.
    """
    body = json.dumps({"query": SEND_CHUNK, "variables": variables}).encode()
    attempt = 1
    while True:
        # Signed on every attempt: the date is part of the signature and credentials may rotate.
        request = AWSRequest(method="POST", url=GRAPHQL_URL, data=body, headers={"content-type": "application/json"})
        SigV4Auth(session.get_credentials().get_frozen_credentials(), "appsync", REGION).add_auth(request)
        http_request = urllib.request.Request(GRAPHQL_URL, data=body, headers=dict(request.headers), method="POST")
        try:
            with urllib.request.urlopen(http_request, timeout=PUBLISH_TIMEOUT_S) as response:
                result = json.load(response)
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")[:500]
            if exc.code not in RETRYABLE_STATUS or attempt == PUBLISH_ATTEMPTS:
                raise PublishError(f"sendChunk failed with HTTP {exc.code}: {detail}") from exc
        except urllib.error.URLError as exc:
            if attempt == PUBLISH_ATTEMPTS:
                raise PublishError(f"sendChunk could not reach {GRAPHQL_URL}: {exc.reason}") from exc
        else:
            if result.get("errors"):
                raise PublishError(f"sendChunk was refused: {json.dumps(result['errors'])[:500]}")
            chunk: dict[str, Any] = result["data"]["sendChunk"]
            return chunk
        time.sleep(0.2 * 2**attempt)
        attempt += 1


class ChunkPublisher:
    """Collects tokens and publishes them in batches, numbered from 0, for one answer.

    A batch goes out when `BATCH_MAX_TOKENS` tokens are waiting or `BATCH_MAX_MS` have passed
    since the previous publish, so the first token is shown at once and a fast model costs a
    few mutations a second rather than one per token.
    """

    def __init__(self, conversation_id: str) -> None:
        self.conversation_id = conversation_id
        self.seq = 0
        self.pending: list[str] = []
        self.last_publish = 0.0

    def add(self, token: str) -> None:
        """Queue one token; publish the batch if it is big or old enough."""
        self.pending.append(token)
        waited_ms = (time.monotonic() - self.last_publish) * 1000
        if len(self.pending) >= BATCH_MAX_TOKENS or waited_ms >= BATCH_MAX_MS:
            self._send(done=False)

    def finish(self, error: str | None = None) -> None:
        """Publish what is left as the final chunk (`done: true`, with `error` if the model failed)."""
        self._send(done=True, error=error)

    def _send(self, done: bool, error: str | None = None) -> None:
        text = "".join(self.pending)
        publish(
            {
                "conversationId": self.conversation_id,
                "seq": self.seq,
                "text": text,
                "done": done,
                "error": error,
                "model": MODEL_ID,
            }
        )
        logger.debug("published chunk %d (%d chars, done=%s)", self.seq, len(text), done)
        self.pending.clear()
        self.seq += 1
        self.last_publish = time.monotonic()


def converse_messages(event: dict[str, Any]) -> list[dict[str, Any]]:
    """Converse `messages`: the earlier turns (the `ask` resolver checked that they alternate), then the prompt."""
    turns = [*event.get("history", []), {"role": "user", "text": event["prompt"]}]
    return [{"role": turn["role"], "content": [{"text": turn["text"]}]} for turn in turns]


def request_metadata(event: dict[str, Any]) -> dict[str, str]:
    """Tags for the model call: which conversation and which ask (values Bedrock cannot take are left out)."""
    tags = {"conversationId": str(event["conversationId"]), "requestedAt": str(event.get("requestedAt", ""))}
    return {key: value for key, value in tags.items() if METADATA_VALUE.fullmatch(value)}


def stream_reply(event: dict[str, Any], chunks: ChunkPublisher) -> dict[str, Any]:
    """Stream the model's answer to the ask `event` into `chunks`; return the stop reason and usage."""
    response = bedrock.converse_stream(
        modelId=MODEL_ID,
        messages=converse_messages(event),
        system=[{"text": SYSTEM_PROMPT}],
        inferenceConfig={"maxTokens": MAX_TOKENS},
        requestMetadata=request_metadata(event),
    )
    summary: dict[str, Any] = {}
    for event in response["stream"]:
        if "contentBlockDelta" in event:
            text = event["contentBlockDelta"]["delta"].get("text")
            if text:
                chunks.add(text)
        elif "messageStop" in event:
            summary["stopReason"] = event["messageStop"]["stopReason"]
        elif "metadata" in event:
            summary["usage"] = event["metadata"].get("usage")
    return summary


def describe(exc: Exception) -> str:
    """A short, user-facing description of a model failure (the details go to the log)."""
    if isinstance(exc, ClientError):
        return f"The model could not answer ({exc.response.get('Error', {}).get('Code', 'Error')})."
    return f"The model could not answer ({type(exc).__name__})."


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Answer one `ask`: stream the reply to the conversation's subscribers."""
    conversation_id = event["conversationId"]
    logger.info("answering conversation %s with %s (request %s)", conversation_id, MODEL_ID, context.aws_request_id)
    chunks = ChunkPublisher(conversation_id)
    started = time.monotonic()
    try:
        summary = stream_reply(event, chunks)
    except PublishError:
        raise  # AppSync itself is failing: nothing more can be told to the subscribers
    except Exception as exc:
        logger.exception("model stream failed after %d chunks", chunks.seq)
        chunks.finish(error=describe(exc))
        raise
    chunks.finish()
    logger.info(
        "conversation %s: %d chunks in %.2f s, stop reason %s, usage %s",
        conversation_id,
        chunks.seq,
        time.monotonic() - started,
        summary.get("stopReason"),
        summary.get("usage"),
    )
    return {"conversationId": conversation_id, "chunks": chunks.seq, **summary}
