"""Regression tests for what the fuzz harnesses (and writing them) found: inputs that made
a parser of untrusted input fail with something other than an AfterwordError.

Most are documents signed again after a change: a hostile owner (or a seized server) signs
whatever they like, so a signature proves who wrote a document, not that it is well-formed.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyrage
import pytest
from fuzz.common import Fixtures, fixtures, resign

from afterword.crypto.release import verify_release_folder
from afterword.crypto.shares import ShareEnvelope, read_share
from afterword.crypto.signing import SERVER_KEY
from afterword.crypto.verify import verify_manifest, verify_notice, verify_path, verify_teaser
from afterword.errors import AfterwordError, FormatError, IntegrityError, ShareError
from afterword.switch.policy import parse_duration, parse_reminders


@pytest.fixture(scope="module")
def fx() -> Iterator[Fixtures]:
    made = fixtures()
    yield made
    shutil.rmtree(made.root, ignore_errors=True)
    fixtures.cache_clear()


def changed(doc: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """``doc`` with ``fields`` set (a value of ``...`` deletes the field)."""
    out = {k: v for k, v in doc.items() if fields.get(k) is not ...}
    out.update({k: v for k, v in fields.items() if v is not ...})
    return out


def test_the_untouched_documents_verify(fx: Fixtures) -> None:
    """The baseline the regressions below change one thing of."""
    assert verify_notice(fx.notice)
    assert verify_manifest(fx.manifest, fx.notice)
    assert verify_teaser(fx.teaser, fx.notice)
    assert verify_release_folder(fx.release, server_key=fx.server.public_key)


@pytest.mark.parametrize("field", ["shares", "threshold", "count", "root"])
def test_signed_notice_without_a_field_is_refused(fx: Fixtures, field: str) -> None:
    """Was a KeyError out of verify_notice (fuzz.notice)."""
    notice = resign(changed(fx.notice, **{field: ...}), fx.owner)
    with pytest.raises(FormatError, match=field if field != "root" else "Merkle root"):
        verify_notice(notice)
    wrong_type = 2 if field == "root" else "2"
    notice = resign(changed(fx.notice, **{field: wrong_type}), fx.owner)
    with pytest.raises(FormatError):
        verify_notice(notice)


@pytest.mark.parametrize(
    "dossier",
    [
        ...,
        [1],
        {"size": 10},
        {"header_sha256": "00" * 32},
        {"size": -1, "header_sha256": "00" * 32},
    ],
)
def test_signed_manifest_without_its_dossier_is_refused(fx: Fixtures, dossier: Any) -> None:
    """Was a KeyError out of verify_manifest (fuzz.manifest)."""
    manifest = resign(changed(fx.manifest, dossier=dossier), fx.owner)
    with pytest.raises(FormatError, match="does not describe its dossier"):
        verify_manifest(manifest, None)


@pytest.mark.parametrize("size", [-1, 2**64, 2**64 + 5])
def test_signed_teaser_with_an_impossible_size_is_refused(fx: Fixtures, size: int) -> None:
    """Was a struct.error out of check_teaser: the leaf packs the size as an unsigned
    64-bit number (fuzz.teaser)."""
    teaser = changed(fx.teaser, size=size)
    if size < 2**53:  # canonical JSON holds it: the hostile owner can sign it
        teaser = resign(teaser, fx.owner)
        with pytest.raises(FormatError, match="out of range"):
            verify_teaser(teaser, None)
    with pytest.raises(AfterwordError):
        verify_teaser(teaser, None)


def test_teaser_file_with_an_infinite_size_is_refused(fx: Fixtures, tmp_path: Path) -> None:
    """1e999 reads as infinity, and int(inf) raises OverflowError."""
    text = json.dumps(fx.teaser).replace(f'"size": {fx.teaser["size"]}', '"size": 1e999')
    (tmp_path / "teaser.json").write_text(text)
    with pytest.raises(AfterwordError):
        verify_path(tmp_path / "teaser.json")


@pytest.mark.parametrize("digits", [4301, 5000, 20000])
def test_duration_with_thousands_of_digits_is_out_of_range(digits: int) -> None:
    """Was a ValueError from int() (over 4300 digits) out of parse_duration (fuzz.durations)."""
    with pytest.raises(AfterwordError, match="out of range"):
        parse_duration("9" * digits + "s")
    with pytest.raises(AfterwordError, match="out of range"):
        parse_reminders("1d," + "1" * digits + "h")


@pytest.mark.parametrize("text", ["9" * 100_000, "9s" * 50_000 + "x", "1" * 100_000 + "x"])
def test_a_long_unreadable_duration_is_refused_in_linear_time(text: str) -> None:
    """fuzz.durations ran 5,000 inputs in 60 s: findall over a long run of digits with no
    unit retried from every position (100,000 digits took about a minute)."""
    started = time.monotonic()
    with pytest.raises(AfterwordError, match="cannot read the duration") as refused:
        parse_duration(text)
    assert time.monotonic() - started < 2.0
    assert len(str(refused.value)) < 200  # and the error does not echo all of it


def test_duration_with_leading_zeros_still_reads() -> None:
    assert parse_duration("0" * 5000 + "7d") == 7 * 86400
    assert parse_duration("000000000000090m") == 5400
    with pytest.raises(AfterwordError, match="out of range"):
        parse_duration("1234567890123s")  # 13 digits: more than 10 years in any unit


@pytest.mark.parametrize("manifest_change", [{"switch": ...}, {"dossier": [1]}, {"dossier": "x"}])
def test_release_with_a_hollow_signed_manifest_is_refused(
    fx: Fixtures, tmp_path: Path, manifest_change: dict[str, Any]
) -> None:
    """Was a KeyError (no switch) or AttributeError (dossier not an object) out of
    verify_release_folder (fuzz.release, and reading it)."""
    folder = tmp_path / "release"
    shutil.copytree(fx.release, folder)
    manifest = resign(changed(fx.manifest, **manifest_change), fx.owner)
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(IntegrityError, match="differs from the manifest"):
        verify_release_folder(folder, server_key=fx.server.public_key)


def test_release_statement_resigned_by_another_server_fails_the_pin(
    fx: Fixtures, tmp_path: Path
) -> None:
    """Not a crash, but what the release harness relies on: a pinned key is enforced."""
    from afterword.crypto.keys import KeyPair

    folder = tmp_path / "release"
    shutil.copytree(fx.release, folder)
    forged = resign(dict(fx.statement), KeyPair.generate(), SERVER_KEY)
    (folder / "statement.json").write_text(json.dumps(forged))
    with pytest.raises(AfterwordError, match="not by the expected key"):
        verify_release_folder(folder, server_key=fx.server.public_key)


@pytest.mark.parametrize("field", ["threshold", "shares"])
def test_share_envelope_with_an_infinite_number_is_refused(fx: Fixtures, field: str) -> None:
    """Was an OverflowError (int(inf)) out of ShareEnvelope.from_json and so out of
    ``afterword open`` / ``custodian submit`` given a hostile envelope (found while writing
    fuzz.shares, which reaches it)."""
    with pytest.raises(FormatError, match="missing a field"):
        ShareEnvelope.from_json({**fx.envelope, field: float("inf")})
    inner = json.dumps(fx.envelope).replace(f'"{field}": {fx.envelope[field]}', f'"{field}": 1e999')
    assert "1e999" in inner
    recipient = pyrage.x25519.Identity.from_str(fx.custodian_identity).to_public()
    blob = bytes(pyrage.encrypt(inner.encode(), [recipient]))
    with pytest.raises((FormatError, ShareError)):
        read_share(blob, [fx.custodian_identity], "hostile.age")


@pytest.mark.parametrize("address", ["http://[", "https://[::1", "http://[x]/hook"])
def test_contact_address_with_a_broken_ipv6_host_is_refused(address: str) -> None:
    from afterword.engine.contacts import check_address

    with pytest.raises(AfterwordError):
        check_address(address, "contacts.recipients")
