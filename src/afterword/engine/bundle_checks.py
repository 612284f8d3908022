"""What arming checks of a bundle before anything is kept.

The switch id and its binding to the owner key, the manifest's dossier description, the
custodians roster, and the shares the server is to hold. Pure checks of documents (but
the server key that opens its envelopes), kept apart from the arming transaction so each
rule can be read and tested on its own.
"""

from __future__ import annotations

import json
import re
from typing import Any

import shamir_mnemonic

from afterword.crypto.bundle import LABEL
from afterword.crypto.encoding import age_identity_from_secret, age_recipient_of, is_count
from afterword.crypto.shares import ShareEnvelope, combine_shares, commitment, normalize_mnemonic
from afterword.crypto.signing import Document
from afterword.crypto.switch_id import check_switch_binding
from afterword.engine.context import Context
from afterword.errors import FormatError, ShareError


def check_server_envelope(
    ctx: Context, switch_id: str, label: str, blob: bytes, labels: dict[str, Any]
) -> str:
    """The share the server is to hold for ``label``, checked against the roster;
    returns its mnemonic."""
    if label not in labels:
        raise FormatError(f"no custodian is labelled {label!r} in custodians.json")
    try:
        envelope = ShareEnvelope.from_json(json.loads(ctx.keys.decrypt(blob)))
    except Exception as exc:
        raise FormatError(
            f"the envelope for {label!r} does not open with this server's key",
            "seal it for the recipient at /.well-known/afterword",
        ) from exc
    if envelope.switch != switch_id or commitment(envelope.mnemonic) != labels[label]["commitment"]:
        raise FormatError(f"the envelope for {label!r} is not {label}'s share of this switch")
    return envelope.mnemonic


_HEX64 = re.compile(r"[0-9a-f]{64}")


def check_bound_switch(switch_id: str, owner: str, recipient: str, notice: Document) -> None:
    """Arm an id only for the key it is derived from: the notice shown to the adversary
    names the id, and whoever saw it must not be able to arm it first with a key of theirs
    (the owner could then never arm it). The notice must name the same binding, or the
    server would publish a notice that ``afterword verify`` refuses."""
    hint = (
        "a switch id is derived from the owner key and the dossier: arm the bundle that "
        "afterword sealed with your own key, as it is (seal it again if an older afterword "
        "made it)"
    )
    check_switch_binding(switch_id, owner, recipient, what="the manifest", hint=hint)
    if notice.get("dossier_recipient") != recipient:
        raise FormatError(
            "the notice names another dossier recipient than the manifest",
            "upload the notice and the manifest of the same bundle",
        )


def check_dossier_info(value: object) -> dict[str, Any]:
    """The manifest's description of its dossier, every field present and well-formed."""
    if (
        not isinstance(value, dict)
        or not is_count(value.get("size"))
        or not is_count(value.get("header_size"))
        or not isinstance(value.get("header_sha256"), str)
        or not _HEX64.fullmatch(value["header_sha256"])
        or not isinstance(value.get("recipient"), str)
    ):
        raise FormatError(
            "the manifest does not describe its dossier (size, header, recipient)",
            "seal the bundle again with afterword",
        )
    return value


def check_roster(roster: Document) -> tuple[int, dict[str, dict[str, Any]]]:
    """custodians.json: a threshold that can be met, and well-formed, unique custodians."""
    entries = roster.get("custodians")
    if not isinstance(entries, list) or not entries:
        raise FormatError("custodians.json lists no custodians")
    labels: dict[str, dict[str, Any]] = {}
    for entry in entries:
        if (
            not isinstance(entry, dict)
            or not isinstance(entry.get("label"), str)
            or not LABEL.fullmatch(entry["label"])
            or not isinstance(entry.get("commitment"), str)
            or not _HEX64.fullmatch(entry["commitment"])
        ):
            raise FormatError(
                "custodians.json has a custodian without a usable label or commitment",
                "labels are letters, digits, dot, dash and underscore (up to 64)",
            )
        if entry["label"] in labels:
            raise FormatError(f"custodians.json lists {entry['label']!r} twice")
        labels[entry["label"]] = entry
    threshold = roster.get("threshold")
    if not is_count(threshold) or not 1 <= threshold <= len(labels):  # type: ignore[operator]
        raise FormatError(
            "custodians.json has an impossible threshold",
            f"it must be a whole number from 1 to {len(labels)}",
        )
    assert isinstance(threshold, int)
    return threshold, labels


def check_server_shares(mnemonics: list[str], threshold: int, recipient: str) -> None:
    """What arming can check of the shares the server is to hold (issue 15, item 1): each
    is a one-group SLIP-39 share whose member threshold is the roster's, all of one
    secret; if the server holds enough of them, they rebuild the key of this dossier. A
    switch that passes cannot fail at release for any of these reasons."""
    fix = "seal the bundle again with afterword, and arm it as it came out"
    params = set()
    for words in mnemonics:
        try:
            share = shamir_mnemonic.Share.from_mnemonic(normalize_mnemonic(words))
        except (shamir_mnemonic.MnemonicError, ValueError, ShareError) as exc:
            raise FormatError("a share for the server is not a SLIP-39 share", fix) from exc
        if share.group_count != 1 or share.group_threshold != 1:
            raise FormatError("a share for the server is not of a single SLIP-39 group", fix)
        if share.member_threshold != threshold:
            raise FormatError(
                f"custodians.json says {threshold} shares release the dossier, but the "
                f"server's shares need {share.member_threshold}",
                fix,
            )
        params.add((share.identifier, share.extendable, share.iteration_exponent))
    if len(params) > 1:
        raise FormatError("the server's shares are not shares of one secret", fix)
    if len(set(mnemonics)) < threshold:
        return
    try:
        rebuilt = age_recipient_of(age_identity_from_secret(combine_shares(mnemonics)))
    except ShareError as exc:
        raise FormatError(f"the server's shares do not combine: {exc.message}", fix) from exc
    if rebuilt != recipient:
        raise FormatError("the server's shares rebuild a key that does not open this dossier", fix)
