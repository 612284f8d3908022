from tests.crash.tally import report_crashes
from tests.delivery.servers import smtp_server, webhook_server  # noqa: F401
from tests.store.conftest import pg_url  # noqa: F401


def pytest_terminal_summary(terminalreporter: object) -> None:
    report_crashes(terminalreporter)
