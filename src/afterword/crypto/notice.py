"""The notice: the signed statement an adversary is shown.

It names the Merkle root and document count (and titles if the owner opts in), the
K-of-N custodian split, the check-in policy, the conditions in the owner's words, the
owner's public key, the dossier's age recipient (the switch id is derived from those two,
see :func:`afterword.crypto.dossier.switch_id_for`) and where releases appear.
``render_text`` is its readable form; only the JSON is signed.
"""

from __future__ import annotations

import textwrap
from typing import Any

from afterword.crypto.signing import Document, fingerprint, verify_document
from afterword.crypto.switch_id import check_switch_binding
from afterword.errors import IntegrityError

NOTICE_KIND = "notice/1"
POLICY_FIELDS = ("interval", "grace", "waiting")


def notice_body(
    *,
    manifest: Document,
    threshold: int,
    shares: int,
    conditions: str | None,
    policy: dict[str, int] | None,
    releases: str | None,
    created: str,
) -> dict[str, Any]:
    """The unsigned notice for a signed public manifest."""
    body: dict[str, Any] = {
        "afterword": NOTICE_KIND,
        "switch": manifest["switch"],
        # the switch id is derived from the owner key and this recipient: naming it lets
        # anyone check that the id is the owner's, not one squatted by whoever saw it first
        "dossier_recipient": manifest["dossier"]["recipient"],
        "created": created,
        "tree": manifest["tree"],
        "root": manifest["root"],
        "count": manifest["count"],
        "threshold": threshold,
        "shares": shares,
        "conditions": conditions,
        "policy": policy,
        "releases": releases,
    }
    if "titles" in manifest:
        body["titles"] = manifest["titles"]
    return body


def describe_duration(seconds: int) -> str:
    for unit, size in (("week", 604800), ("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            n = seconds // size
            return f"{n} {unit}{'s' if n != 1 else ''}"
    return f"{seconds} seconds"


def render_text(notice: Document) -> str:
    """A plain-text rendering for people; says how to check the signed JSON."""
    wrap = textwrap.TextWrapper(width=76)
    lines = [
        "NOTICE",
        "",
        *wrap.wrap(
            f"The owner of the key below has sealed {notice['count']} document(s) into an "
            "encrypted dossier. If the conditions below are met, the dossier will be released."
        ),
        "",
        f"Dossier:      {notice['switch']}",
        f"Merkle root:  {notice['root']}",
        f"Documents:    {notice['count']}",
        f"Key holders:  {notice['shares']} custodians hold shares of the key; "
        f"any {notice['threshold']} can open it.",
    ]
    policy = notice.get("policy")
    if policy:
        lines.append(
            "Check-ins:    every "
            f"{describe_duration(policy['interval'])}, "
            f"{describe_duration(policy.get('grace', 0))} grace, "
            f"then {describe_duration(policy.get('waiting', 0))} before release."
        )
    if notice.get("releases"):
        lines.append(f"Releases at:  {notice['releases']}")
    lines += ["", f"Owner key:    {notice['owner_key']}"]
    lines.append(f"Fingerprint:  {fingerprint(notice['owner_key'])}")
    if notice.get("conditions"):
        lines += ["", "Conditions, in the owner's words:", ""]
        for paragraph in str(notice["conditions"]).splitlines():
            lines += ["  " + line for line in wrap.wrap(paragraph)] or [""]
    if notice.get("titles"):
        lines += ["", "Documents listed by the owner:"]
        lines += [f"  {i + 1}. {t}" for i, t in enumerate(notice["titles"])]
    lines += [
        "",
        *wrap.wrap(
            "Each document is committed to by a salted hash under the Merkle root, so a "
            "teaser (one document with its inclusion proof) proves it is part of this "
            "dossier, and nobody can add, remove or change a document afterwards."
        ),
        "",
        "Check this notice:   afterword verify notice.json",
        "Check a teaser:      afterword verify TEASER --notice notice.json",
        "",
    ]
    return "\n".join(lines)


# --- reading a notice, and holding other files to it ----------------------------------
# (here, not in verify.py: crypto/release.py checks a release against its notice too, and
# verify.py dispatches to release.py; both import this module, neither the other)


def check_against_notice(
    doc: Document, notice: Document, size_field: str, *, subject: str = "this file"
) -> None:
    """A manifest, teaser or release must name the notice's switch, root, size and owner.

    This is what ties a file to the notice the adversary was shown; ``subject`` names the
    file in the hint (a release statement shares the notice's field names, so it can be
    checked the same way).
    """
    for mine, theirs, what in (
        ("switch", "switch", "dossier id"),
        ("root", "root", "Merkle root"),
        (size_field, "count", "document count"),
        ("owner_key", "owner_key", "owner key"),
    ):
        if doc.get(mine) != notice.get(theirs):
            raise IntegrityError(
                f"the {what} differs from the notice's ({doc.get(mine)} vs {notice.get(theirs)})",
                f"{subject} does not belong to that notice",
            )


NOT_THE_OWNERS = (
    "do not trust that this switch is the owner's; ask the owner for the {} afterword made"
)


def check_notice_switch(notice: Document) -> None:
    """A notice's switch id must be the one derived from its owner key and dossier
    recipient: else whoever saw the id first could have armed it with a key of theirs."""
    check_owners_switch(notice, notice.get("dossier_recipient"), "notice")


def check_owners_switch(doc: Document, recipient: object, kind: str) -> None:
    """``doc`` (a notice or manifest) names the switch of its owner key and ``recipient``."""
    check_switch_binding(
        doc.get("switch"),
        doc.get("owner_key"),
        recipient,
        what=f"the {kind}",
        hint=NOT_THE_OWNERS.format(kind),
    )


def load_notice(doc: Any) -> Document:
    """A notice, checked: its signature, and that its switch id is its owner's."""
    notice = verify_document(doc, "notice")
    check_notice_switch(notice)
    return notice
