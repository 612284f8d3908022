"""The JSON API and the public release pages.

Every route is a thin shell over :class:`afterword.engine.Engine`. Errors a client can act
on come back as 4xx with ``{"error": ..., "hint": ...}``; owner actions are POST only
(mail scanners that open links must never check in or act for anyone).
"""

from __future__ import annotations

import html
import json
import logging
from typing import Annotated, Any

from fastapi import FastAPI, File, Form, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, PlainTextResponse

from afterword import __version__
from afterword.engine import Conflict, Contacts, Engine, Forbidden, NotFound
from afterword.errors import AfterwordError
from afterword.switch.policy import Policy

log = logging.getLogger("afterword.web")

MAX_JSON_FILE = 16 * 1024 * 1024


def _error(status: int, message: str, hint: str = "") -> JSONResponse:
    return JSONResponse({"error": message, "hint": hint}, status_code=status)


def _status_of(exc: AfterwordError) -> int:
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, Forbidden):
        return 403
    if isinstance(exc, Conflict):
        return 409
    return 400


async def _json_file(upload: UploadFile, what: str) -> Any:
    data = await upload.read(MAX_JSON_FILE + 1)
    if len(data) > MAX_JSON_FILE:
        raise AfterwordError(f"{what} is too large for a JSON document")
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise AfterwordError(f"{what} is not valid JSON", f"upload the bundle's {what}") from exc


def _json_form(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise AfterwordError(f"the {what} field is not valid JSON") from exc


def create_app(engine: Engine) -> FastAPI:
    app = FastAPI(title="afterword", version=__version__)

    @app.exception_handler(AfterwordError)
    async def afterword_error(_: Request, exc: AfterwordError) -> JSONResponse:
        return _error(_status_of(exc), exc.message, exc.hint)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return _error(422, f"{where}: {first.get('msg', 'invalid request')}")

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error")  # a bug: the body says nothing secret
        return _error(500, "internal error", "the server logged it; please report it")

    @app.get("/.well-known/afterword")
    def well_known() -> dict[str, Any]:
        return {
            "version": __version__,
            "recipient": engine.keys.age_recipient,
            "server_key": engine.keys.public_key,
            "min_duration": engine.config.min_duration,
        }

    @app.post("/switches", status_code=201)
    async def arm(
        manifest: Annotated[UploadFile, File()],
        notice: Annotated[UploadFile, File()],
        custodians: Annotated[UploadFile, File()],
        dossier: Annotated[UploadFile, File()],
        policy: Annotated[str, Form()],
        contacts: Annotated[str, Form()] = "{}",
        envelopes: Annotated[list[UploadFile] | None, File()] = None,
    ) -> dict[str, Any]:
        p = _json_form(policy, "policy")
        c = _json_form(contacts, "contacts")
        try:
            parsed_policy = Policy(
                interval=int(p["interval"]),
                grace=int(p.get("grace", 0)),
                waiting=int(p.get("waiting", 0)),
                reminders=tuple(int(r) for r in p.get("reminders", ())),
            )
            parsed_contacts = Contacts(
                owner=[str(x) for x in c.get("owner", [])],
                custodians={str(k): str(v) for k, v in c.get("custodians", {}).items()},
                recipients=[str(x) for x in c.get("recipients", [])],
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise AfterwordError(f"the policy or contacts field is malformed ({exc})") from exc
        server_envelopes: dict[str, bytes] = {}
        for upload in envelopes or []:
            label = (upload.filename or "").removesuffix(".age")
            server_envelopes[label] = await upload.read(1 << 20)
        return engine.arm(
            manifest=await _json_file(manifest, "manifest.json"),
            notice=await _json_file(notice, "notice.json"),
            custodians=await _json_file(custodians, "custodians.json"),
            dossier=dossier.file,
            policy=parsed_policy,
            contacts=parsed_contacts,
            server_envelopes=server_envelopes,
        )

    @app.post("/switches/{switch_id}/challenge")
    def challenge(switch_id: str) -> dict[str, Any]:
        return engine.challenge(switch_id)

    @app.post("/switches/{switch_id}/owner")
    async def owner(switch_id: str, request: Request) -> dict[str, Any]:
        try:
            body = await request.json()
        except ValueError as exc:
            raise AfterwordError("the request body is not JSON") from exc
        if not isinstance(body, dict):
            raise AfterwordError("the request body must be a JSON object")
        client = request.headers.get("user-agent", "")[:80]
        return engine.owner_request(switch_id, body, client=client)

    @app.post("/switches/{switch_id}/shares")
    async def share(switch_id: str, request: Request) -> dict[str, Any]:
        try:
            body = await request.json()
            mnemonic = str(body["mnemonic"])
        except (ValueError, KeyError, TypeError) as exc:
            raise AfterwordError('send {"mnemonic": "word word ..."}') from exc
        status = engine.submit_share(switch_id, mnemonic)
        return {k: status[k] for k in ("switch", "state", "shares", "threshold")}

    # --- the public release --------------------------------------------------------

    @app.get("/r/{switch_id}", response_class=HTMLResponse)
    def release_page(switch_id: str) -> str:
        release, _row = engine.release(switch_id)
        statement = json.loads(release.statement)
        sid = html.escape(switch_id)
        files = "".join(
            f'<li><a href="/r/{sid}/{name}">{name}</a></li>'
            for name in ("key", "dossier.age", "manifest.json", "notice.json", "statement.json")
        )
        return (
            f"<!doctype html><html><head><meta charset='utf-8'><title>Release {sid}</title>"
            f"</head><body><h1>Released: {sid}</h1>"
            f"<p>Cause: {html.escape(str(statement['cause']))}. "
            f"Custodians: {html.escape(', '.join(statement['custodians']))}.</p>"
            f"<ul>{files}</ul><p>Download all five files into one folder, then "
            "<code>afterword verify FOLDER --open OUT</code>, or with stock tools: "
            "<code>age -d -i key dossier.age | tar x</code></p></body></html>"
        )

    @app.get("/r/{switch_id}/key", response_class=PlainTextResponse)
    def release_key(switch_id: str) -> str:
        return engine.release(switch_id)[0].identity + "\n"

    @app.get("/r/{switch_id}/statement.json")
    def release_statement(switch_id: str) -> JSONResponse:
        return JSONResponse(json.loads(engine.release(switch_id)[0].statement))

    @app.get("/r/{switch_id}/manifest.json")
    def release_manifest(switch_id: str) -> JSONResponse:
        return JSONResponse(json.loads(engine.release(switch_id)[1].manifest))

    @app.get("/r/{switch_id}/notice.json")
    def release_notice(switch_id: str) -> JSONResponse:
        return JSONResponse(json.loads(engine.release(switch_id)[1].notice))

    @app.get("/r/{switch_id}/dossier.age")
    def release_dossier(switch_id: str) -> FileResponse:
        engine.release(switch_id)
        return FileResponse(engine.dossier_path(switch_id), media_type="application/octet-stream")

    return app
