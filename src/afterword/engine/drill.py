"""Drills: rehearsing the whole release path without touching the switch.

A made-up dossier is sealed with the switch's own custodian labels and threshold, armed as
a switch of its own marked as this one's drill, and released at once; its mail goes to
the owner alone, marked DRILL (:func:`mail_text.drill_marked`). Separate: a drill is a
second switch's whole life, started from an owner action.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from afterword.crypto.bundle import Custodian, seal_bundle
from afterword.crypto.keys import OwnerKey
from afterword.engine.apply import apply_event
from afterword.engine.arming import arm
from afterword.engine.contacts import Contacts
from afterword.engine.context import Context, labels_of, load_switch
from afterword.engine.errors import Conflict
from afterword.switch.machine import ReleaseNow
from afterword.switch.policy import Policy


def run_drill(ctx: Context, switch_id: str) -> dict[str, Any]:
    """Rehearse the whole release path without touching the switch: a made-up dossier
    is sealed here with the switch's own custodian labels and threshold (every share
    held by the server), armed as a switch of its own marked as this one's drill, and
    released at once: trigger, custodian notices, shares, statement, release page,
    recipient mail. Every message goes to the owner's own addresses, marked DRILL."""
    with ctx.store.transaction() as s:
        row = load_switch(ctx, s, switch_id)
        labels, threshold = labels_of(row), json.loads(row.custodians)["threshold"]
        owner_addresses = list(json.loads(row.contacts).get("owner", []))
    if not owner_addresses:
        raise Conflict(
            "a drill sends everything to your own address, and this switch has none",
            "arm with --contact mailto:YOU (a drill never writes to anyone else)",
        )
    with tempfile.TemporaryDirectory(prefix="afterword-drill-") as scratch:
        folder = Path(scratch)
        (folder / "DRILL.txt").write_text(
            f"This is a drill of switch {switch_id}. Nothing real was released.\n"
        )
        sealed = seal_bundle(
            [folder / "DRILL.txt"],
            folder / "bundle",
            OwnerKey.generate(),
            [Custodian(label, ctx.keys.age_recipient) for label in labels],
            threshold,
            conditions=f"DRILL of switch {switch_id}",
        )
        shares = sealed.bundle / "shares"
        mine = owner_addresses[0]
        with open(sealed.bundle / "dossier.age", "rb") as dossier:
            arm(
                ctx,
                manifest=sealed.manifest,
                notice=sealed.notice,
                custodians=json.loads((sealed.bundle / "custodians.json").read_text()),
                dossier=dossier,
                policy=Policy(
                    interval=ctx.config.min_duration, cooling_off=ctx.config.min_duration
                ),
                contacts=Contacts(owner_addresses, dict.fromkeys(labels, mine), [mine]),
                server_envelopes={
                    label: (shares / f"{label}.age").read_bytes() for label in labels
                },
                drill_of=switch_id,
            )
    now = ctx.clock()
    with ctx.store.transaction() as s:
        drill = load_switch(ctx, s, sealed.switch, lock=True)
        state, _ = apply_event(ctx, s, drill, ReleaseNow(skip_waiting=True), now)
    url = f"{ctx.config.public_url}/r/{sealed.switch}"
    return {"switch": sealed.switch, "state": state.phase.value, "url": url, "to": mine}
