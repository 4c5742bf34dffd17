"""The backend interface: one attempt at one chat request. Retries, limits and caching
live in the client around it (client.py), so every backend gets them for free."""

from __future__ import annotations

from abc import ABC, abstractmethod

from synthpipe.llm.config import LLMConfig
from synthpipe.llm.types import ChatRequest, ChatResponse


class LLMBackend(ABC):
    supports_response_format: bool = False  # server-side JSON schema / guided decoding
    supports_tools: bool = False  # the OpenAI `tools` API; else tools go into the prompt (llm/tool_prompt.py)

    def __init__(self, config: LLMConfig):
        self.config = config

    @abstractmethod
    async def chat(self, request: ChatRequest) -> ChatResponse:
        """Make one attempt. Raise RetryableError / FatalError (llm.types) on failure."""

    async def aclose(self) -> None:  # noqa: B027  (optional hook)
        """Release connections, models, threads."""

