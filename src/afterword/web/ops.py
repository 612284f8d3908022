"""The operator's endpoints: ``/healthz`` (on the public app and on the metrics listener)
and ``/metrics`` (only on the metrics listener, ``--metrics-address``).

``/healthz`` says in one line of text whether this process is well (200) or not (503):
the database answers, and the worker running in this process finished a pass lately
(see :func:`afterword.engine.metrics.health`). ``/metrics`` is Prometheus' text format,
through prometheus-client: counts and ages only, nothing of one switch or person.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.types import Message

from afterword import __version__
from afterword.engine import Engine
from afterword.engine.metrics import health, refused, registry
from afterword.web.security import ResponseStartHook


class CountRefusals(ResponseStartHook):
    """ASGI middleware counting every 4xx answer by kind (``afterword_refused_requests``),
    whichever part answered it: the API's errors, the pages' refusals, the size limit."""

    def started(self, message: Message) -> None:
        refused(int(message["status"]))


def add_health(app: FastAPI, engine: Engine) -> None:
    """``GET /healthz`` on ``app``, for ``engine``'s process."""

    def healthz() -> PlainTextResponse:  # (sync: FastAPI runs it off the event loop)
        ok, reason = health(engine.ctx)
        return PlainTextResponse(reason + "\n", status_code=200 if ok else 503)

    app.add_api_route("/healthz", healthz, methods=["GET"], include_in_schema=False)


def metrics_app(engine: Engine) -> FastAPI:
    """The metrics listener's app: ``/metrics`` and ``/healthz``, nothing else."""
    app = FastAPI(title="afterword metrics", version=__version__, docs_url=None,
                  redoc_url=None, openapi_url=None)  # fmt: skip
    scraped = registry(engine.ctx)

    def metrics() -> Response:  # (sync: the gauges' queries run off the event loop)
        return Response(generate_latest(scraped), media_type=CONTENT_TYPE_LATEST)

    app.add_api_route("/metrics", metrics, methods=["GET"])
    add_health(app, engine)
    return app
