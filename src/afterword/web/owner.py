"""The owner's pages: signing in and out, the dashboard, and what the owner does from it
(check in, change the settings, add a protected person).

Separate from the other pages because only here is someone signed in with the switch's
password; every change is confirmed by it again. After duress the session is a duress
one and everything shown is the decoy the engine gives.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from afterword.crypto.audit import verify_log
from afterword.crypto.switch_id import is_switch_id, normalize_switch_id
from afterword.engine import Engine, Forbidden, NotFound, OwnerSession
from afterword.engine.mail_text import when
from afterword.errors import AfterwordError
from afterword.switch.policy import parse_duration, parse_reminders
from afterword.web.http_errors import client_of, status_of
from afterword.web.rendering import (
    PageRoutes,
    engine_of,
    error,
    failed,
    lowercase_id,
    read_form,
    render,
    security_of,
    sentence,
    text_field,
)
from afterword.web.security import SESSION_SECONDS
from afterword.web.timeline import timeline_svg
from afterword.web.wording import countdown_text, duration_text, owner_state, short_duration
from afterword.words import humane

AUDIT_PAGE = 20
RELEASABLE = ("armed", "overdue", "paused", "disarming", "triggered")
"""The states the owner may release from (from triggered: only skipping the wait)."""

router = PageRoutes()


def _duration_or_zero(text: str) -> int:
    return 0 if text.strip() in ("", "0", "0s") else parse_duration(text)


@router.get("/login", response_class=HTMLResponse, include_in_schema=False)
def login_page(request: Request, switch: str = "") -> Response:
    shown = switch if is_switch_id(switch) else ""
    return render(request, "login.html", switch=shown)


@router.post("/login", response_class=HTMLResponse, include_in_schema=False)
async def login_submit(request: Request) -> Response:
    engine = engine_of(request)
    sec = security_of(request)
    form = await read_form(request)
    if isinstance(form, Response):
        return form
    switch_id = normalize_switch_id(text_field(form, "switch", 100).strip())
    password = text_field(form, "password")
    code = "".join(text_field(form, "code", 20).split()) or None

    def refused(status: int, message: str, hint: str = "") -> HTMLResponse:
        shown = switch_id if is_switch_id(switch_id) else ""
        return render(request, "login.html", status, switch=shown, error=message, hint=hint)

    if not is_switch_id(switch_id):
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
        return refused(status_of(exc), sentence(exc.message), exc.hint)
    response = RedirectResponse(f"/owner/{switch_id}", status_code=303)
    session = sec.new_session(owner.switch, owner.duress)
    sec.set_cookie(response, sec.session_cookie, session, SESSION_SECONDS)
    return response


@router.post("/logout", response_class=HTMLResponse, include_in_schema=False)
async def logout(request: Request) -> Response:
    sec = security_of(request)
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
    sec = security_of(request)
    found = sec.session(request)
    if found is None or found[0] != switch_id:
        return None
    return OwnerSession(found[0], found[1])


@router.get("/owner/{switch_id}", response_class=HTMLResponse, include_in_schema=False)
def dashboard(request: Request, switch_id: str, page: int = 1, done: str = "") -> Response:
    if (moved := lowercase_id(request, switch_id)) is not None:
        return moved
    engine = engine_of(request)
    owner = signed_in(request, switch_id) if is_switch_id(switch_id) else None
    if owner is None:
        target = f"/login?switch={switch_id}" if is_switch_id(switch_id) else "/login"
        return RedirectResponse(target, status_code=303)
    try:
        view = engine.dashboard_view(owner)
    except AfterwordError as exc:
        return failed(request, exc)
    now = engine.clock()
    audit: list[dict[str, Any]] = view["audit"]
    audit_ok, audit_status = _audit_check(engine, owner, audit)
    pages = max(1, math.ceil(len(audit) / AUDIT_PAGE))
    page = min(max(page, 1), pages)
    newest = list(reversed(audit))[(page - 1) * AUDIT_PAGE : page * AUDIT_PAGE]
    state = owner_state(view)
    policy = view["policy"]
    return render(
        request,
        "dashboard.html",
        switch=switch_id,
        flash=_flash(done, view),
        state_title=state.title,
        state_text=state.text,
        level=state.level,
        countdown=countdown_text(state.target, now) if state.target else "",
        countdown_label=state.target_label,
        can_checkin=view["state"] in ("armed", "overdue", "triggered", "disarming"),
        can_release=view["state"] in RELEASABLE,
        can_abort=view["state"] == "triggered",
        waiting=duration_text(policy["waiting"]),
        interval=duration_text(policy["interval"]),
        timeline=timeline_svg(audit, view, policy["grace"], now),
        threshold=view["threshold"],
        shares=view["shares"],
        custodians=view["custodians"],
        recipients=view["recipients"],
        settings={
            "interval": short_duration(policy["interval"]),
            "grace": short_duration(policy["grace"]),
            "waiting": short_duration(policy["waiting"]),
            "reminders": ", ".join(short_duration(r) for r in policy["reminders"]),
        },
        canaries=[_canary_row(c) for c in view.get("canaries", [])],
        audit_ok=audit_ok,
        audit_status=audit_status,
        entries=[
            {
                "seq": e["seq"],
                "when": when(e["at"]),
                "kind": e["kind"],
                "detail": humane(e["detail"]),
            }
            for e in newest
        ],
        page=page,
        pages=pages,
        newer=f"/owner/{switch_id}?page={page - 1}" if page > 1 else "",
        older=f"/owner/{switch_id}?page={page + 1}" if page < pages else "",
    )


def _audit_check(
    engine: Engine, owner: OwnerSession, audit: list[dict[str, Any]]
) -> tuple[bool, str]:
    """Whether the switch's log (as this session sees it) verifies, in words."""
    try:
        verify_log(engine.audit_export(owner.switch, owner=owner.duress), engine.keys.public_key)
        return (
            True,
            f"Verified: all {len(audit)} entries form one unbroken hash chain, signed by "
            "this server. `afterword audit` exports it for checking offline.",
        )
    except AfterwordError as exc:
        return False, f"The log does NOT verify: {exc.message}"


