"""Shared fixtures: real settings in temp folders, a real index of the seed articles, the real models."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from rag.settings import PROJECT_ROOT, Settings  # noqa: E402

SEEDS = PROJECT_ROOT / "seeds"


def make_settings(tmp: Path, **overrides: object) -> Settings:
    """Settings with the index in a temp folder (models stay in the shared cache)."""
    return Settings(index_dir=tmp / "index", **overrides)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def seed_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private copy of seeds/ (tests may not touch the real one)."""
    dest = tmp_path_factory.mktemp("seeds") / "seeds"
    shutil.copytree(SEEDS, dest)
    return dest


@pytest.fixture(scope="session")
def seed_settings(tmp_path_factory: pytest.TempPathFactory, seed_copy: Path) -> Settings:
    """Settings whose index holds the five seed articles (built once per test session)."""
    from rag.ingest import ingest

    s = make_settings(tmp_path_factory.mktemp("seedindex"), seeds_dir=seed_copy)
    ingest([seed_copy], s, progress=False)
    return s


@pytest.fixture(scope="session")
def small_settings(seed_settings: Settings) -> Settings:
    """The seed index with the tiny SmolLM2 generator (proves plumbing, not answer quality)."""
    return seed_settings.model_copy(update={"generator": "smollm2-135m", "max_tokens": 48})
