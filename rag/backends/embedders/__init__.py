"""Embedders: text -> unit vectors (protocol in base.py)."""
