"""The JSON API: arming a switch, the owner's signed and password requests, custodians'
codes and shares, protected people's check-ins, and a released dossier's files.

Every route is a thin shell over :class:`afterword.engine.Engine`. Errors a client can act
on come back as 4xx with ``{"error": ..., "hint": ...}`` (the handlers in
:mod:`afterword.web.app`); owner actions are POST only (mail scanners that open links must
never check in or act for anyone). Separate from the pages because its callers are
programs (`afterword arm`, `checkin`, ...): JSON in and out, no CSRF token, no cookies.

The engine is synchronous (each call is a database transaction): routes call it from the
thread pool (``def`` routes, or ``run_in_threadpool`` after an ``async`` route has read
its body), never on the event loop, which would stop every other request while one waits
for the database.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import FastAPI, File, Form, Request, UploadFile
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse
from starlette.concurrency import run_in_threadpool

from afterword import __version__
from afterword.crypto.bundle import LABEL
from afterword.crypto.switch_id import check_switch_id
from afterword.engine import Behind, Contacts, Engine, TooLarge
from afterword.engine.contacts import CONTACTS_HINT, contacts_from_wire
from afterword.errors import AfterwordError, FormatError
from afterword.switch.policy import POLICY_HINT, Policy, policy_from_wire
from afterword.web.http_errors import client_of
from afterword.web.rendering import check_id, engine_of

MAX_JSON_FILE = 16 * 1024 * 1024
MAX_JSON_BODY = 64 * 1024  # an owner request or a share is a few hundred bytes

ARM_HINT = (
    "POST /switches takes multipart/form-data: the files manifest, notice, custodians and "
    "dossier (and envelopes), and the fields policy (and contacts), as `afterword arm` sends them"
)


async def _json_file(upload: UploadFile, what: str) -> Any:
    data = await upload.read(MAX_JSON_FILE + 1)
    if len(data) > MAX_JSON_FILE:
        raise TooLarge(
            f"{what} is larger than {MAX_JSON_FILE} bytes", f"upload the bundle's {what}"
        )
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise AfterwordError(f"{what} is not valid JSON", f"upload the bundle's {what}") from exc


def _json_form(text: str, what: str, hint: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise AfterwordError(f"the {what} field is not valid JSON", hint) from exc


async def _json_body(request: Request, hint: str) -> Any:
    """The request body as JSON, read no further than ``MAX_JSON_BODY`` bytes."""
    data = b""
    async for chunk in request.stream():
        data += chunk
        if len(data) > MAX_JSON_BODY:
            raise TooLarge(f"the request body is larger than {MAX_JSON_BODY} bytes", hint)
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise AfterwordError("the request body is not JSON", hint) from exc


def _policy(text: str) -> Policy:
    return policy_from_wire(_json_form(text, "policy", POLICY_HINT))


def _contacts(text: str) -> Contacts:
    return contacts_from_wire(_json_form(text, "contacts", CONTACTS_HINT))


def _password_body(body: Any, hint: str) -> tuple[str, str | None, dict[str, Any]]:
    """(password, TOTP code, the other fields) from a password request's JSON body."""
    if not isinstance(body, dict):
        raise AfterwordError("the request body must be a JSON object", hint)
    password, code = body.pop("password", None), body.pop("code", None)
    if not isinstance(password, str) or not (code is None or isinstance(code, str)):
        raise AfterwordError("send the password (and code) as text", hint)
    return password[:1024], code, body


def _check_switch_id(manifest: Any) -> None:
    """The manifest's switch id becomes a file name and a database key: anyone can sign a
    manifest with a key of their own, so the id must not be able to steer either."""
    if isinstance(manifest, dict) and manifest.get("afterword") == "manifest/1":
        check_switch_id(
            manifest.get("switch"),
            "the manifest's switch id",
            "upload a bundle made by `afterword seal`",
        )


def add_api(app: FastAPI, engine: Engine) -> None:
    """Add the JSON API's routes, in the order /openapi.json lists them (the upload limit
    of POST /switches is the engine's). The routes find ``engine`` in ``app.state``."""
    app.state.engine = engine
    app.get("/.well-known/afterword")(well_known)
    app.post("/switches", status_code=201, max_body_size=engine.config.max_upload + (1 << 20))(arm)
    app.post("/switches/{switch_id}/challenge", response_model=dict[str, Any])(challenge)
    app.post("/switches/{switch_id}/owner", response_model=dict[str, Any])(owner)
    app.post("/switches/{switch_id}/checkin")(checkin_password)
    app.post("/switches/{switch_id}/checkins", response_model=dict[str, Any])(signed_checkin)
    app.post("/switches/{switch_id}/relays", response_model=dict[str, Any])(relay)
    app.post("/switches/{switch_id}/handoffs", response_model=dict[str, Any])(handoff)
    app.post("/switches/{switch_id}/act")(password_action)
    app.post("/switches/{switch_id}/custodian")(custodian)
    app.post("/canary/{token}/checkin")(canary_checkin_api)
    app.post("/switches/{switch_id}/shares")(share)
    app.get("/r/{switch_id}/key", response_class=PlainTextResponse)(release_key)
    app.get("/r/{switch_id}/statement.json")(release_statement)
    app.get("/r/{switch_id}/manifest.json")(release_manifest)
    app.get("/r/{switch_id}/notice.json")(release_notice)
    app.get(
        "/r/{switch_id}/dossier.age",
        response_class=FileResponse,
        responses={200: {"content": {"application/octet-stream": {}}}},
    )(release_dossier)


