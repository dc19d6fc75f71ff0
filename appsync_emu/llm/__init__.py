"""Pluggable LLM backends behind Bedrock Runtime's API: the offline `fake` and the real `bedrock`.

`make_backend()` picks one from settings or the environment (see `factory`),
`bedrock_routes(backend)` (in `wire`) serves it over the real Bedrock wire protocol, and the
AMAZON_BEDROCK_RUNTIME data source calls the same backend in-process.
"""

from __future__ import annotations

from .base import BedrockError, LLMBackend, ModelResponse, ModelStream, collect
from .factory import make_backend

__all__ = ["BedrockError", "LLMBackend", "ModelResponse", "ModelStream", "collect", "make_backend"]
