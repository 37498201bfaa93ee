"""Shared test fixtures.

Real data and validation sets live in ``../shared`` beside the repository (CI lays it there); they
are never copied into the repository. Tests that need them skip with the reason when absent, as on a
user's machine.
"""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


def shared_path(*parts: str) -> Path:
    """Path of a file under ``../shared``; skips the calling test with a clear reason if absent."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(
            f"{path} is absent (../shared holds the real and validation data; not on this machine)"
        )
    return path


@pytest.fixture
def real_data() -> Path:
    """``../shared/data/real`` (skip if absent)."""
    return shared_path("data", "real")


@pytest.fixture
def validation() -> Path:
    """``../shared/validation`` (skip if absent)."""
    return shared_path("validation")