# --- the routes (each added by add_api) ------------------------------------------------


def well_known(request: Request) -> dict[str, Any]:
    engine = engine_of(request)
    return {
        "version": __version__,
        "recipient": engine.keys.age_recipient,
        "server_key": engine.keys.public_key,
        "min_duration": engine.config.min_duration,
    }


async def arm(
    request: Request,
    manifest: Annotated[UploadFile, File()],
    notice: Annotated[UploadFile, File()],
    custodians: Annotated[UploadFile, File()],
    dossier: Annotated[UploadFile, File()],
    policy: Annotated[str, Form()],
    contacts: Annotated[str, Form()] = "{}",
    envelopes: Annotated[list[UploadFile] | None, File()] = None,
    password: Annotated[str | None, Form(max_length=1024)] = None,
    totp: Annotated[bool, Form()] = False,
    duress_key: Annotated[str | None, Form(max_length=200)] = None,
    duress_password: Annotated[str | None, Form(max_length=1024)] = None,
    servers: Annotated[UploadFile | None, File()] = None,
) -> dict[str, Any]:
    engine = engine_of(request)
    parsed_policy = _policy(policy)
    parsed_contacts = _contacts(contacts)
    server_envelopes: dict[str, bytes] = {}
    for upload in envelopes or []:
        name = upload.filename or ""
        label = name.removesuffix(".age")
        if not LABEL.fullmatch(label):
            shown = repr(name) if len(name) <= 80 else repr(name[:77] + "...")
            raise FormatError(
                f"the envelope {shown} is not named after a custodian label",
                "upload each envelope as LABEL.age, as `afterword seal` named it",
            )
        server_envelopes[label] = await upload.read(1 << 20)
    manifest_doc = await _json_file(manifest, "manifest.json")
    _check_switch_id(manifest_doc)
    return await run_in_threadpool(
        engine.arm,
        manifest=manifest_doc,
        notice=await _json_file(notice, "notice.json"),
        custodians=await _json_file(custodians, "custodians.json"),
        dossier=dossier.file,
        policy=parsed_policy,
        contacts=parsed_contacts,
        server_envelopes=server_envelopes,
        password=password,
        totp=totp,
        duress_key=duress_key,
        duress_password=duress_password,
        client=client_of(request),
        servers=None if servers is None else await _json_file(servers, "servers.json"),
    )


async def challenge(request: Request, switch_id: str) -> JSONResponse:
    engine = engine_of(request)
    # no database (a MAC): answered on the event loop, without a thread hand-off
    return JSONResponse(engine.challenge(check_id(switch_id)))


async def owner(switch_id: str, request: Request) -> JSONResponse:
    engine = engine_of(request)
    check_id(switch_id)
    hint = "send the signed request `afterword checkin` (or pause, abort, ...) makes"
    body = await _json_body(request, hint)
    if not isinstance(body, dict):
        raise AfterwordError("the request body must be a JSON object", hint)
    # a JSONResponse of the engine's plain JSON answer: FastAPI's own encoding of a
    # returned dict (jsonable_encoder, then the response model) would walk it twice
    try:
        answer = await run_in_threadpool(engine.owner_request, switch_id, body, client_of(request))
    except Behind as behind:
        return behind_answer(behind)
    return JSONResponse(answer)


async def signed_checkin(switch_id: str, request: Request) -> JSONResponse:
    """The owner's signed check-in (``checkin/1``) in one request, as `afterword checkin`
    sends it to every server of a switch. One not newer than the highest this server holds
    is refused (409) with that ``counter`` and the owner-signed ``checkin`` bearing it."""
    engine = engine_of(request)
    check_id(switch_id)
    body = await _json_body(request, "send the signed check-in `afterword checkin` makes")
    try:
        answer = await run_in_threadpool(engine.signed_checkin, switch_id, body, client_of(request))
    except Behind as behind:
        return behind_answer(behind)
    return JSONResponse(answer)


def behind_answer(behind: Behind) -> JSONResponse:
    """A signed check-in or request whose counter is behind this server's: 409, with the
    ``counter`` to sign past and the owner-signed proof of it (``checkin`` or ``request``)."""
    content = {
        "error": behind.message,
        "hint": behind.hint,
        "counter": behind.highest,
        behind.field: behind.proof,
    }
    return JSONResponse(content, status_code=409)


