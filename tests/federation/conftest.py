from tests.delivery.servers import webhook_server  # noqa: F401
from tests.federation.cluster import cluster_factory  # noqa: F401
