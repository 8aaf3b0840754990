"""The doctor tests run on the apply tests' simulators: no request of ours may be rejected."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.apply import support


@pytest.fixture(autouse=True)
def schema_clean_requests() -> Iterator[None]:
    support.SIMS.clear()
    support.REJECTED.clear()
    yield
    rejected = [entry for sim in support.SIMS for entry in sim.log.rejections()]
    rejected += [entry for entry in support.REJECTED if entry not in rejected]
    support.SIMS.clear()
    support.REJECTED.clear()
    assert rejected == [], f"the simulator rejected requests of our client: {rejected[:3]}"
