"""Versions an index depends on, kept at the bottom so that stores and ingest can both read them."""

from __future__ import annotations

# Bump when the cleaning rules (rag/ingest/clean.py) change: indexes built with older rules are then reported.
# 4: a title spelled from the link's slug takes the text's spelling of names and figures ("8,02", not "802").
CLEANING_VERSION = 4
