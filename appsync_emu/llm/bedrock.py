"""The `bedrock` backend: the real Bedrock Runtime through boto3, with the user's credentials.

Calls run in this backend's own worker threads; a stream is iterated in a dedicated
daemon thread that hands events to asyncio through a queue, so the event loop never
blocks. Events and bodies pass through unchanged (blobs become base64 strings, as on the
wire); boto3 errors become `BedrockError`s with the same code. boto3 is imported on first
use, so the emulator starts without it. Retries are off by default so that callers see
throttling exactly as Bedrock reports it and can apply their own retry policy.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import threading
from collections.abc import AsyncGenerator, Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, NoReturn, TypeVar

from .base import BedrockError, ChunkStream, EventStream, LLMBackend, ModelResponse, ModelStream

T = TypeVar("T")

#: Default botocore read timeout: above the longest gap between tokens, and long enough for a
#: whole non-streaming answer (botocore's own default is 60 s).
DEFAULT_READ_TIMEOUT_S = 300.0


def missing_configuration(settings: Mapping[str, Any]) -> str | None:
    """What the `bedrock` backend lacks to reach Bedrock (boto3, credentials, a region), or None.

    Checked by `serve --llm bedrock` at start, so a user learns it before the first prompt fails.
    Nothing is sent to AWS: boto3 only looks through its usual configuration chain.
    """
    from .factory import resolved_bedrock_settings

    try:
        import boto3
    except ImportError:
        return "boto3 is not installed: pip install 'appsync-emu[aws]'"
    options = resolved_bedrock_settings(settings)
    try:
        session = boto3.session.Session(profile_name=options.get("profile"), region_name=options.get("region"))
    except Exception as err:  # botocore's ProfileNotFound and friends
        return f"{err}"
    if session.get_credentials() is None:
        return (
            "no AWS credentials found: set AWS_PROFILE (or APPSYNC_EMU_BEDROCK_PROFILE), "
            "or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run `aws configure`"
        )
    if not session.region_name:
        return "no AWS region: set AWS_REGION (or APPSYNC_EMU_BEDROCK_REGION), or a region in your AWS profile"
    return None


class BedrockBackend(LLMBackend):
    """Amazon Bedrock Runtime via boto3. `endpoint_url` redirects it (tests use a local server)."""

    kind = "bedrock"

    def __init__(
        self,
        *,
        region: str | None = None,
        profile: str | None = None,
        endpoint_url: str | None = None,
        read_timeout: float = DEFAULT_READ_TIMEOUT_S,
        connect_timeout: float = 10.0,
        max_attempts: int = 1,
        max_workers: int = 32,
    ) -> None:
        self.region = region
        self.profile = profile
        self.endpoint_url = endpoint_url
        self.read_timeout = read_timeout
        self.connect_timeout = connect_timeout
        self.max_attempts = max_attempts
        self._client: Any = None
        self._lock = threading.Lock()
        self._executor = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="bedrock")

    def _make_client(self) -> Any:
        with self._lock:
            if self._client is None:
                import boto3
                from botocore.config import Config

                session = boto3.session.Session(profile_name=self.profile, region_name=self.region)
                config = Config(
                    read_timeout=self.read_timeout,
                    connect_timeout=self.connect_timeout,
                    retries={"total_max_attempts": self.max_attempts, "mode": "standard"},
                )
                self._client = session.client("bedrock-runtime", endpoint_url=self.endpoint_url, config=config)
            return self._client

    async def _run(self, fn: Callable[[], T], closes: bool = False) -> T:
        future: Future[T] = self._executor.submit(fn)
        try:
            return await asyncio.wrap_future(future)
        except asyncio.CancelledError:
            if closes:
                future.add_done_callback(_close_result)
            raise
        except Exception as exc:
            _reraise(exc)

    def _params(self, operation: str, model_id: str, request: Mapping[str, Any]) -> dict[str, Any]:
        shape = self._make_client().meta.service_model.operation_model(operation).input_shape
        params: dict[str, Any] = _from_json(shape, dict(request))
        params.pop("modelId", None)
        return {"modelId": model_id, **params}

    async def converse(self, model_id: str, request: Mapping[str, Any]) -> dict[str, Any]:
        def call() -> dict[str, Any]:
            response = self._make_client().converse(**self._params("Converse", model_id, request))
            response.pop("ResponseMetadata", None)
            return _to_json(response)  # type: ignore[no-any-return]

        return await self._run(call)

    async def converse_stream(self, model_id: str, request: Mapping[str, Any]) -> EventStream:
        def call() -> Any:
            return self._make_client().converse_stream(**self._params("ConverseStream", model_id, request))

        response = await self._run(call, closes=True)
        return _pump(response["stream"], _to_json)

    def _invoke_params(
        self, model_id: str, body: bytes, content_type: str | None, accept: str | None
    ) -> dict[str, Any]:
        params: dict[str, Any] = {"modelId": model_id, "body": body}
        if content_type:
            params["contentType"] = content_type
        if accept:
            params["accept"] = accept
        return params

    async def invoke_model(
        self, model_id: str, body: bytes, content_type: str | None = None, accept: str | None = None
    ) -> ModelResponse:
        def call() -> ModelResponse:
            response = self._make_client().invoke_model(**self._invoke_params(model_id, body, content_type, accept))
            headers = response["ResponseMetadata"].get("HTTPHeaders", {})
            passed = {k: v for k, v in headers.items() if k.lower().startswith("x-amzn-bedrock-")}
            return ModelResponse(response["body"].read(), response.get("contentType", "application/json"), passed)

        return await self._run(call)

    async def invoke_model_stream(
        self, model_id: str, body: bytes, content_type: str | None = None, accept: str | None = None
    ) -> ModelStream:
        def call() -> Any:
            params = self._invoke_params(model_id, body, content_type, accept)
            return self._make_client().invoke_model_with_response_stream(**params)

        response = await self._run(call, closes=True)
        chunks: ChunkStream = _pump(response["body"], _chunk_bytes)
        return ModelStream(response.get("contentType", "application/json"), chunks)

    async def aclose(self) -> None:
        """Stop the worker threads (running calls finish in the background)."""
        self._executor.shutdown(wait=False, cancel_futures=True)


def _chunk_bytes(event: dict[str, Any]) -> bytes:
    return bytes(event["chunk"]["bytes"])


async def _pump(stream: Any, convert: Callable[[dict[str, Any]], T]) -> AsyncGenerator[T, None]:
    """Iterate a blocking botocore EventStream in a daemon thread, yielding converted events."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
    stop = threading.Event()

    def put(kind: str, item: Any) -> None:
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(queue.put_nowait, (kind, item))

    def worker() -> None:
        try:
            for event in stream:
                if stop.is_set():
                    return
                put("event", event)
            put("end", None)
        except BaseException as exc:
            if not stop.is_set():
                put("error", exc)
        finally:
            with contextlib.suppress(Exception):
                stream.close()

    threading.Thread(target=worker, name="bedrock-stream", daemon=True).start()
    try:
        while True:
            kind, item = await queue.get()
            if kind == "end":
                return
            if kind == "error":
                _reraise(item)
            yield convert(item)
    finally:
        stop.set()
        _shutdown(stream)


