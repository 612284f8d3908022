"""The web app, wired: the JSON API (:mod:`afterword.web.api`), the pages by audience
(:mod:`~afterword.web.public`, :mod:`~afterword.web.owner`, :mod:`~afterword.web.custodian`,
:mod:`~afterword.web.canary`), the stylesheet, the security headers, and the handlers that
turn every error into ``{"error": ..., "hint": ...}``.

Only wiring lives here: the routes reach the engine, the cookie security and the
templates through ``request.app.state``, which :func:`create_app` fills.
"""

from __future__ import annotations

import logging
import re

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from afterword import __version__
from afterword.engine import Engine
from afterword.errors import AfterwordError
from afterword.web import api_docs, canary, custodian, owner, public
from afterword.web.api import ARM_HINT, add_api, signed_checkin
from afterword.web.http_errors import status_of
from afterword.web.ops import CountRefusals, add_health
from afterword.web.rendering import templates
from afterword.web.security import Security, SecurityHeaders

log = logging.getLogger("afterword.web")

MAX_REQUEST = 80 * 1024 * 1024  # the largest teaser /verify takes, with its form


def _error(status: int, message: str, hint: str = "") -> JSONResponse:
    return JSONResponse({"error": message, "hint": hint}, status_code=status)


async def afterword_error(_: Request, exc: AfterwordError) -> JSONResponse:
    return _error(status_of(exc), exc.message, exc.hint)


async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    first = exc.errors()[0] if exc.errors() else {}
    loc = [str(p) for p in first.get("loc", ())]
    name = loc[1] if len(loc) > 1 else "request"
    hint = ARM_HINT if request.url.path.rstrip("/") == "/switches" else ""
    if first.get("type") == "missing":
        return _error(422, f"the request has no {name} part", hint)
    if "UploadFile" in str(first.get("msg", "")):
        return _error(422, f"the {name} part is not a file upload (with a file name)", hint)
    return _error(422, f"the {name} part is not valid: {first.get('msg', '')}", hint)


async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    path = request.url.path if len(request.url.path) <= 200 else "this path"
    if exc.status_code == 404:
        message, hint = f"nothing at {path}", "the API is described at /docs"
    elif exc.status_code == 405:
        allowed = (exc.headers or {}).get("Allow", "")
        message = f"{request.method} is not allowed on {path}"
        hint = f"use {allowed}" + (
            " (owner actions and shares are never taken by GET)" if "POST" in allowed else ""
        )
    else:
        message, hint = str(exc.detail), ""
    response = _error(exc.status_code, message, hint)
    response.headers.update(exc.headers or {})
    return response


async def unexpected(_: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error")  # a bug: the body says nothing secret
    return _error(500, "internal error", "the server logged it; please report it")


class CheckinRoute:
    """ASGI middleware: ``POST /switches/ID/checkins``, the one request of every owner
    check-in (the API's busiest route), handed straight to its route function,
    :func:`afterword.web.api.signed_checkin`, and its errors to :func:`afterword_error`,
    as FastAPI would. What is skipped is FastAPI's routing, its dependency solving (the
    route takes the path's id and the request, nothing to validate) and its exception
    middleware: about 0.2 ms of CPU a request (docs/benchmarks.md). It sits inside the
    security headers and the body limits, which still apply. Any other request (one under
    a ``root_path`` too), or a path the route's pattern would match but this one does not
    (a trailing newline), goes to the app, whose route for it is the same function."""

    PATH = re.compile(r"/switches/([^/]+)/checkins")

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        match = None
        if scope["type"] == "http" and scope["method"] == "POST" and not scope.get("root_path"):
            match = self.PATH.fullmatch(scope["path"])
        if match is None:
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        try:
            response = await signed_checkin(match.group(1), request)
        except AfterwordError as exc:
            response = await afterword_error(request, exc)
        await response(scope, receive, send)


def create_app(engine: Engine) -> FastAPI:
    # no request body but an upload's is ever large: anything else is refused at the door,
    # before it is read (413), so nobody can fill the server's disk or memory
    # not FastAPI's /docs or /redoc: they load scripts from a CDN, which the pages' CSP
    # blocks and which would break the promise that nothing is loaded from other sites;
    # /docs is our own page of /openapi.json (afterword.web.api_docs)
    app = FastAPI(
        title="afterword",
        version=__version__,
        max_body_size=MAX_REQUEST,
        docs_url=None,
        redoc_url=None,
    )
    app.exception_handler(AfterwordError)(afterword_error)
    app.exception_handler(RequestValidationError)(validation_error)
    app.exception_handler(StarletteHTTPException)(http_error)
    app.exception_handler(Exception)(unexpected)
    app.state.engine = engine
    add_api(app, engine)
    add_health(app, engine)  # (/metrics only on the metrics listener: see web/ops.py)
    app.add_middleware(CheckinRoute)  # inside the security headers add_pages adds
    add_pages(app, engine)  # the HTML pages, with CSRF, CSP, limits
    app.add_middleware(CountRefusals)  # outermost: every refusal, whoever answered it
    return app


def add_pages(app: FastAPI, engine: Engine, security: Security | None = None) -> None:
    """Add the pages, the stylesheet and the security headers to the API's app (the pages
    find ``engine``, the security and the templates in ``app.state``)."""
    app.state.engine = engine
    app.state.security = security or Security(
        engine.keys.derived_key("web cookies v1"),
        engine.config.public_url.lower().startswith("https://"),
    )
    app.state.templates = templates()
    app.add_middleware(SecurityHeaders)
    app.mount("/static", StaticFiles(packages=[("afterword.web", "static")]), name="static")
    for pages in (public, owner, custodian, canary, api_docs):
        pages.router.add_to(app)