async def relay(switch_id: str, request: Request) -> dict[str, Any]:
    """A relay from another server of the switch (``relay/1``, signed by its key)."""
    return await _from_peer(request, switch_id, "relays", engine_of(request).take_relay)


async def handoff(switch_id: str, request: Request) -> dict[str, Any]:
    """Another server's own shares of the switch, at release (``handoff/1``)."""
    return await _from_peer(request, switch_id, "handoffs", engine_of(request).take_handoff)


async def _from_peer(
    request: Request, switch_id: str, what: str, take: Callable[..., dict[str, Any]]
) -> dict[str, Any]:
    """A signed document from another server of the switch, taken by ``take``."""
    check_id(switch_id)
    body = await _json_body(request, f"{what} are sent by the servers of a switch to each other")
    return await run_in_threadpool(take, switch_id, body, client_of(request))


async def checkin_password(switch_id: str, request: Request) -> dict[str, Any]:
    """Check in with the switch's password (+ TOTP code): for a phone or a browser."""
    engine = engine_of(request)
    check_id(switch_id)
    hint = 'send {"password": "...", "code": "123456"} (code only if the switch has TOTP)'
    password, code, _ = _password_body(await _json_body(request, hint), hint)
    status = await run_in_threadpool(
        engine.checkin_password, switch_id, password, code, client=client_of(request)
    )
    return {k: status[k] for k in ("switch", "state", "deadline")}


async def password_action(switch_id: str, request: Request) -> dict[str, Any]:
    """Any owner action (checkin, pause, abort, disarm, status, ...) by password."""
    engine = engine_of(request)
    check_id(switch_id)
    hint = 'send {"password": "...", "code": "123456", "action": "status", ...}'
    password, code, params = _password_body(await _json_body(request, hint), hint)
    action = params.pop("action", None)
    if not isinstance(action, str) or action == "sign-in":
        raise AfterwordError("say which action", hint)
    return await run_in_threadpool(
        engine.password_action, switch_id, password, code, action, params, client_of(request)
    )


async def custodian(switch_id: str, request: Request) -> dict[str, Any]:
    """A custodian, by the code derived from their share: status, vote, withdraw."""
    engine = engine_of(request)
    check_id(switch_id)
    hint = 'send {"code": "YOUR CUSTODIAN CODE", "action": "status" | "vote" | "withdraw"}'
    body = await _json_body(request, hint)
    code = body.get("code") if isinstance(body, dict) else None
    action = body.get("action", "status") if isinstance(body, dict) else None
    if not isinstance(code, str) or not isinstance(action, str):
        raise AfterwordError("send the custodian code and the action as text", hint)
    return await run_in_threadpool(
        engine.custodian, switch_id, code[:200], action, client_of(request)
    )


def canary_checkin_api(token: str, request: Request) -> dict[str, Any]:
    """A protected person checks in (`afterword canary checkin`). The duress link
    answers exactly alike."""
    engine = engine_of(request)
    return engine.canary_checkin(token, client=client_of(request))


async def share(switch_id: str, request: Request) -> dict[str, Any]:
    engine = engine_of(request)
    check_id(switch_id)
    hint = "or use `afterword custodian submit`"
    body = await _json_body(request, 'send {"mnemonic": "word word ..."} ' + hint)
    mnemonic = body.get("mnemonic") if isinstance(body, dict) else None
    if not isinstance(mnemonic, str):
        raise AfterwordError('send {"mnemonic": "word word ..."}', hint)
    status = await run_in_threadpool(engine.submit_share, switch_id, mnemonic, client_of(request))
    return {k: status[k] for k in ("switch", "state", "shares", "threshold")}


# --- the public release ------------------------------------------------------------


def release_key(request: Request, switch_id: str) -> str:
    engine = engine_of(request)
    return engine.release(check_id(switch_id))[0].identity + "\n"


def release_statement(request: Request, switch_id: str) -> JSONResponse:
    engine = engine_of(request)
    return JSONResponse(json.loads(engine.release(check_id(switch_id))[0].statement))


def release_manifest(request: Request, switch_id: str) -> JSONResponse:
    engine = engine_of(request)
    return JSONResponse(json.loads(engine.release(check_id(switch_id))[1].manifest))


def release_notice(request: Request, switch_id: str) -> JSONResponse:
    engine = engine_of(request)
    return JSONResponse(json.loads(engine.release(check_id(switch_id))[1].notice))


def release_dossier(request: Request, switch_id: str) -> FileResponse:
    engine = engine_of(request)
    engine.release(check_id(switch_id))
    return FileResponse(engine.dossier_path(switch_id), media_type="application/octet-stream")
