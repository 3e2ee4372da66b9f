import pytest


@pytest.fixture
def anyio_backend() -> str:
    """aiogram runs on asyncio only."""
    return "asyncio"
