"""``afterword keygen``: the owner's keyfile, and the duress passphrase added to it.

The one command that writes a secret key; separate from the commands that use it. A new
passphrase is refused if it is weak (:mod:`afterword.crypto.passphrase`); on a terminal, one
left empty is made up and shown once, as ``age -p`` does.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from afterword.cli.common import DURESS_PASSPHRASE_ENV, PASSPHRASE_ENV, passphrase, run_action
from afterword.crypto.keys import OwnerKey, load_owner_key
from afterword.crypto.passphrase import ADVICE, made_up_passphrase, passphrase_weakness
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
            key.add_duress(keyfile, real, _duress_passphrase(keyfile))
            typer.echo(f"Added a duress passphrase to {keyfile}.")
            typer.echo(
                "Tell the servers your switches are on: afterword duress --server URL "
                f"--owner-key {keyfile} --switch ID"
            )
            return
        if keyfile.exists():
            raise AfterwordError(f"{keyfile} already exists", "choose another name")
        key = OwnerKey.generate()
        real = new_passphrase("New passphrase", PASSPHRASE_ENV, keyfile)
        key.save(keyfile, real, _duress_passphrase(keyfile) if duress else None)
        typer.echo(f"Wrote {keyfile} (keep it and its passphrase safe).")
        typer.echo(f"Public key:   {key.public_key}")
        typer.echo(f"Fingerprint:  {fingerprint(key.public_key)}")
        typer.echo(f"age recipient for your own copies: {key.age_recipient}")

    run_action(action)


def _duress_passphrase(keyfile: Path) -> str:
    return new_passphrase("New duress passphrase", DURESS_PASSPHRASE_ENV, keyfile)


def new_passphrase(prompt: str, env: str, keyfile: Path) -> str:
    """A strong new passphrase: from ``env`` (refused if weak), else asked on the terminal
    until a strong one is typed twice, or made up and shown once if left empty."""
    context = [keyfile.name, keyfile.stem]
    if os.environ.get(env) is not None or not sys.stdin.isatty():
        given = passphrase(prompt, env=env)  # the variable, or the no-terminal refusal
        if (why := passphrase_weakness(given, context)) is not None:
            raise AfterwordError(
                f"the passphrase in {env} is too weak ({why})",
                f"{ADVICE}; or unset {env} and run keygen on a terminal, where a passphrase "
                "left empty is made up for you",
            )
        return given
    while True:
        typed = str(
            typer.prompt(
                f"{prompt} (leave empty to have a strong one made up)",
                default="",
                show_default=False,
                hide_input=True,
            )
        )
        if not typed:
            made = made_up_passphrase()
            typer.echo(
                f"\nYour new passphrase, made up for you; write it down now, it is not shown "
                f"again and cannot be recovered:\n\n    {made}\n",
                err=True,
            )
            return made
        if (why := passphrase_weakness(typed, context)) is not None:
            typer.echo(
                f"That passphrase is too weak: {why}. To choose another, {ADVICE}; "
                "or leave it empty to have one made up.",
                err=True,
            )
            continue
        if str(typer.prompt("Repeat the passphrase", hide_input=True)) == typed:
            return typed
        typer.echo("The two entries differ; type the passphrase again.", err=True)