def _shutdown(stream: Any) -> None:
    """Unblock a worker thread stuck in a socket read of this stream."""
    raw = getattr(stream, "_raw_stream", None)
    with contextlib.suppress(Exception):
        raw.shutdown()  # type: ignore[union-attr]


def _close_result(future: Future[Any]) -> None:
    with contextlib.suppress(Exception):
        result = future.result()
        for key in ("stream", "body"):
            if hasattr(result.get(key), "close"):
                result[key].close()


def _reraise(exc: BaseException) -> NoReturn:
    mapped = _map_error(exc)
    if mapped is exc:
        raise exc
    raise mapped from exc


def _map_error(exc: BaseException) -> BaseException:
    """The BedrockError for a boto3/botocore/urllib3 failure; other exceptions unchanged."""
    from botocore import exceptions as bx

    if isinstance(exc, bx.ClientError):
        error = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if isinstance(exc, bx.EventStreamError):
            status = None
        return BedrockError(str(error.get("Code", "InternalServerException")), str(error.get("Message", "")), status)
    if isinstance(exc, bx.ParamValidationError):
        return BedrockError("ValidationException", str(exc), 400)
    if "ReadTimeout" in type(exc).__name__:
        return BedrockError("ModelTimeoutException", f"Bedrock did not answer in time: {exc}", 408)
    if isinstance(exc, bx.NoCredentialsError | bx.PartialCredentialsError | bx.ProfileNotFound):
        return BedrockError("AccessDeniedException", f"appsync-emu bedrock backend: {exc}", 403)
    if isinstance(exc, bx.NoRegionError):
        message = f"appsync-emu bedrock backend: {exc} (set APPSYNC_EMU_BEDROCK_REGION)"
        return BedrockError("InternalServerException", message, 500)
    if isinstance(exc, bx.EndpointConnectionError | bx.ConnectionClosedError) or "Protocol" in type(exc).__name__:
        return BedrockError("ServiceUnavailableException", f"appsync-emu bedrock backend: {exc}", 503)
    if isinstance(exc, bx.BotoCoreError):
        return BedrockError("InternalServerException", f"appsync-emu bedrock backend: {exc}", 500)
    return exc


def _from_json(shape: Any, value: Any) -> Any:
    """A request in wire JSON form as boto3 parameters: base64 blob members decoded."""
    if shape is None:
        return value
    kind = shape.type_name
    if kind == "structure" and isinstance(value, dict) and not getattr(shape, "is_document_type", False):
        return {k: _from_json(shape.members.get(k), v) for k, v in value.items()}
    if kind == "list" and isinstance(value, list):
        return [_from_json(shape.member, v) for v in value]
    if kind == "map" and isinstance(value, dict):
        return {k: _from_json(shape.value, v) for k, v in value.items()}
    if kind == "blob" and isinstance(value, str):
        return base64.b64decode(value)
    return value


def _to_json(value: Any) -> Any:
    """A botocore result made JSON-serialisable: bytes as base64, as the wire carries them."""
    if isinstance(value, dict):
        return {k: _to_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_to_json(v) for v in value]
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode()
    return value
