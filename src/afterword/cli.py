"""The ``afterword`` command: a thin shell over :mod:`afterword.crypto`.

Each command parses its arguments, asks for secrets (or reads them from the
environment for scripts), calls one library function and prints what happened.
Errors the user can act on are printed on one line, with a non-zero exit status.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from afterword.crypto.bundle import (
    Custodian,
    load_json,
    make_teaser,
    open_bundle,
    seal_bundle,
)
from afterword.crypto.dossier import collect_documents
from afterword.crypto.encoding import pretty_json
from afterword.crypto.keys import OwnerKey, load_owner_key
from afterword.crypto.signing import fingerprint
from afterword.crypto.verify import verify_path
from afterword.errors import AfterwordError
from afterword.switch.policy import parse_duration

app = typer.Typer(
    help="afterword: seal a dossier, split its key among custodians, prove what it holds.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

PASSPHRASE_ENV = "AFTERWORD_PASSPHRASE"
DURESS_PASSPHRASE_ENV = "AFTERWORD_DURESS_PASSPHRASE"
DURESS_PASSWORD_ENV = "AFTERWORD_DURESS_PASSWORD"


def fail(message: str) -> typer.Exit:
    typer.echo(f"afterword: error: {message}", err=True)
    return typer.Exit(1)


def passphrase(prompt: str, *, confirm: bool = False, env: str = PASSPHRASE_ENV) -> str:
    """A secret: from the environment variable ``env``, else asked on the terminal."""
    if (value := os.environ.get(env)) is not None:
        return value
    if not sys.stdin.isatty():
        raise AfterwordError(
            f"{prompt.lower()} is needed and there is no terminal to ask on",
            f"set {env} for scripts",
        )
    return str(typer.prompt(prompt, hide_input=True, confirmation_prompt=confirm))


def unlock(path: Path) -> OwnerKey:
    return load_owner_key(path, passphrase(f"Passphrase for {path}"))


@contextmanager
def progress_bar(label: str, total: int | None) -> Iterator[Callable[[int], None] | None]:
    """A bytes/rate bar on a terminal; nothing when stderr is a pipe or file."""
    if not sys.stderr.isatty():
        yield None
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(binary_units=True),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.advance(task, n)


def _run(action: Callable[[], None]) -> None:
    try:
        action()
    except AfterwordError as exc:
        raise fail(str(exc)) from None
    except KeyboardInterrupt:
        raise fail("interrupted; nothing was left half-written") from None


@app.command()
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

    _run(action)


def _duress_passphrase() -> str:
    return passphrase("New duress passphrase", confirm=True, env=DURESS_PASSPHRASE_ENV)


@app.command()
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
        str | None, typer.Option("--server", help="Server URL recorded in the shares.")
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
            f"Sealed {result.documents} document(s), {result.size} bytes, into {result.bundle}/"
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
        typer.echo("The dossier key was never written to disk; only K shares can rebuild it.")

    _run(action)


@app.command("open")
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

    _run(action)


@app.command()
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

    _run(action)


@app.command()
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

    _run(action)


# --- the switch service -------------------------------------------------------------


def _print_json(data: object) -> None:
    typer.echo(json.dumps(data, indent=2, sort_keys=True))


def _when(seconds: int | None) -> str:
    if seconds is None:
        return "-"
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _print_status(status: dict[str, Any], as_json: bool) -> None:
    if as_json:
        _print_json(status)
        return
    typer.echo(f"Switch {status['switch']}: {status['state']}")
    for key, label in (
        ("deadline", "Next check-in due"),
        ("grace_ends", "Grace ends"),
        ("release_at", "Release begins"),
        ("paused_until", "Paused until"),
        ("settings_at", "Longer settings take effect"),
    ):
        if status.get(key):
            typer.echo(f"  {label}: {_when(status[key])}")
    if status.get("cause"):
        typer.echo(f"  Cause: {status['cause']}")
    typer.echo(f"  Shares: {status.get('shares', 0)} of {status.get('threshold')} needed")
    for entry in status.get("last_checkins", []):
        typer.echo(f"  Checked in {_when(entry['at'])} ({entry['detail']})")
    if status.get("audit"):
        typer.echo("  Audit log:")
        for entry in status["audit"]:
            typer.echo(
                f"    {entry['seq']:>4} {_when(entry['at'])} {entry['kind']}: {entry['detail']}"
            )


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    db: Annotated[
        str | None, typer.Option(help="Database URL (default: SQLite in the data directory).")
    ] = None,
    data_dir: Annotated[Path | None, typer.Option(help="Where the server keeps its files.")] = None,
    worker: Annotated[bool, typer.Option(help="Also run the scheduler and mail worker.")] = True,
    trusted_proxy: Annotated[
        list[str] | None,
        typer.Option(
            help="A reverse proxy (address or network) whose X-Forwarded-For is believed; "
            "repeat for several. Without it no forwarded header is believed."
        ),
    ] = None,
) -> None:
    """Run the switch service: web API and (unless --no-worker) the worker."""

    def action() -> None:
        import uvicorn

        from afterword.server import Settings, build_engine, proxy_options, start_worker
        from afterword.web.app import create_app

        os.umask(0o077)  # whatever the server writes (database, dossiers, keys) is its own
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
        settings = Settings.load(data_dir=data_dir, db=db, host=host, port=port)
        engine = build_engine(settings)
        stop = start_worker(engine, settings) if worker else None
        typer.echo(f"afterword serving on http://{host}:{port} (data in {settings.data_dir})")
        try:
            uvicorn.run(
                create_app(engine),
                host=host,
                port=port,
                log_level="warning",
                **proxy_options(trusted_proxy or ()),
            )
        finally:
            if stop is not None:
                stop.set()

    _run(action)


@app.command("worker")
def worker_cmd(
    db: Annotated[str | None, typer.Option(help="Database URL.")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="Where the server keeps its files.")] = None,
) -> None:
    """Run only the worker (scheduler and outbox); any number may run on PostgreSQL."""

    def action() -> None:
        import threading

        from afterword.server import Settings, build_engine, build_sender
        from afterword.worker.loop import run

        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
        settings = Settings.load(data_dir=data_dir, db=db)
        engine = build_engine(settings)
        run(engine, build_sender(settings), threading.Event())

    _run(action)


@app.command()
def arm(
    bundle: Annotated[Path, typer.Argument(help="The bundle folder made by seal.")],
    server: Annotated[str, typer.Option(help="The afterword server URL.")],
    owner_key: Annotated[Path, typer.Option("--owner-key", help="Owner keyfile.")],
    interval: Annotated[str, typer.Option(help="Check-in interval, e.g. 7d.")],
    grace: Annotated[str, typer.Option(help="Grace after a missed check-in, e.g. 2d.")] = "0s",
    waiting: Annotated[str, typer.Option(help="Waiting period before release.")] = "0s",
    reminders: Annotated[str, typer.Option(help="Reminder offsets, e.g. 3d,1d,2h.")] = "",
    recipient: Annotated[
        list[str] | None, typer.Option(help="Who receives the release: mailto:... or https://...")
    ] = None,
    contact: Annotated[
        list[str] | None, typer.Option(help="Where your reminders go: mailto:... or https://...")
    ] = None,
    custodian_contact: Annotated[
        list[str] | None, typer.Option(help="LABEL=mailto:... to tell a custodian what to do.")
    ] = None,
    server_custodian: Annotated[
        list[str] | None,
        typer.Option(
            help="Custodian LABEL sealed for this server's key; its envelope is uploaded."
        ),
    ] = None,
    password: Annotated[
        bool,
        typer.Option(
            "--password",
            help="Also allow check-ins by password (AFTERWORD_CHECKIN_PASSWORD, or asked).",
        ),
    ] = False,
    totp: Annotated[bool, typer.Option(help="Require a TOTP code with the password.")] = False,
    duress_password: Annotated[
        bool,
        typer.Option(
            "--duress-password",
            help="Also set a duress password (AFTERWORD_DURESS_PASSWORD, or asked): it acts "
            "like the password but silently triggers the release.",
        ),
    ] = False,
    duress_delay: Annotated[
        str, typer.Option(help="How long after a duress action the release triggers.")
    ] = "0s",
    cooling_off: Annotated[
        str, typer.Option(help="How long disarming takes (custodians are told; they can vote).")
    ] = "7d",
    alert_custodians: Annotated[
        bool,
        typer.Option(help="Tell custodians too when a never-seen client checks in."),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Register a sealed bundle with a server: the switch starts counting."""

    def action() -> None:
        from afterword.client import Client
        from afterword.switch.policy import parse_reminders

        owner = unlock(owner_key)
        policy = {
            "interval": parse_duration(interval),
            "grace": parse_duration(grace) if grace not in ("0", "0s") else 0,
            "waiting": parse_duration(waiting) if waiting not in ("0", "0s") else 0,
            "reminders": list(parse_reminders(reminders)),
            "cooling_off": parse_duration(cooling_off),
            "duress_delay": parse_duration(duress_delay) if duress_delay not in ("0", "0s") else 0,
        }
        custodians: dict[str, str] = {}
        for item in custodian_contact or []:
            label, sep, uri = item.partition("=")
            if not sep:
                raise AfterwordError(
                    f"{item!r} is not LABEL=URI", "e.g. lawyer=mailto:l@example.org"
                )
            custodians[label.strip()] = uri.strip()
        manifest = load_json(bundle / "manifest.json", "manifest")
        if manifest.get("owner_key") != owner.public_key:
            raise AfterwordError("this bundle was sealed with another owner key")
        contacts = {
            "owner": contact or [],
            "custodians": custodians,
            "recipients": recipient or [],
            "alert_custodians": alert_custodians,
        }
        secret = (
            checkin_password_value(confirm=True) if password or totp or duress_password else None
        )
        forced = (
            passphrase("Duress password", confirm=True, env=DURESS_PASSWORD_ENV)
            if duress_password
            else None
        )
        with Client(server) as client:
            status = client.arm(
                bundle,
                policy=policy,
                contacts=contacts,
                server_custodians=server_custodian or [],
                password=secret,
                totp=totp,
                duress_key=owner.duress_public_key,
                duress_password=forced,
            )
        if not as_json:
            typer.echo(f"Armed switch {status['switch']} on {server}.")
            if status.get("totp_uri"):
                typer.echo(
                    f"Add this to your authenticator app now (shown once): {status['totp_uri']}"
                )
        _print_status(status, as_json)

    _run(action)


