"""The upstream files vendored in tests/data/ are exact copies of ../shared's (where it exists)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.paths import DATA, UPSTREAM

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


UPSTREAM_FILES = sorted(
    path.relative_to(UPSTREAM)
    for path in UPSTREAM.rglob("*")
    if path.is_file() and path.name != "SOURCE.md"
)


@pytest.mark.parametrize("relative", UPSTREAM_FILES, ids=str)
def test_every_upstream_file_names_its_source(relative: Path) -> None:
    """tests/upstream/ holds upstream files ../shared does not have: each folder's SOURCE.md
    names every file in it with its repository and tag."""
    source = UPSTREAM / relative.parts[0] / "SOURCE.md"
    assert source.is_file(), f"{source} is missing"
    assert relative.name in source.read_text(encoding="utf-8"), f"{source} does not name it"
