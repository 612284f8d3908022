"""``afterword keygen``: the owner's keyfile, and the duress passphrase added to it.

The one command that writes a secret key; separate from the commands that use it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from afterword.cli.common import DURESS_PASSPHRASE_ENV, passphrase, run_action
from afterword.crypto.keys import OwnerKey, load_owner_key
from afterword.crypto.signing import fingerprint
from afterword.errors import AfterwordError


def keygen(
    keyfile: Annotated[Path, typer.Argument(help="Where to write the new owner keyfile.")],
    duress: Annotated[
        bool,
        typer.Option(
            "--duress",
            help="Add a duress passphrase (AFTERWORD_DURESS_PASSPHRASE, or asked): it unlocks "
            "a key that acts like yours but silently triggers the release. On an existing "
            "keyfile, unlock it with the real passphrase to add one.",
        ),
    ] = False,
) -> None:
    """Make the owner's keyfile (signing key + age identity), encrypted with a passphrase."""

    def action() -> None:
        if duress and keyfile.exists():
            real = passphrase(f"Passphrase for {keyfile}")
            key = load_owner_key(keyfile, real)
            key.add_duress(keyfile, real, _duress_passphrase())
            typer.echo(f"Added a duress passphrase to {keyfile}.")
            typer.echo(
                "Tell the servers your switches are on: afterword duress --server URL "
                f"--owner-key {keyfile} --switch ID"
            )
            return
        if keyfile.exists():
            raise AfterwordError(f"{keyfile} already exists", "choose another name")
        key = OwnerKey.generate()
        real = passphrase("New passphrase", confirm=True)
        key.save(keyfile, real, _duress_passphrase() if duress else None)
        typer.echo(f"Wrote {keyfile} (keep it and its passphrase safe).")
        typer.echo(f"Public key:   {key.public_key}")
        typer.echo(f"Fingerprint:  {fingerprint(key.public_key)}")
        typer.echo(f"age recipient for your own copies: {key.age_recipient}")

    run_action(action)


def _duress_passphrase() -> str:
    return passphrase("New duress passphrase", confirm=True, env=DURESS_PASSPHRASE_ENV)
