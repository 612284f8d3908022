"""Fuzz release verification (``afterword verify FOLDER [--open OUT]`` and a statement on
its own): one of the five downloaded files damaged or replaced, the JSON ones signed
again by a hostile server (statement) or owner (manifest, notice)."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from afterword.crypto.release import verify_release_folder, verify_statement
from afterword.crypto.signing import SERVER_KEY
from fuzz.common import FDP, expect_refusal, fixtures, mutated, resign, run

FILES = ("statement.json", "manifest.json", "notice.json", "key", "dossier.age", None)


def damaged_bytes(fdp: FDP, blob: bytes) -> bytes:
    op = fdp.ConsumeIntInRange(0, 3)
    i = fdp.ConsumeIntInRange(0, len(blob))
    if op == 0:
        return blob[:i]
    if op == 1 and blob:
        i = min(i, len(blob) - 1)
        return blob[:i] + bytes([blob[i] ^ fdp.ConsumeIntInRange(1, 255)]) + blob[i + 1 :]
    if op == 2:
        return blob[:i] + fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 64)) + blob[i:]
    return fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 4096))


def one_input(data: bytes) -> None:
    fdp = FDP(data)
    fx = fixtures()
    pin = fx.server.public_key if fdp.ConsumeBool() else None
    if fdp.ConsumeIntInRange(0, 3) == 0:  # a statement on its own
        statement = mutated(fdp, fx.statement)
        if fdp.ConsumeBool():
            statement = resign(statement, fx.server, SERVER_KEY)
        expect_refusal(lambda: verify_statement(statement, pin, fx.notice))
        return
    work = Path(tempfile.mkdtemp(dir=fx.root))
    try:
        folder = work / "release"
        shutil.copytree(fx.release, folder)
        target = fdp.PickValueInList(list(FILES))
        if target is None:
            pass
        elif target.endswith(".json") and fdp.ConsumeIntInRange(0, 3):
            doc = mutated(fdp, json.loads((folder / target).read_text(encoding="utf-8")))
            if fdp.ConsumeIntInRange(0, 3):
                if target == "statement.json":
                    doc = resign(doc, fx.server, SERVER_KEY)
                else:
                    doc = resign(doc, fx.owner)
            (folder / target).write_text(json.dumps(doc), encoding="utf-8")
        elif fdp.ConsumeIntInRange(0, 7) == 0:
            (folder / target).unlink()
        else:
            (folder / target).write_bytes(damaged_bytes(fdp, (folder / target).read_bytes()))
        out = work / "opened" if fdp.ConsumeIntInRange(0, 3) == 0 else None
        expect_refusal(lambda: verify_release_folder(folder, server_key=pin, open_to=out))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    run(one_input)
