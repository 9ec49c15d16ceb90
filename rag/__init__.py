"""rag: local, private question answering over news articles with verified citations.

The folders follow the data:
  ingest/     files -> cleaned documents (articles.py, clean.py) -> chunks and sentences (chunk.py) -> store (run.py)
  backends/   the heavy parts behind small protocols, chosen in factory.py from settings:
              embedders/ (text -> vectors), stores/ (FAISS files or PostgreSQL; dense + lexical search),
              generators/ (llama.cpp in-process, or any OpenAI-compatible server), models.py (the model registry)
  answer/     question -> retrieve.py -> evidence.py -> prompt.py -> streamed answer -> attribution.py/citations.py
              -> policy.py (answer or refuse); assistant.py runs these steps with the components it is given
  assemble.py settings -> components -> an Assistant (make_assistant)
  evaluation/ question sets, metrics, the baseline recipe, ablations (`rag eval`)
text.py (markers, sentences, months), types.py, settings.py, errors.py and versions.py sit below every folder;
imports point down the layers only (backends < access < ingest < answer < assemble < evaluation < shells).
Shells over the same Assistant: cli.py (`rag`), server.py (`rag serve`: page + /api + /v1), client.py (`rag ask`
through a running server), ui/app.py (the chat page).
"""

__version__ = "0.1.0"
