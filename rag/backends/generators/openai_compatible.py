"""A generator behind any OpenAI-compatible server: llama.cpp's server, Ollama, vLLM (`openai:http://HOST:PORT/v1`).

The answerability gate needs the model's probability of starting its refusal sentence. Servers that return
`logprobs` with `top_logprobs` give it: the probability mass of the first position's top tokens that begin a
refusal sentence. A server that does not (or rejects the request) answers without it; the gate then refuses only
on weak evidence and on what the model wrote ("not found", invented figures), as the README explains.
A server's `logit_bias` would hold for every token, not the first alone, so `GenerationReport.ban_below` is not
applied here: an unlikely refusal the model writes anyway is refused as "not found".
"""

from __future__ import annotations

import math
import threading
from typing import TYPE_CHECKING, Any, Iterator

from pydantic import Field

from rag.backends.generators.base import GenerationReport, Messages, normalise_choice
from rag.backends.options import BackendOptions
from rag.backends.openai_server import first_model
from rag.errors import ModelError

if TYPE_CHECKING:
    from rag.settings import Settings

TOP_LOGPROBS = 20


def refusal_mass(top: list[tuple[str, float]], watch: list[str]) -> float:
    """Probability of the top first tokens that begin one of the watched texts.

    Without the server's tokenizer a token counts when a watched text starts with it and it has at least two
    characters: a single letter ("M") mostly starts other words ("Menteri"), and counting it would refuse good
    answers. A tokenizer that splits the refusal after one letter then gives 0 (the gate is weaker, never stricter).
    """
    starts = [w.lstrip() for w in watch if w.strip()]
    total = 0.0
    for token, logprob in top:
        t = token.lstrip()
        if len(t) >= 2 and any(s.startswith(t) for s in starts):
            total += math.exp(logprob)
    return min(total, 1.0)


class OpenAICompatibleGenerator:
    """Streams chat completions from a model server through the `openai` client."""

    class Options(BackendOptions):
        """[generator.openai] (also the flat generator_model, generator_api_key, generator_timeout)."""

        model: str | None = Field(None, description="model name on the server (default: its first)")
        api_key: str = Field("not-needed", description="API key, if the server wants one")
        timeout: float = Field(300.0, gt=0, description="seconds to wait for the server")

    reads = ()

    @classmethod
    def from_settings(cls, target: str, options: OpenAICompatibleGenerator.Options,
                      settings: Settings) -> OpenAICompatibleGenerator:
        """A client of the server at `target` (its model: the option, else the server's first)."""
        return cls(target, options.model, options.api_key, options.timeout)

    def __init__(self, base_url: str, model: str | None = None, api_key: str = "not-needed",
                 timeout: float = 300.0) -> None:
        import openai

        self.base_url = base_url.rstrip("/")
        self._model = model
        self.client = openai.OpenAI(base_url=self.base_url, api_key=api_key, timeout=timeout, max_retries=1)
        self.logprobs_supported: bool | None = None  # learnt from the first request that asks for them
        self.name = f"openai:{self.base_url}" + (f" ({model})" if model else "")
        self._lock = threading.Lock()

    def _unreachable(self, e: Exception) -> ModelError:
        return ModelError(f"the model server at {self.base_url} did not answer ({type(e).__name__}: {e})",
                          "start it (e.g. `python -m llama_cpp.server --model FILE.gguf`) or fix RAG_GENERATOR")

    @property
    def model(self) -> str:
        """The model to ask for: the configured one, else the server's first."""
        with self._lock:
            if self._model is None:
                self._model = first_model(self.client, self.base_url, self._unreachable, "model", "RAG_GENERATOR_MODEL")
                self.name = f"openai:{self.base_url} ({self._model})"
            return self._model

    def warm_up(self) -> None:
        """Check the server answers (and learn its model name) before the first question."""
        _ = self.model

    def _create(self, want_logprobs: bool, **kwargs: Any) -> Any:
        import openai

        try:
            if want_logprobs:
                try:
                    return self.client.chat.completions.create(logprobs=True, top_logprobs=TOP_LOGPROBS, **kwargs)
                except openai.BadRequestError:
                    self.logprobs_supported = False  # this server rejects logprobs: ask without from now on
            return self.client.chat.completions.create(**kwargs)
        except openai.APIStatusError as e:
            raise ModelError(f"the model server at {self.base_url} refused the request: {e.status_code} {e.message}",
                             "check RAG_GENERATOR_MODEL and the server's log") from e
        except openai.OpenAIError as e:
            raise self._unreachable(e) from e

    def stream(
        self, messages: Messages, max_tokens: int, temperature: float, report: GenerationReport | None = None,
    ) -> Iterator[str]:
        """Yield the answer as the server streams it; the first chunk's top logprobs give the refusal probability."""
        want = report is not None and bool(report.watch) and self.logprobs_supported is not False
        response = self._create(
            want, model=self.model, messages=messages, max_tokens=max_tokens, temperature=temperature, top_p=0.9,
            seed=0, stream=True, stream_options={"include_usage": True},
        )
        first = True
        try:
            for chunk in response:
                if report is not None and getattr(chunk, "usage", None):
                    report.prompt_tokens = chunk.usage.prompt_tokens
                    report.completion_tokens = chunk.usage.completion_tokens
                if not chunk.choices:
                    continue
                choice = chunk.choices[0]
                piece = choice.delta.content if choice.delta else None
                if first and piece and report is not None and report.watch:
                    report.p_watch = self._first_token_p(choice, report.watch)
                if piece:
                    first = False
                    yield piece
        finally:
            response.close()

    def choose(self, messages: Messages, options: dict[str, list[str]]) -> dict[str, float] | None:
        """One token with its top logprobs: each option's probability by the tokens that spell its start."""
        if self.logprobs_supported is False:
            return None
        response = self._create(True, model=self.model, messages=messages, max_tokens=1, temperature=0.0, seed=0)
        content = getattr(getattr(response.choices[0], "logprobs", None), "content", None) if response.choices else None
        if not content or not content[0].top_logprobs:
            return None
        top = [(t.token.strip(), math.exp(t.logprob)) for t in content[0].top_logprobs]
        return normalise_choice({name: sum(p for tok, p in top if tok and any(s.startswith(tok) for s in spellings))
                                 for name, spellings in options.items()})

    def _first_token_p(self, choice: Any, watch: list[str]) -> float | None:
        content = getattr(getattr(choice, "logprobs", None), "content", None)
        if not content or not content[0].top_logprobs:
            if self.logprobs_supported is None:
                self.logprobs_supported = False
            return None
        self.logprobs_supported = True
        return refusal_mass([(t.token, t.logprob) for t in content[0].top_logprobs], watch)
