"""The upstream files vendored in tests/data/ are exact copies of ../shared's (where it exists)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.paths import DATA

VENDORED = sorted(
    str(path.relative_to(DATA))
    for path in DATA.rglob("*")
    if path.is_file() and path.suffix != ".md"
)


def test_every_vendored_file_is_listed_in_the_readme() -> None:
    readme = (DATA / "README.md").read_text(encoding="utf-8")
    assert VENDORED, "tests/data/ holds no upstream file"
    for relative in VENDORED:
        assert f"`{relative}`" in readme, f"tests/data/README.md does not name {relative}"


@pytest.mark.parametrize("relative", VENDORED)
def test_vendored_file_equals_the_shared_copy(relative: str, shared_dir: Path) -> None:
    assert (DATA / relative).read_bytes() == (shared_dir / relative).read_bytes()
