"""What the OpenAI-compatible embedder and generator share: finding the model a server offers."""

from __future__ import annotations

from typing import Any, Callable

from rag.errors import ModelError


def first_model(client: Any, base_url: str, failed: Callable[[Exception], ModelError], kind: str,
                setting: str) -> str:
    """The id of the first model the server lists; a ModelError naming `setting` when it lists none or fails."""
    import openai

    try:
        models = client.models.list().data
    except openai.OpenAIError as e:
        raise failed(e) from e
    if not models:
        raise ModelError(f"the {kind} server at {base_url} lists no models", f"load a model there or set {setting}")
    return str(models[0].id)
