"""Shared fixtures: tiny synthetic datasets in each real format, rendered once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

from egoaction.data.synth.generate import synthesize


@pytest.fixture(scope="session")
def synth_root(tmp_path_factory: pytest.TempPathFactory):
    """A function format -> root of a tiny synthetic dataset in that format (rendered on first use)."""
    roots: dict[str, Path] = {}

    def get(fmt: str) -> Path:
        if fmt not in roots:
            root = tmp_path_factory.mktemp("synth") / fmt
            synthesize(fmt, root, preset="tiny", seed=0, workers=2, videos=fmt == "epic100")
            roots[fmt] = root
        return roots[fmt]

    return get
