"""rag: local, private question answering over news articles with verified citations.

Data flow, one module per step:
articles.py (files -> raw text) -> clean.py (cleaned documents + metadata) -> chunk.py (passages with spans)
-> embed.py (vectors) -> store.py (FAISS + BM25 index on disk) -> retrieve.py (hybrid search)
-> prompt.py (numbered passages) -> generate.py (llama.cpp, streamed) -> citations.py (verified markers).
pipeline.py ties them together for the CLI (cli.py), the UI (ui/app.py) and evaluation (evaluate.py).
"""

__version__ = "0.1.0"
