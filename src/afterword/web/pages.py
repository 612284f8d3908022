"""The web pages: release, notice checker, owner sign-in and dashboard, custodian page.

Server-rendered with Jinja2; no page needs JavaScript (the CSP forbids script outright),
nothing is loaded from another site, and every form carries a CSRF token
(:mod:`afterword.web.security`). Like the JSON API, each route is a thin shell over
:class:`afterword.engine.Engine`; errors become pages that say what went wrong and what
to do, never a stack trace.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.staticfiles import StaticFiles

from afterword import __version__
from afterword.crypto.audit import verify_log
from afterword.crypto.dossier import SWITCH_ID
from afterword.crypto.release import CAUSES, load_statement
from afterword.crypto.shares import check_share_words
from afterword.crypto.signing import fingerprint
from afterword.crypto.verify import verify_any
from afterword.engine import Engine, Forbidden, NotFound
from afterword.engine.engine import OwnerSession
from afterword.engine.messages import when
from afterword.errors import AfterwordError, FormatError, ShareError
from afterword.store import repository as repo
from afterword.switch.machine import owner_view
from afterword.switch.policy import parse_duration, parse_reminders
from afterword.web.http_errors import client_of, status_of
from afterword.web.security import (
    CSRF_FIELD,
    SESSION_SECONDS,
    Limit,
    Security,
    SecurityHeaders,
)
from afterword.web.timeline import timeline_svg
from afterword.web.wording import (
    countdown_text,
    custodian_state,
    custodian_truth,
    duration_text,
    owner_state,
    short_duration,
)

MAX_UPLOAD = 16 * 1024 * 1024
AUDIT_PAGE = 20
CSRF_MESSAGE = (
    "This form has expired or did not come from this site (its security token is missing)."
)
CSRF_HINT = (
    "go back, reload the page and submit the form again; this site needs cookies "
    "(only its own, for this check)"
)


def _duration_or_zero(text: str) -> int:
    return 0 if text.strip() in ("", "0", "0s") else parse_duration(text)


# --- the routes ------------------------------------------------------------------------


def _sentence(text: str) -> str:
    text = text.strip()
    if not text:
        return ""
    return text[:1].upper() + text[1:] + ("" if text.endswith((".", "?", "!")) else ".")


def add_pages(app: FastAPI, engine: Engine, security: Security | None = None) -> None:
    """Add the pages, the stylesheet and the security headers to the API's app."""
    sec = security or Security(
        engine.keys.derived_key("web cookies v1"),
        engine.config.public_url.lower().startswith("https://"),
    )
    env = Environment(
        loader=PackageLoader("afterword.web", "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["version"] = __version__
    app.add_middleware(SecurityHeaders)
    app.mount("/static", StaticFiles(packages=[("afterword.web", "static")]), name="static")

    def render(
        request: Request, template: str, status: int = 200, /, **context: Any
    ) -> HTMLResponse:
        token, fresh = sec.csrf(request)
        body = env.get_template(template).render(csrf=token, **context)
        response = HTMLResponse(body, status_code=status, headers={"cache-control": "no-store"})
        if fresh is not None:
            sec.set_cookie(response, sec.csrf_cookie, fresh, 24 * 3600)
        return response

    def error(
        request: Request, status: int, message: str, hint: str = "", back: str = ""
    ) -> Response:
        if "text/html" not in request.headers.get("accept", ""):
            # a script or the CLI, not a browser: the API's error shape
            return JSONResponse({"error": message, "hint": hint}, status_code=status)
        heading = {
            403: "Not allowed",
            404: "Not found",
            409: "Not possible now",
            429: "Too many attempts",
        }.get(status, "Something is wrong")
        response = render(
            request,
            "error.html",
            status,
            heading=heading,
            message=_sentence(message),
            hint=hint,
            back=back,
        )
        if status == 429:
            response.headers["retry-after"] = "60"
        return response

    def failed(request: Request, exc: AfterwordError, back: str = "") -> Response:
        return error(request, status_of(exc), exc.message, exc.hint, back)

    def check_id(switch_id: str) -> str:
        if not SWITCH_ID.fullmatch(switch_id):
            raise NotFound(
                "no switch with that id on this server",
                "a switch id is letters and digits, as `afterword seal` printed it",
            )
        return switch_id

    async def read_form(request: Request) -> FormData | Response:
        """The submitted form if its CSRF token is good; else the page that says why not."""
        try:
            form = await request.form(max_files=2, max_fields=10, max_part_size=MAX_UPLOAD)
        except (StarletteHTTPException, ValueError) as exc:  # malformed multipart/urlencoded
            detail = getattr(exc, "detail", str(exc))
            return error(request, 400, f"the form could not be read ({detail})", CSRF_HINT)
        if not sec.csrf_ok(request, form.get(CSRF_FIELD)):
            return error(request, 403, CSRF_MESSAGE, CSRF_HINT)
        return form

    def text_field(form: FormData, name: str, limit: int = 1024) -> str:
        value = form.get(name)
        return value[:limit] if isinstance(value, str) else ""

    # --- public pages -------------------------------------------------------------------

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def home(request: Request) -> Response:
        return render(request, "home.html")

    @app.get("/r/{switch_id}", response_class=HTMLResponse, include_in_schema=False)
    def release_page(request: Request, switch_id: str) -> Response:
        try:
            release, row = engine.release(check_id(switch_id))
            statement = json.loads(release.statement)
            load_statement(statement, engine.keys.public_key)  # it is ours, and intact
        except AfterwordError as exc:
            return failed(request, exc)
        notice = json.loads(row.notice)
        cause = str(statement["cause"])
        key = engine.keys.public_key
        lines = [
            f"It is signed by this server's key {key} (fingerprint {fingerprint(key)}).",
            f"It names the dossier's Merkle root {statement['root']}, the one in the "
            "owner's signed notice and manifest.",
            "Check it and the files yourself: afterword verify FOLDER --server-key " + key,
        ]
        size = row.dossier_size
        files = [
            ("key", "the dossier's key (an age identity)"),
            ("dossier.age", f"the encrypted documents, {size:,} bytes (age v1)"),
            ("manifest.json", "the owner's signed list of the documents"),
            ("notice.json", "the owner's signed notice"),
            ("statement.json", "the server's signed release statement"),
        ]
        return render(
            request,
            "release.html",
            switch=switch_id,
            drill=row.drill_of is not None,
            count=statement["count"],
            cause_text=CAUSES.get(cause, f"of {cause!r}"),
            triggered=when(statement["triggered_at"]),
            released=when(statement["released_at"]),
            custodians=statement["custodians"],
            conditions=notice.get("conditions"),
            titles=notice.get("titles"),
            files=[
                {"name": name, "href": f"/r/{switch_id}/{name}", "what": what}
                for name, what in files
            ],
            statement_lines=lines,
            statement_json=json.dumps(statement, indent=2, ensure_ascii=False),
        )

    @app.get("/verify", response_class=HTMLResponse, include_in_schema=False)
    def verify_page(request: Request) -> Response:
        return render(request, "verify.html", max_mb=MAX_UPLOAD >> 20)

    async def upload_json(upload: UploadFile, what: str) -> Any:
        data = await upload.read(MAX_UPLOAD + 1)
        if len(data) > MAX_UPLOAD:
            raise AfterwordError(
                f"the {what} is larger than {MAX_UPLOAD >> 20} MB",
                "afterword files are smaller; check that you chose the right file",
            )
        try:
            return json.loads(data)
        except (ValueError, RecursionError) as exc:
            raise AfterwordError(
                f"the {what} is not an afterword file (it is not JSON)",
                "choose the .json file afterword made (notice.json, a teaser, ...)",
            ) from exc

    @app.post("/verify", response_class=HTMLResponse, include_in_schema=False)
    async def verify_submit(request: Request) -> Response:
        form = await read_form(request)
        if isinstance(form, Response):
            return form
        document, notice = form.get("document"), form.get("notice")
        if not isinstance(document, UploadFile) or not document.filename:
            return render(
                request,
                "verify.html",
                400,
                max_mb=MAX_UPLOAD >> 20,
                result={
                    "ok": False,
                    "name": "No file",
                    "message": "no file was chosen.",
                    "hint": "choose the file to check with the first field, then press Check",
                },
            )
        name = document.filename[:100]
        try:
            doc = await upload_json(document, "file")
            notice_doc = None
            if isinstance(notice, UploadFile) and notice.filename:
                notice_doc = await upload_json(notice, "notice")
            kind, lines = await run_in_threadpool(verify_any, doc, notice_doc)
        except AfterwordError as exc:
            result = {"ok": False, "name": name, "message": _sentence(exc.message)}
            result["hint"] = exc.hint
            return render(request, "verify.html", 422, max_mb=MAX_UPLOAD >> 20, result=result)
        except (KeyError, TypeError, ValueError, AttributeError, RecursionError):
            result = {
                "ok": False,
                "name": name,
                "message": "It is not a well-formed afterword file (a field is missing or "
                "of the wrong kind).",
                "hint": "check that you chose the file afterword made, unchanged",
            }
            return render(request, "verify.html", 422, max_mb=MAX_UPLOAD >> 20, result=result)
        result = {"ok": True, "name": name, "kind": kind, "lines": lines}
        return render(request, "verify.html", max_mb=MAX_UPLOAD >> 20, result=result)

    # --- owner pages --------------------------------------------------------------------

    @app.get("/login", response_class=HTMLResponse, include_in_schema=False)
    def login_page(request: Request, switch: str = "") -> Response:
        shown = switch if SWITCH_ID.fullmatch(switch) else ""
        return render(request, "login.html", switch=shown)

    @app.post("/login", response_class=HTMLResponse, include_in_schema=False)
    async def login_submit(request: Request) -> Response:
        form = await read_form(request)
        if isinstance(form, Response):
            return form
        switch_id = text_field(form, "switch", 100).strip()
        password = text_field(form, "password")
        code = "".join(text_field(form, "code", 20).split()) or None

        def refused(status: int, message: str, hint: str = "") -> HTMLResponse:
            shown = switch_id if SWITCH_ID.fullmatch(switch_id) else ""
            return render(request, "login.html", status, switch=shown, error=message, hint=hint)

        if not SWITCH_ID.fullmatch(switch_id):
            return refused(
                400,
                "That is not a switch id.",
                "A switch id is letters and digits, as `afterword seal` printed it.",
            )
        limited = sec.limit(sec.limits.signin, request, switch_id)
        if limited:
            return refused(429, limited)
        try:
            owner = await run_in_threadpool(
                engine.sign_in, switch_id, password, code, client_of(request)
            )
        except (Forbidden, NotFound):
            return refused(
                403,
                "Wrong switch id, password or code.",
                "Check them and try again; each refused attempt is recorded in the switch's "
                "log. A switch armed without --password cannot be signed in to: check in "
                "with `afterword checkin` and your owner key.",
            )
        except AfterwordError as exc:
            return refused(status_of(exc), _sentence(exc.message), exc.hint)
        response = RedirectResponse(f"/owner/{switch_id}", status_code=303)
        session = sec.new_session(owner.switch, owner.duress)
        sec.set_cookie(response, sec.session_cookie, session, SESSION_SECONDS)
        return response

    @app.post("/logout", response_class=HTMLResponse, include_in_schema=False)
    async def logout(request: Request) -> Response:
        form = await read_form(request)
        if isinstance(form, Response):
            return form
        response = render(request, "login.html", switch="", signed_out=True)
        response.delete_cookie(
            sec.session_cookie, path="/", secure=sec.secure, httponly=True, samesite="strict"
        )
        return response

    def signed_in(request: Request, switch_id: str) -> OwnerSession | None:
        """The owner session of this browser for this switch (duress or not), if any."""
        found = sec.session(request)
        if found is None or found[0] != switch_id:
            return None
        return OwnerSession(found[0], found[1])

    @app.get("/owner/{switch_id}", response_class=HTMLResponse, include_in_schema=False)
    def dashboard(request: Request, switch_id: str, page: int = 1, done: str = "") -> Response:
        owner = signed_in(request, switch_id) if SWITCH_ID.fullmatch(switch_id) else None
        if owner is None:
            target = f"/login?switch={switch_id}" if SWITCH_ID.fullmatch(switch_id) else "/login"
            return RedirectResponse(target, status_code=303)
        try:
            status = engine.session_view(owner)  # after duress, what the owner is shown
            with engine.store.transaction() as s:
                row = repo.get_switch(s, switch_id)
                if row is None:
                    raise NotFound(f"no switch {switch_id} on this server")
                roster = json.loads(row.custodians)
                contacts = json.loads(row.contacts)
                policy = owner_view(repo.state_of(row)).policy
        except AfterwordError as exc:
            return failed(request, exc)
        now = engine.clock()
        audit: list[dict[str, Any]] = status["audit"]
        try:
            verify_log(engine.audit_export(switch_id, owner=owner.duress), engine.keys.public_key)
            audit_ok, audit_status = (
                True,
                f"Verified: all {len(audit)} entries form one unbroken hash chain, signed by "
                "this server. `afterword audit` exports it for checking offline.",
            )
        except AfterwordError as exc:
            audit_ok, audit_status = False, f"The log does NOT verify: {exc.message}"
        pages = max(1, math.ceil(len(audit) / AUDIT_PAGE))
        page = min(max(page, 1), pages)
        newest = list(reversed(audit))[(page - 1) * AUDIT_PAGE : page * AUDIT_PAGE]
        submitted = {
            e["detail"].removeprefix("accepted from ") for e in audit if e["kind"] == "share"
        }
        voted: set[str] = set()
        for e in audit:  # "vote": "LABEL (n of k)"; "vote-withdrawn": "LABEL"
            if e["kind"] == "vote":
                voted.add(e["detail"].split(" ")[0])
            elif e["kind"] == "vote-withdrawn":
                voted.discard(e["detail"].split(" ")[0])
        revoked = set(status.get("revoked", []))
        state = owner_state(status)
        flash = "Settings saved." if done == "settings" else ""
        if done == "settings" and status.get("settings_at"):
            flash = (
                "Settings saved. They let the switch wait longer before a release, so they "
                f"take effect at {when(status['settings_at'])}, after the cooling-off; your "
                "custodians have been told."
            )
        if done == "checkin":
            flash = "Checked in. " + (
                f"Your next check-in is due by {when(status['deadline'])}."
                if status.get("deadline")
                else ""
            )
        return render(
            request,
            "dashboard.html",
            switch=switch_id,
            flash=flash,
            state_title=state.title,
            state_text=state.text,
            level=state.level,
            countdown=countdown_text(state.target, now) if state.target else "",
            countdown_label=state.target_label,
            can_checkin=status["state"] in ("armed", "overdue", "triggered", "disarming"),
            interval=duration_text(policy.interval),
            timeline=timeline_svg(audit, status, policy.grace, now),
            threshold=status["threshold"],
            shares=status["shares"],
            custodians=[
                {
                    "label": c["label"],
                    "submitted": c["label"] in submitted,
                    "voted": c["label"] in voted,
                    "revoked": c["label"] in revoked,
                    "contact": contacts.get("custodians", {}).get(c["label"], ""),
                }
                for c in roster.get("custodians", [])
            ],
            recipients=status.get("recipients", contacts.get("recipients", [])),
            settings={
                "interval": short_duration(policy.interval),
                "grace": short_duration(policy.grace),
                "waiting": short_duration(policy.waiting),
                "reminders": ", ".join(short_duration(r) for r in policy.reminders),
            },
            canaries=[
                {
                    "name": c["name"],
                    "last": when(c["last_checkin"]) if c.get("last_checkin") else "never",
                    "next": when(c["next_due"]) if c.get("next_due") else "—",
                    "missed": c.get("missed", False),
                    "on_miss": "the release is triggered"
                    if c.get("on_miss") == "trigger"
                    else "you and the custodians are alerted",
                }
                for c in status.get("canaries", [])
            ],
            audit_ok=audit_ok,
            audit_status=audit_status,
            entries=[
                {"seq": e["seq"], "when": when(e["at"]), "kind": e["kind"], "detail": e["detail"]}
                for e in newest
            ],
            page=page,
            pages=pages,
            newer=f"/owner/{switch_id}?page={page - 1}" if page > 1 else "",
            older=f"/owner/{switch_id}?page={page + 1}" if page < pages else "",
        )

    @app.post("/owner/{switch_id}/checkin", response_class=HTMLResponse, include_in_schema=False)
    async def owner_checkin(request: Request, switch_id: str) -> Response:
        form = await read_form(request)
        if isinstance(form, Response):
            return form
        owner = signed_in(request, switch_id) if SWITCH_ID.fullmatch(switch_id) else None
        if owner is None:
            return error(
                request,
                403,
                "you are not signed in to this switch (or your session ended after an hour)",
                "sign in again, then press “I'm here”",
                back=f"/login?switch={switch_id}" if SWITCH_ID.fullmatch(switch_id) else "/login",
            )
        limited = sec.limit(sec.limits.checkin, request, switch_id)
        if limited:
            return error(request, 429, limited, back=f"/owner/{switch_id}")
        try:
            client = client_of(request)
            await run_in_threadpool(engine.session_action, owner, "checkin", None, client)
        except AfterwordError as exc:
            return failed(request, exc, back=f"/owner/{switch_id}")
        return RedirectResponse(f"/owner/{switch_id}?done=checkin", status_code=303)

    async def owner_form(
        request: Request,
        switch_id: str,
        action: str,
        parse: Callable[[FormData], dict[str, Any]],
    ) -> dict[str, Any] | Response:
        """An owner change from the dashboard, confirmed by the password (and code): the
        CSRF token first, then the session, the rate limit, the fields, the password."""
        if not SWITCH_ID.fullmatch(switch_id):
            return error(request, 404, "no switch with that id on this server")
        form = await read_form(request)
        if isinstance(form, Response):
            return form
        back = f"/owner/{switch_id}"
        if signed_in(request, switch_id) is None:
            return error(request, 403, "you are not signed in to this switch", back="/login")
        limited = sec.limit(sec.limits.signin, request, switch_id)
        if limited:
            return error(request, 429, limited, back=back)
        code = text_field(form, "code", 16).strip() or None
        try:
            params = parse(form)
            return dict(
                await run_in_threadpool(
                    engine.password_action,
                    switch_id,
                    text_field(form, "password"),
                    code,
                    action,
                    params,
                    client_of(request),
                )
            )
        except AfterwordError as exc:
            return failed(request, exc, back=back)

    def settings_params(form: FormData) -> dict[str, Any]:
        return {
            "interval": parse_duration(text_field(form, "interval", 64)),
            "grace": _duration_or_zero(text_field(form, "grace", 64)),
            "waiting": _duration_or_zero(text_field(form, "waiting", 64)),
            "reminders": list(parse_reminders(text_field(form, "reminders", 256))),
            "recipients": [
                line.strip()
                for line in text_field(form, "recipients", 16384).splitlines()
                if line.strip()
            ],
        }

    def canary_params(form: FormData) -> dict[str, Any]:
        return {
            "name": text_field(form, "name", 64).strip(),
            "interval": parse_duration(text_field(form, "interval", 64)),
            "grace": _duration_or_zero(text_field(form, "grace", 64)),
            "on_miss": "trigger" if text_field(form, "on_miss", 16) == "trigger" else "alert",
        }

    @app.post("/owner/{switch_id}/settings", response_class=HTMLResponse, include_in_schema=False)
    async def owner_settings(request: Request, switch_id: str) -> Response:
        done = await owner_form(request, switch_id, "settings", settings_params)
        if isinstance(done, Response):
            return done
        return RedirectResponse(f"/owner/{switch_id}?done=settings", status_code=303)

    @app.post("/owner/{switch_id}/canary", response_class=HTMLResponse, include_in_schema=False)
    async def owner_canary(request: Request, switch_id: str) -> Response:
        done = await owner_form(request, switch_id, "canary-add", canary_params)
        if isinstance(done, Response):
            return done
        return render(
            request,
            "canary-added.html",
            switch=switch_id,
            name=done["canary"],
            url=done["url"],
            duress_url=done["duress_url"],
        )

    # --- custodian pages ----------------------------------------------------------------

    def custodian_page(
        request: Request, switch_id: str, status_code: int = 200, **context: Any
    ) -> Response:
        try:
            # without a custodian's code, the page shows what the owner is shown (the
            # decoy after duress); a signed-in custodian sees the truth
            status = engine.public_status(check_id(switch_id))
        except AfterwordError as exc:
            return failed(request, exc)
        code = custodian_code(request, switch_id)
        if code is not None:
            # revoked since, or no longer valid: the page asks for the code again
            with contextlib.suppress(AfterwordError):
                truth = engine.custodian(switch_id, code, "status")
                status = {**status, **truth}
                if "me" not in context:
                    context["me"] = custodian_truth(truth)
        title, text, level, collecting = custodian_state(status)
        return render(
            request,
            "custodian.html",
            status_code,
            switch=switch_id,
            threshold=status["threshold"],
            shares=status["shares"],
            released=status["state"] == "released",
            state_title=title,
            state_text=text,
            level=level,
            collecting=collecting or bool(context.get("problems")),
            public_url=engine.config.public_url,
            **context,
        )

    def custodian_code(request: Request, switch_id: str) -> str | None:
        payload = sec.unseal("custodian", request.cookies.get(sec.custodian_cookie, ""))
        if payload is None or payload.get("s") != switch_id:
            return None
        if not isinstance(payload.get("c"), str):
            return None
        return str(payload["c"])

    @app.get("/s/{switch_id}", response_class=HTMLResponse, include_in_schema=False)
    def custodian(request: Request, switch_id: str, accepted: str = "", done: str = "") -> Response:
        flash = {"vote": "Your vote is counted.", "withdraw": "Your vote is withdrawn."}
        return custodian_page(
            request, switch_id, accepted=accepted == "1", flash=flash.get(done, "")
        )

    async def custodian_form(request: Request, switch_id: str, limit: Limit) -> FormData | Response:
        """A custodian's form: its CSRF token, the switch id, and the rate limit, checked."""
        form = await read_form(request)
        if isinstance(form, Response):
            return form
        try:
            check_id(switch_id)
        except AfterwordError as exc:
            return failed(request, exc)
        limited = sec.limit(limit, request, switch_id)
        if limited:
            return error(request, 429, limited, back=f"/s/{switch_id}")
        return form

    @app.post("/s/{switch_id}/code", response_class=HTMLResponse, include_in_schema=False)
    async def custodian_sign_in(request: Request, switch_id: str) -> Response:
        form = await custodian_form(request, switch_id, sec.limits.custodian)
        if isinstance(form, Response):
            return form
        code = "".join(text_field(form, "code", 100).split()).replace("-", "").lower()
        try:
            await run_in_threadpool(engine.custodian, switch_id, code, "status", client_of(request))
        except (Forbidden, FormatError, ShareError) as exc:  # not theirs, or not a code
            return custodian_page(
                request,
                switch_id,
                403 if isinstance(exc, Forbidden) else 400,
                code_error=_sentence(exc.message),
                code_hint="Copy the code from your card (8 groups of 4 letters and digits); "
                "spaces, dashes and capitals do not matter.",
            )
        except AfterwordError as exc:
            return failed(request, exc, back=f"/s/{switch_id}")
        response = RedirectResponse(f"/s/{switch_id}", status_code=303)
        value = sec.seal("custodian", {"s": switch_id, "c": code})
        sec.set_cookie(response, sec.custodian_cookie, value, SESSION_SECONDS)
        return response

    @app.post("/s/{switch_id}/vote", response_class=HTMLResponse, include_in_schema=False)
    async def custodian_vote(request: Request, switch_id: str) -> Response:
        form = await read_form(request)
        if isinstance(form, Response):
            return form
        code = custodian_code(request, switch_id) if SWITCH_ID.fullmatch(switch_id) else None
        action = text_field(form, "action", 20)
        if code is None or action not in ("vote", "withdraw"):
            return error(
                request,
                403 if code is None else 400,
                "you are not signed in as a custodian of this switch (or an hour has passed)"
                if code is None
                else "the form asked for neither a vote nor its withdrawal",
                "enter your custodian code on the custodian page, then vote",
                back=f"/s/{switch_id}",
            )
        try:
            await run_in_threadpool(engine.custodian, switch_id, code, action, client_of(request))
        except AfterwordError as exc:
            return failed(request, exc, back=f"/s/{switch_id}")
        return RedirectResponse(f"/s/{switch_id}?done={action}", status_code=303)

    @app.post("/s/{switch_id}/forget", response_class=HTMLResponse, include_in_schema=False)
    async def custodian_sign_out(request: Request, switch_id: str) -> Response:
        form = await read_form(request)
        if isinstance(form, Response):
            return form
        response = RedirectResponse(
            f"/s/{switch_id}" if SWITCH_ID.fullmatch(switch_id) else "/", status_code=303
        )
        response.delete_cookie(
            sec.custodian_cookie, path="/", secure=sec.secure, httponly=True, samesite="strict"
        )
        return response

    # --- protected people (canaries) ----------------------------------------------------

    @app.get("/canary/{token}", response_class=HTMLResponse, include_in_schema=False)
    def canary(request: Request, token: str, done: str = "") -> Response:
        try:
            seen = engine.canary_page(token)
        except AfterwordError as exc:
            return failed(request, exc)
        now, due = engine.clock(), seen.get("next_due")
        late = due is not None and due < now
        if due is None:
            text = "Please check in."
        elif late:
            text = f"Please check in: it was due {when(due)}."
        else:
            text = f"Please check in by {when(due)}."
        return render(
            request,
            "canary.html",
            name=seen["name"],
            token=token,
            done=done == "1",
            level="bad" if late else "ok",
            text=text,
            countdown=countdown_text(due, now) if due else "",
        )

    @app.post("/canary/{token}", response_class=HTMLResponse, include_in_schema=False)
    async def canary_checkin(request: Request, token: str) -> Response:
        form = await read_form(request)
        if isinstance(form, Response):
            return form
        key = hashlib.sha256(token.encode()).hexdigest()[:16]
        limited = sec.limit(sec.limits.canary, request, key)
        if limited:
            return error(request, 429, limited, back=f"/canary/{token}")
        try:
            await run_in_threadpool(engine.canary_checkin, token, client_of(request))
        except AfterwordError as exc:
            return failed(request, exc)
        return RedirectResponse(f"/canary/{token}?done=1", status_code=303)

    @app.post("/s/{switch_id}/share", response_class=HTMLResponse, include_in_schema=False)
    async def custodian_share(request: Request, switch_id: str) -> Response:
        form = await custodian_form(request, switch_id, sec.limits.share)
        if isinstance(form, Response):
            return form
        words = text_field(form, "words", 4096)
        check = await run_in_threadpool(check_share_words, words)
        if check.problems:
            return custodian_page(
                request,
                switch_id,
                400,
                words=words,
                problems=check.problems,
                problem_title=check.title,
                problem_hint=check.hint,
            )
        try:
            await run_in_threadpool(engine.submit_share, switch_id, words, client_of(request))
        except ShareError as exc:
            return custodian_page(
                request,
                switch_id,
                400,
                words=words,
                problems=[
                    _sentence(exc.message)
                    + " The words are a valid share, but not one of this switch's: is this "
                    "the card for this dossier?"
                ],
                problem_title="This share was not accepted.",
                problem_hint="Check the dossier id on your card; it must be " + switch_id + ".",
            )
        except AfterwordError as exc:
            return failed(request, exc, back=f"/s/{switch_id}")
        return RedirectResponse(f"/s/{switch_id}?accepted=1", status_code=303)
