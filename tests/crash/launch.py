"""``afterword serve`` for the crash tests, with the outbox lease shortened.

The dispatcher leases an outbox row for ``LEASE`` seconds (300) before sending it, so that
no other worker sends it meanwhile. A SIGKILL between the lease and the delivery record
leaves the row leased: in production it goes out again when the lease ends, five minutes
later. The crash tests kill the server hundreds of times and cannot wait five minutes for
each such row, so this launcher sets the lease from ``AFTERWORD_TEST_LEASE`` (seconds) and
then runs the real ``afterword`` command line, unchanged in every other respect.

Run as a script: ``python tests/crash/launch.py serve --port ... --data-dir ...``.
"""

from __future__ import annotations

import os
import sys

import afterword.engine.outbox as outbox_module
from afterword.cli import main

if __name__ == "__main__":
    outbox_module.LEASE = int(os.environ.get("AFTERWORD_TEST_LEASE", "2"))
    sys.argv[0] = "afterword"
    main()
