"""The Gradio chat page (`rag ui`): a thin front end over rag.pipeline.Assistant."""
