"""Kept so `.venv/bin/python eval/benchmark.py` works: the benchmarks live in rag/evaluation/benchmark.py."""
from rag.evaluation.benchmark import main
raise SystemExit(main())