def _owner_command(
    server: str, owner_key: Path, switch: str, action: str, as_json: bool, **extra: Any
) -> None:
    def run() -> None:
        from afterword.client import Client

        owner = unlock(owner_key)
        with Client(server) as client:
            status = client.owner(switch, owner, action, **extra)
        if action == "audit":
            _print_json(status)
        else:
            _print_status(status, as_json)

    _run(run)


ServerOpt = Annotated[str, typer.Option(help="The afterword server URL.")]
OwnerKeyOpt = Annotated[Path, typer.Option("--owner-key", help="Owner keyfile.")]
SwitchOpt = Annotated[str, typer.Option(help="The switch id (printed by seal and arm).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


CHECKIN_PASSWORD_ENV = "AFTERWORD_CHECKIN_PASSWORD"


def checkin_password_value(*, confirm: bool = False) -> str:
    if (value := os.environ.get(CHECKIN_PASSWORD_ENV)) is not None:
        return value
    if not sys.stdin.isatty():
        raise AfterwordError(
            "a check-in password is needed and there is no terminal to ask on",
            f"set {CHECKIN_PASSWORD_ENV} for scripts",
        )
    return str(typer.prompt("Check-in password", hide_input=True, confirmation_prompt=confirm))


@app.command()
def checkin(
    server: ServerOpt,
    switch: SwitchOpt,
    owner_key: Annotated[
        Path | None, typer.Option("--owner-key", help="Owner keyfile (signed check-in).")
    ] = None,
    password: Annotated[
        bool, typer.Option("--password", help="Check in with the password instead of the key.")
    ] = False,
    code: Annotated[str | None, typer.Option(help="TOTP code, with --password.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Check in: you are well; the deadline moves one interval ahead."""
    if not password:
        if owner_key is None:
            raise fail("pass --owner-key KEYFILE (or --password)")
        _owner_command(server, owner_key, switch, "checkin", as_json)
        return

    def action() -> None:
        from afterword.client import Client

        with Client(server) as client:
            result = client.checkin_password(switch, checkin_password_value(), code)
        if as_json:
            _print_json(result)
        else:
            typer.echo(
                f"Checked in: switch {result['switch']} {result['state']}, "
                f"next check-in due {_when(result['deadline'])}."
            )

    _run(action)


@app.command()
def status(
    server: ServerOpt, owner_key: OwnerKeyOpt, switch: SwitchOpt, as_json: JsonOpt = False
) -> None:
    """Show the switch's state, deadline, last check-ins and audit log."""
    _owner_command(server, owner_key, switch, "status", as_json)


@app.command()
def pause(
    server: ServerOpt,
    owner_key: OwnerKeyOpt,
    switch: SwitchOpt,
    length: Annotated[str, typer.Option("--for", help="How long, e.g. 10d (bounded).")],
    as_json: JsonOpt = False,
) -> None:
    """Pause check-ins for a while (at most the server's bound)."""
    until = int(time.time()) + parse_duration(length)
    _owner_command(server, owner_key, switch, "pause", as_json, until=until)


@app.command()
def abort(
    server: ServerOpt, owner_key: OwnerKeyOpt, switch: SwitchOpt, as_json: JsonOpt = False
) -> None:
    """Stop a pending release during the waiting period."""
    _owner_command(server, owner_key, switch, "abort", as_json)


@app.command("release-now")
def release_now(
    server: ServerOpt, owner_key: OwnerKeyOpt, switch: SwitchOpt, as_json: JsonOpt = False
) -> None:
    """Release the dossier now, on purpose."""
    _owner_command(server, owner_key, switch, "release", as_json)


@app.command()
def disarm(
    server: ServerOpt, owner_key: OwnerKeyOpt, switch: SwitchOpt, as_json: JsonOpt = False
) -> None:
    """Retire the switch: after a cooling-off period (custodians are told and may vote;
    check-ins are still due) the server deletes its share and the dossier for good."""
    _owner_command(server, owner_key, switch, "disarm", as_json)


@app.command()
def revoke(
    server: ServerOpt,
    owner_key: OwnerKeyOpt,
    switch: SwitchOpt,
    custodian: Annotated[str, typer.Option(help="The custodian's label.")],
    as_json: JsonOpt = False,
) -> None:
    """Take a custodian's right to vote and to see the switch (their share still counts)."""
    _owner_command(server, owner_key, switch, "revoke", as_json, custodian=custodian)


@app.command()
def duress(
    server: ServerOpt,
    owner_key: OwnerKeyOpt,
    switch: SwitchOpt,
    password: Annotated[
        bool,
        typer.Option(
            "--password", help="Also set a duress password (AFTERWORD_DURESS_PASSWORD, or asked)."
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Tell the server your keyfile's duress key (after `keygen --duress`), and optionally a
    duress password. Unlock with the real passphrase: with the duress one, this changes
    nothing (and says the same)."""

    def run() -> None:
        from afterword.client import Client

        owner = unlock(owner_key)
        extra: dict[str, Any] = {"duress_key": owner.duress_public_key}
        if password:
            extra["duress_password"] = passphrase(
                "Duress password", confirm=True, env=DURESS_PASSWORD_ENV
            )
        with Client(server) as client:
            status = client.owner(switch, owner, "set-duress", **extra)
        if not as_json:
            typer.echo("Duress credentials updated.")
        _print_status(status, as_json)

    _run(run)


@app.command()
def drill(
    server: ServerOpt, owner_key: OwnerKeyOpt, switch: SwitchOpt, as_json: JsonOpt = False
) -> None:
    """Rehearse a release: a made-up dossier goes the whole way (trigger, custodian notices,
    shares, release page marked DRILL, recipient mail), every message to your own address.
    Your switch and its recipients are untouched."""

    def run() -> None:
        from afterword.client import Client

        owner = unlock(owner_key)
        with Client(server) as client:
            result = client.owner(switch, owner, "drill")
        if as_json:
            _print_json(result)
            return
        done = result["drill"]
        typer.echo(f"Drill {done['switch']}: {done['state']}. Release page: {done['url']}")
        typer.echo(f"Every message went to {done['to']} only, marked [DRILL].")

    _run(run)


@app.command("audit")
def audit_cmd(server: ServerOpt, owner_key: OwnerKeyOpt, switch: SwitchOpt) -> None:
    """Print the switch's signed audit log (check it with: afterword verify FILE)."""
    _owner_command(server, owner_key, switch, "audit", True)


operator_app = typer.Typer(help="Commands for the server's operator.", no_args_is_help=True)
app.add_typer(operator_app, name="operator")


@operator_app.command("release-held")
def operator_release_held(
    db: Annotated[str | None, typer.Option(help="Database URL.")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="Where the server keeps its files.")] = None,
) -> None:
    """After a mass-trigger hold: the clock is right, let the held switches move on."""

    def action() -> None:
        from afterword.server import Settings, build_engine

        count = build_engine(Settings.load(data_dir=data_dir, db=db)).release_held()
        typer.echo(f"Released the hold on {count} switch(es).")

    _run(action)


@operator_app.command("unquarantine")
def operator_unquarantine(
    switch: Annotated[str, typer.Argument(help="The quarantined switch (its id).")],
    db: Annotated[str | None, typer.Option(help="Database URL.")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="Where the server keeps its files.")] = None,
) -> None:
    """After a quarantine: the cause is fixed, schedule the switch again (if it fails
    again, it is quarantined again, alone)."""

    def action() -> None:
        from afterword.server import Settings, build_engine

        if not build_engine(Settings.load(data_dir=data_dir, db=db)).unquarantine(switch):
            raise AfterwordError(
                f"switch {switch} is not quarantined: it is scheduled as usual",
                "nothing to do; a quarantined switch is named in the operator's mail",
            )
        typer.echo(f"Switch {switch} is scheduled again.")

    _run(action)


custodian_app = typer.Typer(help="Commands for custodians.", no_args_is_help=True)
app.add_typer(custodian_app, name="custodian")


@custodian_app.command("submit")
def custodian_submit(
    share: Annotated[Path, typer.Argument(help="Your envelope (.age), card (.txt) or words file.")],
    server: ServerOpt,
    identity: Annotated[
        list[Path] | None, typer.Option("--identity", "-i", help="Your age key (for envelopes).")
    ] = None,
    switch: Annotated[
        str | None, typer.Option(help="The switch id (read from the envelope or card if absent).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Submit your share when a release is due; it is checked on arrival."""

    def action() -> None:
        from afterword.client import Client
        from afterword.crypto.bundle import read_identities, read_shares

        (parsed,) = read_shares([share], read_identities(identity or []))
        target = switch or parsed.switch
        if target is None:
            raise AfterwordError("the share does not say which switch it is for", "pass --switch")
        if switch and parsed.switch and switch != parsed.switch:
            raise AfterwordError(f"this share belongs to switch {parsed.switch}, not {switch}")
        with Client(server) as client:
            result = client.submit_share(target, parsed.mnemonic)
        if as_json:
            _print_json(result)
        else:
            typer.echo(
                f"Share accepted for switch {result['switch']}: now {result['shares']} of "
                f"{result['threshold']}; state {result['state']}."
            )

    _run(action)


def _custodian_code(share: Path, identity: list[Path] | None) -> tuple[str, str]:
    """(switch, code) from a custodian's envelope or card: derived on this machine."""
    from afterword.crypto.bundle import read_identities, read_shares

    (parsed,) = read_shares([share], read_identities(identity or []))
    code = parsed.credential()
    assert parsed.switch is not None
    return parsed.switch, code


CustodianShareArg = Annotated[
    Path, typer.Argument(help="Your envelope (.age) or card (.txt): the code comes from it.")
]
IdentityOpt = Annotated[
    list[Path] | None, typer.Option("--identity", "-i", help="Your age key (for envelopes).")
]


@custodian_app.command("status")
def custodian_status(
    share: CustodianShareArg,
    server: ServerOpt,
    identity: IdentityOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """See the switch's true state (what the owner's screens show may be a decoy)."""
    _custodian_command(share, server, identity, "status", as_json)


@custodian_app.command("vote")
def custodian_vote(
    share: CustodianShareArg,
    server: ServerOpt,
    identity: IdentityOpt = None,
    withdraw: Annotated[bool, typer.Option(help="Withdraw your vote instead.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Vote that the owner is missing or coerced: K votes trigger the release."""
    _custodian_command(share, server, identity, "withdraw" if withdraw else "vote", as_json)


def _custodian_command(
    share: Path, server: str, identity: list[Path] | None, action: str, as_json: bool
) -> None:
    def run() -> None:
        from afterword.client import Client

        switch, code = _custodian_code(share, identity)
        with Client(server) as client:
            result = client.custodian(switch, code, action)
        if as_json:
            _print_json(result)
            return
        done = {"vote": "Your vote is counted. ", "withdraw": "Your vote is withdrawn. "}
        typer.echo(
            f"{done.get(action, '')}Switch {result['switch']} is {result['state']}"
            f"{' (cause: ' + result['cause'] + ')' if result['cause'] else ''}; "
            f"votes {result['votes']} of {result['threshold']}; "
            f"shares {result['shares']} of {result['threshold']}."
        )

    _run(run)


canary_app = typer.Typer(help="Protected people and their check-ins.", no_args_is_help=True)
app.add_typer(canary_app, name="canary")


@canary_app.command("add")
def canary_add(
    server: ServerOpt,
    owner_key: OwnerKeyOpt,
    switch: SwitchOpt,
    name: Annotated[str, typer.Option(help="Who (letters, digits, . - _).")],
    interval: Annotated[str, typer.Option(help="How often they check in, e.g. 3d.")],
    grace: Annotated[str, typer.Option(help="Grace after a missed check-in.")] = "0s",
    on_miss: Annotated[
        str, typer.Option(help="trigger (the release) or alert (owner and custodians).")
    ] = "alert",
    as_json: JsonOpt = False,
) -> None:
    """Add a protected person: prints their check-in link and their duress link."""

    def run() -> None:
        from afterword.client import Client

        if on_miss not in ("trigger", "alert"):
            raise AfterwordError("--on-miss must be trigger or alert")
        owner = unlock(owner_key)
        extra = {
            "name": name,
            "interval": parse_duration(interval),
            "grace": parse_duration(grace) if grace not in ("0", "0s") else 0,
            "on_miss": on_miss,
        }
        with Client(server) as client:
            result = client.owner(switch, owner, "canary-add", **extra)
        if as_json:
            _print_json(result)
            return
        typer.echo(f"Added {name}. Give them both links, and keep them secret:")
        typer.echo(f"  check-in link: {result['url']}")
        typer.echo(f"  duress link:   {result['duress_url']} (looks the same; raises the alarm)")

    _run(run)


@canary_app.command("checkin")
def canary_checkin(
    server: ServerOpt,
    token: Annotated[str, typer.Option(help="The token from your check-in link.")],
    as_json: JsonOpt = False,
) -> None:
    """Check in as a protected person."""

    def run() -> None:
        from afterword.client import Client

        with Client(server) as client:
            result = client.canary_checkin(token.rsplit("/", 1)[-1])
        if as_json:
            _print_json(result)
        else:
            typer.echo(
                f"Thank you, {result['name']}. Next check-in due {_when(result['next_due'])}."
            )

    _run(run)


def main() -> None:
    """Console entry point."""
    app()


if __name__ == "__main__":
    main()
