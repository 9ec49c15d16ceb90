"""The Gradio chat page (`rag ui`, and `/` of `rag serve`): a thin front end over rag.answer.assistant.Assistant."""

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # offline and private: no telemetry
