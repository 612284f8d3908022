"""The pages anyone may open: the home page, a released dossier's page and the checker
that verifies a notice, teaser or release file in the browser.

Separate from the owner's and custodians' pages because nobody here is signed in: no
session, no custodian code, nothing but what is public (or what the visitor uploads).
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from afterword.crypto.release import CAUSES, load_statement
from afterword.crypto.signing import fingerprint
from afterword.crypto.verify import verify_any
from afterword.engine.mail_text import when
from afterword.errors import AfterwordError
from afterword.web.rendering import (
    MAX_UPLOAD,
    PageRoutes,
    check_id,
    engine_of,
    failed,
    lowercase_id,
    read_form,
    render,
    sentence,
)

router = PageRoutes()


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def home(request: Request) -> Response:
    return render(request, "home.html")


@router.get("/r/{switch_id}", response_class=HTMLResponse, include_in_schema=False)
def release_page(request: Request, switch_id: str) -> Response:
    if (moved := lowercase_id(request, switch_id)) is not None:
        return moved
    engine = engine_of(request)
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
            {"name": name, "href": f"/r/{switch_id}/{name}", "what": what} for name, what in files
        ],
        statement_lines=lines,
        statement_json=json.dumps(statement, indent=2, ensure_ascii=False),
    )


@router.get("/verify", response_class=HTMLResponse, include_in_schema=False)
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


@router.post("/verify", response_class=HTMLResponse, include_in_schema=False)
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
        result = {"ok": False, "name": name, "message": sentence(exc.message)}
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