def _flash(done: str, status: dict[str, Any]) -> str:
    """The line that says what the owner's last action did (?done=...)."""
    flash = "Settings saved." if done == "settings" else ""
    if done == "settings" and status.get("settings_at"):
        flash = (
            "Settings saved. They let the switch wait longer before a release, so they "
            f"take effect at {when(status['settings_at'])}, after the cooling-off; your "
            "custodians have been told."
        )
    if done == "release" and status.get("state") == "triggered":
        flash = (
            "Release started: your custodians have been told. It is published at "
            f"{when(status['release_at'])}, after the waiting period, unless you abort it."
        )
    if done == "release" and status.get("state") in ("releasing", "released"):
        flash = "Release under way: it can no longer be stopped."
    if done == "abort":
        flash = "Release aborted: the switch is armed again, and your custodians are told."
    if done == "checkin":
        flash = "Checked in. " + (
            f"Your next check-in is due by {when(status['deadline'])}."
            if status.get("deadline")
            else ""
        )
    return flash


def _canary_row(c: dict[str, Any]) -> dict[str, Any]:
    """A protected person as the dashboard lists them."""
    return {
        "name": c["name"],
        "last": when(c["last_checkin"]) if c.get("last_checkin") else "never",
        "next": when(c["next_due"]) if c.get("next_due") else "—",
        "missed": c.get("missed", False),
        "on_miss": "the release is triggered"
        if c.get("on_miss") == "trigger"
        else "you and the custodians are alerted",
    }


@router.post("/owner/{switch_id}/checkin", response_class=HTMLResponse, include_in_schema=False)
async def owner_checkin(request: Request, switch_id: str) -> Response:
    engine = engine_of(request)
    sec = security_of(request)
    form = await read_form(request)
    if isinstance(form, Response):
        return form
    owner = signed_in(request, switch_id) if is_switch_id(switch_id) else None
    if owner is None:
        return error(
            request,
            403,
            "you are not signed in to this switch (or your session ended after an hour)",
            "sign in again, then press “I'm here”",
            back=f"/login?switch={switch_id}" if is_switch_id(switch_id) else "/login",
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
    engine = engine_of(request)
    sec = security_of(request)
    if not is_switch_id(switch_id):
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


@router.post("/owner/{switch_id}/settings", response_class=HTMLResponse, include_in_schema=False)
async def owner_settings(request: Request, switch_id: str) -> Response:
    done = await owner_form(request, switch_id, "settings", settings_params)
    if isinstance(done, Response):
        return done
    return RedirectResponse(f"/owner/{switch_id}?done=settings", status_code=303)


@router.post("/owner/{switch_id}/canary", response_class=HTMLResponse, include_in_schema=False)
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


def release_params(switch_id: str) -> Callable[[FormData], dict[str, Any]]:
    """The release form's fields, once the switch id typed in it is this switch's (in any
    case): else nothing is sent, and the owner is told why."""

    def parse(form: FormData) -> dict[str, Any]:
        typed = text_field(form, "confirm", 100).strip()
        if normalize_switch_id(typed) != switch_id:
            raise AfterwordError(
                "the switch id typed does not match this switch; nothing was released",
                f"type {switch_id} in the box to confirm the release",
            )
        return {"skip_waiting": True} if text_field(form, "skip_waiting", 8) else {}

    return parse


@router.post("/owner/{switch_id}/release", response_class=HTMLResponse, include_in_schema=False)
async def owner_release(request: Request, switch_id: str) -> Response:
    done = await owner_form(request, switch_id, "release", release_params(switch_id))
    if isinstance(done, Response):
        return done
    return RedirectResponse(f"/owner/{switch_id}?done=release", status_code=303)


@router.post("/owner/{switch_id}/abort", response_class=HTMLResponse, include_in_schema=False)
async def owner_abort(request: Request, switch_id: str) -> Response:
    done = await owner_form(request, switch_id, "abort", lambda form: {})
    if isinstance(done, Response):
        return done
    return RedirectResponse(f"/owner/{switch_id}?done=abort", status_code=303)
