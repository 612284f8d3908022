"""The child process of the benchmark: one afterword ``seal_bundle`` in a fresh process, so
its time from spawn to exit and its peak RSS are its own; it prints what it sealed as JSON.
"""

from __future__ import annotations

import json
import time
from pathlib import Path


def child_seal(src: Path, dst: Path, recipients: list[str]) -> int:
    started = time.perf_counter()
    from afterword.crypto.bundle import Custodian, seal_bundle
    from afterword.crypto.keys import OwnerKey

    imported = time.perf_counter()
    owner = OwnerKey.generate()
    custodians = [
        Custodian("a", recipients[0]),
        Custodian("b", "paper"),
        Custodian("c", recipients[-1]),
    ]
    sealing = time.perf_counter()
    result = seal_bundle([src], dst, owner, custodians, 2)
    done = time.perf_counter()
    report = {
        "documents": result.documents,
        "dossier_size": result.size,
        "import_seconds": imported - started,
        "seal_seconds": done - sealing,
    }
    print(json.dumps(report), flush=True)
    return 0
