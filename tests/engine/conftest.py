from collections.abc import Iterator
from pathlib import Path

import pytest

from afterword.crypto.keys import OwnerKey
from tests.delivery.servers import smtp_server, webhook_server  # noqa: F401
from tests.engine.federation import Federation, close, federation
from tests.store.conftest import pg_url, store  # noqa: F401


@pytest.fixture
def fed(tmp_path: Path, owner: OwnerKey) -> Iterator[Federation]:
    """A switch on three servers in virtual time (tests/engine/federation.py)."""
    made = federation(tmp_path, owner)
    yield made
    close(made)
