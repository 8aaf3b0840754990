"""The doctor tests run on the apply tests' simulators: no request of ours may be rejected."""

from tests.apply.conftest import schema_clean_requests

__all__ = ["schema_clean_requests"]
