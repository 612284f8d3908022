"""``afterword seal``, ``open``, ``teaser`` and ``verify``: the bundle's files, offline.

These commands need no server: they turn documents into a sealed bundle and back, and check
what anyone may check. Separate from the commands that talk to a switch service.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from afterword.cli.common import progress_bar, run_action, server_address, unlock
from afterword.crypto.bundle import Custodian, make_teaser, open_bundle, seal_bundle
from afterword.crypto.dossier import collect_documents
from afterword.crypto.encoding import pretty_json
from afterword.crypto.verify import verify_path
from afterword.errors import AfterwordError
from afterword.switch.policy import parse_duration
from afterword.words import size


def seal(
    documents: Annotated[list[Path], typer.Argument(help="Files and folders to seal.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="New bundle folder.")],
    owner_key: Annotated[Path, typer.Option("--owner-key", help="Owner keyfile.")],
    custodian: Annotated[
        list[str],
        typer.Option("--custodian", help="LABEL=age1... or LABEL=paper; repeat per custodian."),
    ],
    threshold: Annotated[int, typer.Option("--threshold", "-k", help="Shares needed (K).")],
    titles: Annotated[
        bool, typer.Option("--titles", help="Publish document paths in the manifest and notice.")
    ] = False,
    conditions: Annotated[
        str | None, typer.Option("--conditions", help="The release conditions, in your words.")
    ] = None,
    interval: Annotated[str | None, typer.Option(help="Check-in interval, e.g. 7d.")] = None,
    grace: Annotated[str | None, typer.Option(help="Grace after a missed check-in.")] = None,
    waiting: Annotated[str | None, typer.Option(help="Waiting period before release.")] = None,
    releases: Annotated[
        str | None, typer.Option("--releases", help="Where releases will appear (a URL).")
    ] = None,
    server: Annotated[
        str | None,
        typer.Option(
            "--server", help="Server URL recorded in the shares.", callback=server_address
        ),
    ] = None,
) -> None:
    """Seal documents into a bundle: dossier, signed manifest and notice, key shares."""

    def action() -> None:
        custodians = [Custodian.parse(c) for c in custodian]
        policy = None
        if interval is not None:
            policy = {"interval": parse_duration(interval)}
            policy["grace"] = parse_duration(grace) if grace else 0
            policy["waiting"] = parse_duration(waiting) if waiting else 0
        elif grace or waiting:
            raise AfterwordError("--grace and --waiting need --interval", "add --interval")
        owner = unlock(owner_key)
        total = sum(doc.size for doc in collect_documents(documents))
        with progress_bar("Sealing", total) as progress:
            result = seal_bundle(
                documents,
                output,
                owner,
                custodians,
                threshold,
                titles=titles,
                conditions=conditions,
                policy=policy,
                releases=releases,
                server=server,
                progress=progress,
            )
        typer.echo(
            f"Sealed {result.documents} document(s), {size(result.size)}, into {result.bundle}/"
        )
        typer.echo(f"Switch id: {result.switch}")
        typer.echo(f"Merkle root: {result.manifest['root']}")
        for c in custodians:
            where = "shares/" + c.label + (".txt" if c.recipient == "paper" else ".age")
            typer.echo(f"  custodian {c.label}: {where}")
        if any(c.recipient == "paper" for c in custodians):
            typer.echo(
                "Paper shares are in clear text: print them, hand them over, then delete "
                "the .txt files. Keeping them safe is your job."
            )
            if server is None:
                typer.echo(
                    "warning: the paper cards name no server, so their holders will not know "
                    "where to take their words when the time comes. If this dossier will be "
                    "armed on a server, seal again with --server URL (the address it will "
                    "have); or tell each holder the address yourself.",
                    err=True,
                )
        typer.echo("The dossier key was never written to disk; only K shares can rebuild it.")

    run_action(action)


def open_cmd(
    dossier: Annotated[Path, typer.Argument(help="The dossier.age file.")],
    share: Annotated[list[Path], typer.Option("--share", help="A share file; repeat K times.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="New folder for the documents.")],
    identity: Annotated[
        list[Path] | None,
        typer.Option("--identity", "-i", help="age key file that opens share envelopes."),
    ] = None,
    manifest: Annotated[
        Path | None, typer.Option(help="Signed manifest (default: manifest.json beside it).")
    ] = None,
) -> None:
    """Rebuild the key from K shares, decrypt, unpack and check every document."""

    def action() -> None:
        total = dossier.stat().st_size if dossier.exists() else None
        with progress_bar("Opening", total) as progress:
            result = open_bundle(
                dossier,
                share,
                output,
                identity_files=identity or [],
                manifest_path=manifest,
                progress=progress,
            )
        typer.echo(
            f"Opened {len(result.entries)} document(s), {result.size} bytes, into {result.out}/"
        )
        typer.echo("Every document matches the signed manifest.")

    run_action(action)


def teaser(
    bundle: Annotated[Path, typer.Argument(help="The bundle folder made by seal.")],
    document: Annotated[Path, typer.Argument(help="The sealed file to reveal.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Teaser file to write.")],
    owner_key: Annotated[Path, typer.Option("--owner-key", help="Owner keyfile.")],
) -> None:
    """Reveal one document with its salt and inclusion proof."""

    def action() -> None:
        if output.exists():
            raise AfterwordError(f"{output} already exists", "choose another name")
        doc = make_teaser(bundle, document, unlock(owner_key))
        output.write_bytes(pretty_json(doc))
        typer.echo(
            f"Wrote {output}: {doc['path']!r}, document {doc['index'] + 1} of "
            f"{doc['tree_size']}, with its inclusion proof."
        )

    run_action(action)


def verify(
    file: Annotated[
        Path,
        typer.Argument(
            help="A notice, manifest, teaser, release statement or audit log; "
            "or a release folder (key, dossier.age, manifest.json, statement.json)."
        ),
    ],
    notice: Annotated[
        Path | None, typer.Option("--notice", help="Check it against this notice too.")
    ] = None,
    server_key: Annotated[
        str | None,
        typer.Option(
            "--server-key",
            help="The server's ed25519: key: a release or log it did not sign fails.",
        ),
    ] = None,
    open_to: Annotated[
        Path | None,
        typer.Option(
            "--open", help="Release folder only: decrypt the documents into this new folder."
        ),
    ] = None,
) -> None:
    """Verify a notice, manifest, teaser, release or audit log; exit non-zero on any mismatch."""

    def action() -> None:
        kind, statements = verify_path(file, notice=notice, server_key=server_key, open_to=open_to)
        typer.echo(f"OK: {file} is a valid afterword {kind}.")
        for line in statements:
            typer.echo(f"  - {line}")

    run_action(action)
