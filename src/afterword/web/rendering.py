"""What every page shares: rendering a template (with its CSRF token), the error page,
reading a submitted form, and the app's engine, security and templates for a request.

Server-rendered with Jinja2; no page needs JavaScript (the CSP forbids script outright),
nothing is loaded from another site, and every form carries a CSRF token
(:mod:`afterword.web.security`). Errors become pages that say what went wrong and what
to do, never a stack trace. Separate from the routes (public, owner, custodian, canary)
because all of them use it; the app's parts reach it through ``request.app.state``
(:func:`afterword.web.app.create_app` puts them there).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException as StarletteHTTPException

from afterword import __version__
from afterword.crypto.switch_id import is_switch_id, normalize_switch_id
from afterword.engine import Engine, NotFound
from afterword.errors import AfterwordError
from afterword.web.http_errors import status_of
from afterword.web.security import CSRF_FIELD, Security

MAX_UPLOAD = 16 * 1024 * 1024
CSRF_MESSAGE = (
    "This form has expired or did not come from this site (its security token is missing)."
)
CSRF_HINT = (
    "go back, reload the page and submit the form again; this site needs cookies "
    "(only its own, for this check)"
)

Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])


class PageRoutes:
    """A module's pages, declared where they are written (``@router.get(...)`` above a
    module-level function) and added to the app later by :meth:`add_to`, exactly as
    ``@app.get`` would add them: made by the app itself, they take its limits (an
    ``APIRouter`` included into the app would carry limits of its own)."""

    def __init__(self) -> None:
        self.routes: list[tuple[str, str, dict[str, Any], Callable[..., Any]]] = []

    def get(self, path: str, **options: Any) -> Callable[[Endpoint], Endpoint]:
        return self._declare("get", path, options)

    def post(self, path: str, **options: Any) -> Callable[[Endpoint], Endpoint]:
        return self._declare("post", path, options)

    def _declare(
        self, method: str, path: str, options: dict[str, Any]
    ) -> Callable[[Endpoint], Endpoint]:
        def declare(endpoint: Endpoint) -> Endpoint:
            self.routes.append((method, path, options, endpoint))
            return endpoint

        return declare

    def add_to(self, app: FastAPI) -> None:
        for method, path, options, endpoint in self.routes:
            getattr(app, method)(path, **options)(endpoint)


def templates() -> Environment:
    """The pages' Jinja2 templates (afterword.web/templates), HTML autoescaped."""
    env = Environment(
        loader=PackageLoader("afterword.web", "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["version"] = __version__
    return env


def engine_of(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def security_of(request: Request) -> Security:
    security: Security = request.app.state.security
    return security


def sentence(text: str) -> str:
    text = text.strip()
    if not text:
        return ""
    return text[:1].upper() + text[1:] + ("" if text.endswith((".", "?", "!")) else ".")


def render(request: Request, template: str, status: int = 200, /, **context: Any) -> HTMLResponse:
    sec = security_of(request)
    env: Environment = request.app.state.templates
    token, fresh = sec.csrf(request)
    body = env.get_template(template).render(csrf=token, **context)
    response = HTMLResponse(body, status_code=status, headers={"cache-control": "no-store"})
    if fresh is not None:
        sec.set_cookie(response, sec.csrf_cookie, fresh, 24 * 3600)
    return response


def error(request: Request, status: int, message: str, hint: str = "", back: str = "") -> Response:
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
        message=sentence(message),
        hint=hint,
        back=back,
    )
    if status == 429:
        response.headers["retry-after"] = "60"
    return response


def failed(request: Request, exc: AfterwordError, back: str = "") -> Response:
    return error(request, status_of(exc), exc.message, exc.hint, back)


def lowercase_id(request: Request, switch_id: str) -> Response | None:
    """A page's address with its switch id typed in another case (from a paper card, by
    hand): a redirect to the same page under the id as afterword writes it; else None."""
    normal = normalize_switch_id(switch_id)
    if normal == switch_id:
        return None
    path = request.url.path.replace(f"/{switch_id}", f"/{normal}", 1)
    query = f"?{request.url.query}" if request.url.query else ""
    return RedirectResponse(path + query, status_code=308)


def check_id(switch_id: str) -> str:
    if not is_switch_id(switch_id):
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
    if not security_of(request).csrf_ok(request, form.get(CSRF_FIELD)):
        return error(request, 403, CSRF_MESSAGE, CSRF_HINT)
    return form


def text_field(form: FormData, name: str, limit: int = 1024) -> str:
    value = form.get(name)
    return value[:limit] if isinstance(value, str) else ""
