"""Files in, index out: find and read article files (articles.py), clean them into documents (clean.py),
chunk them (chunk.py), embed only what changed and write the store (run.py)."""
