"""The pages of the people an owner protects (canaries): each opens their own link and
presses one button to say they are well; a duress link answers exactly alike.

Separate because these people are neither owners nor custodians: a link's token is all
they have, so nothing here knows a switch id or a session.
"""

from __future__ import annotations

import hashlib

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from afterword.engine.mail_text import when
from afterword.errors import AfterwordError
from afterword.web.http_errors import client_of
from afterword.web.rendering import (
    PageRoutes,
    engine_of,
    error,
    failed,
    read_form,
    render,
    security_of,
)
from afterword.web.wording import countdown_text

router = PageRoutes()


@router.get("/canary/{token}", response_class=HTMLResponse, include_in_schema=False)
def canary(request: Request, token: str, done: str = "") -> Response:
    engine = engine_of(request)
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


@router.post("/canary/{token}", response_class=HTMLResponse, include_in_schema=False)
async def canary_checkin(request: Request, token: str) -> Response:
    engine = engine_of(request)
    sec = security_of(request)
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
