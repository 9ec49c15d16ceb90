"""Generators: chat messages -> streamed answer text (protocol in base.py)."""
