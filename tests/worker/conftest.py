from tests.delivery.servers import smtp_server, webhook_server  # noqa: F401
from tests.store.conftest import pg_url, store  # noqa: F401
