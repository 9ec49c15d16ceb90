"""Question sets, metrics, the baseline recipe, ablations and reports (`rag eval`).

questions.py (file format) -> run.py (ask each question; `run_cli` is `rag eval`) -> scoring.py (one row, with
metrics.py) -> summary.py (summary.json) -> report.py (report.md, screen summary) and charts.py (PNGs).
ablation.py and baseline.py compare techniques and the naive peer recipe; benchmark.py measures speed.
"""
