"""The custodians' pages (/s/ID): the switch's state as a custodian may see it, signing
in with the code from their card, voting to release early, and submitting their share.

Separate from the owner's pages because a custodian proves who they are with their card's
code (a cookie of its own), never the owner's session, and sees the truth after duress.
"""

from __future__ import annotations

import contextlib
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from afterword.crypto.shares import check_share_words
from afterword.crypto.switch_id import is_switch_id
from afterword.engine import Forbidden
from afterword.errors import AfterwordError, FormatError, ShareError
from afterword.web.http_errors import client_of
from afterword.web.rendering import (
    PageRoutes,
    check_id,
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
from afterword.web.security import SESSION_SECONDS, Limit
from afterword.web.wording import custodian_state, custodian_truth

router = PageRoutes()


def custodian_page(
    request: Request, switch_id: str, status_code: int = 200, **context: Any
) -> Response:
    engine = engine_of(request)
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
    sec = security_of(request)
    payload = sec.unseal("custodian", request.cookies.get(sec.custodian_cookie, ""))
    if payload is None or payload.get("s") != switch_id:
        return None
    if not isinstance(payload.get("c"), str):
        return None
    return str(payload["c"])


@router.get("/s/{switch_id}", response_class=HTMLResponse, include_in_schema=False)
def custodian(request: Request, switch_id: str, accepted: str = "", done: str = "") -> Response:
    if (moved := lowercase_id(request, switch_id)) is not None:
        return moved
    flash = {"vote": "Your vote is counted.", "withdraw": "Your vote is withdrawn."}
    return custodian_page(request, switch_id, accepted=accepted == "1", flash=flash.get(done, ""))


async def custodian_form(request: Request, switch_id: str, limit: Limit) -> FormData | Response:
    """A custodian's form: its CSRF token, the switch id, and the rate limit, checked."""
    sec = security_of(request)
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


@router.post("/s/{switch_id}/code", response_class=HTMLResponse, include_in_schema=False)
async def custodian_sign_in(request: Request, switch_id: str) -> Response:
    engine = engine_of(request)
    sec = security_of(request)
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
            code_error=sentence(exc.message),
            code_hint="Copy the code from your card (8 groups of 4 letters and digits); "
            "spaces, dashes and capitals do not matter.",
        )
    except AfterwordError as exc:
        return failed(request, exc, back=f"/s/{switch_id}")
    response = RedirectResponse(f"/s/{switch_id}", status_code=303)
    value = sec.seal("custodian", {"s": switch_id, "c": code})
    sec.set_cookie(response, sec.custodian_cookie, value, SESSION_SECONDS)
    return response


@router.post("/s/{switch_id}/vote", response_class=HTMLResponse, include_in_schema=False)
async def custodian_vote(request: Request, switch_id: str) -> Response:
    engine = engine_of(request)
    form = await read_form(request)
    if isinstance(form, Response):
        return form
    code = custodian_code(request, switch_id) if is_switch_id(switch_id) else None
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


@router.post("/s/{switch_id}/forget", response_class=HTMLResponse, include_in_schema=False)
async def custodian_sign_out(request: Request, switch_id: str) -> Response:
    sec = security_of(request)
    form = await read_form(request)
    if isinstance(form, Response):
        return form
    response = RedirectResponse(
        f"/s/{switch_id}" if is_switch_id(switch_id) else "/", status_code=303
    )
    response.delete_cookie(
        sec.custodian_cookie, path="/", secure=sec.secure, httponly=True, samesite="strict"
    )
    return response


@router.post("/s/{switch_id}/share", response_class=HTMLResponse, include_in_schema=False)
async def custodian_share(request: Request, switch_id: str) -> Response:
    engine = engine_of(request)
    sec = security_of(request)
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
                sentence(exc.message)
                + " The words are a valid share, but not one of this switch's: is this "
                "the card for this dossier?"
            ],
            problem_title="This share was not accepted.",
            problem_hint="Check the dossier id on your card; it must be " + switch_id + ".",
        )
    except AfterwordError as exc:
        return failed(request, exc, back=f"/s/{switch_id}")
    return RedirectResponse(f"/s/{switch_id}?accepted=1", status_code=303)
