"""The API reference at /docs: every route of /openapi.json (method, path, summary, its
parameters, request body and responses), rendered on the server as one plain page.

FastAPI's own /docs (Swagger UI) runs a script from a CDN: the pages' CSP forbids both,
and afterword promises that no page loads anything from another site or needs
JavaScript. This page is built from the same OpenAPI document, so it lists exactly what
/openapi.json does and cannot fall out of step with it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from afterword.web.rendering import PageRoutes, render

router = PageRoutes()

METHODS = ("get", "post", "put", "patch", "delete")


@dataclass(frozen=True)
class Field:
    name: str
    where: str  # path, query, header, body
    type: str
    required: bool


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    summary: str
    description: str
    parameters: list[Field] = field(default_factory=list)
    body: list[tuple[str, str]] = field(default_factory=list)  # (content type, schema)
    body_fields: list[Field] = field(default_factory=list)
    responses: list[tuple[str, str, str]] = field(default_factory=list)  # status, type, schema

    @property
    def anchor(self) -> str:
        """``post-switches-switch-id-checkins``: the section's id, for links to it."""
        return re.sub(r"[^a-z0-9]+", "-", f"{self.method} {self.path}".lower()).strip("-")


def schema_name(schema: dict[str, Any] | None) -> str:
    """What a schema is called in words: its $ref's name, its title, or its type."""
    if not schema:
        return "any"
    if ref := schema.get("$ref"):
        return str(ref).rsplit("/", 1)[-1]
    if "items" in schema:
        return f"list of {schema_name(schema['items'])}"
    if "anyOf" in schema:
        return " or ".join(schema_name(s) for s in schema["anyOf"])
    if schema.get("format") == "binary" or "contentMediaType" in schema:  # 3.0, 3.1
        return "file"
    kind = str(schema.get("type", "any"))
    return "JSON object" if kind == "object" else kind


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    if ref := schema.get("$ref"):
        found: dict[str, Any] = spec.get("components", {}).get("schemas", {})
        return dict(found.get(str(ref).rsplit("/", 1)[-1], {}))
    return schema


def operations(spec: dict[str, Any]) -> list[Operation]:
    """Every operation of an OpenAPI document, in its order."""
    found = []
    for path, item in spec.get("paths", {}).items():
        for method in METHODS:
            op = item.get(method)
            if op is None:
                continue
            params = [
                Field(
                    p["name"],
                    p.get("in", ""),
                    schema_name(p.get("schema")),
                    bool(p.get("required")),
                )
                for p in op.get("parameters", [])
            ]
            content = op.get("requestBody", {}).get("content", {})
            body = [(kind, schema_name(media.get("schema"))) for kind, media in content.items()]
            body_fields = []
            for media in content.values():
                resolved = _resolve(spec, media.get("schema") or {})
                required = set(resolved.get("required", []))
                body_fields += [
                    Field(name, "body", schema_name(prop), name in required)
                    for name, prop in resolved.get("properties", {}).items()
                ]
            responses = [
                (status, kind, schema_name(media.get("schema") if media else None))
                for status, answer in op.get("responses", {}).items()
                for kind, media in (answer.get("content") or {"": {}}).items()
            ]
            found.append(
                Operation(
                    method.upper(),
                    path,
                    str(op.get("summary", "")),
                    str(op.get("description", "")).replace("``", "`"),
                    params,
                    body,
                    body_fields,
                    responses,
                )
            )
    return found


@router.get("/docs", response_class=HTMLResponse, include_in_schema=False)
def api_docs(request: Request) -> Response:
    spec = request.app.openapi()
    info = spec.get("info", {})
    return render(
        request,
        "docs.html",
        title=info.get("title", "afterword"),
        api_version=info.get("version", ""),
        openapi=spec.get("openapi", ""),
        operations=operations(spec),
    )
