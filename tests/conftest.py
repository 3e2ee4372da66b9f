import os

import pytest
from hypothesis import settings

# CI runs the same examples every time, so a red run can be reproduced; elsewhere each
# run explores new ones.
settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


@pytest.fixture
def anyio_backend() -> str:
    """aiogram runs on asyncio only."""
    return "asyncio"
