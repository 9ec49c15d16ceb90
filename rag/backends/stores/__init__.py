"""Stores: documents, chunks and sentences with vectors; dense and lexical search (protocol in base.py)."""
