"""The API reference at `/docs`, drawn on the server from the OpenAPI document.

Swagger UI and ReDoc load their scripts from a public CDN, which a plant network may not
reach and which the service's Content-Security-Policy forbids; this page is plain HTML
with the dashboard's stylesheet. Tools read `/openapi.json` itself.
"""

from __future__ import annotations

from html import escape
from typing import Any

_METHODS = ("get", "post", "put", "patch", "delete")


def _schema_name(schema: dict[str, Any]) -> str:
    ref = schema.get("$ref")
    if isinstance(ref, str):
        return ref.rsplit("/", 1)[-1]
    if schema.get("type") == "array" and isinstance(schema.get("items"), dict):
        return f"list of {_schema_name(schema['items'])}"
    if "anyOf" in schema:
        return " or ".join(_schema_name(s) for s in schema["anyOf"] if isinstance(s, dict))
    return str(schema.get("type", "object"))


def _operation(method: str, path: str, op: dict[str, Any]) -> str:
    out = [
        f"<section class='panel' id='{escape(op.get('operationId', path))}'>",
        f"<h3><code>{method.upper()} {escape(path)}</code></h3>",
        f"<p><strong>{escape(op.get('summary', ''))}</strong></p>",
    ]
    if op.get("description"):
        out.append(f"<p>{escape(op['description'])}</p>")
    params = op.get("parameters", [])
    if params:
        out.append("<table><tr><th>parameter</th><th>in</th><th>type</th><th>what</th></tr>")
        for p in params:
            req = " (required)" if p.get("required") else ""
            out.append(
                f"<tr><td><code>{escape(p['name'])}</code>{req}</td><td>{escape(p['in'])}</td>"
                f"<td>{escape(_schema_name(p.get('schema', {})))}</td>"
                f"<td>{escape(p.get('description', ''))}</td></tr>"
            )
        out.append("</table>")
    body = op.get("requestBody", {}).get("content", {})
    for media, spec in body.items():
        out.append(
            f"<p>body: <code>{escape(media)}</code> — "
            f"{escape(_schema_name(spec.get('schema', {})))}</p>"
        )
    out.append("<table><tr><th>status</th><th>answer</th></tr>")
    for status, r in sorted(op.get("responses", {}).items()):
        out.append(f"<tr><td>{escape(status)}</td><td>{escape(r.get('description', ''))}</td></tr>")
    out.append("</table></section>")
    return "\n".join(out)


def reference_page(doc: dict[str, Any]) -> str:
    """The reference as one HTML page: each operation with its parameters and answers."""
    info = doc.get("info", {})
    ops = [
        (op.get("tags", ["other"])[0], m, path, op)
        for path, item in doc.get("paths", {}).items()
        for m, op in item.items()
        if m in _METHODS
    ]
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{escape(info.get('title', 'API'))} — API reference</title>",
        "<link rel='stylesheet' href='/static/app.css'></head><body><main>",
        f"<h1>{escape(info.get('title', 'API'))} {escape(str(info.get('version', '')))}"
        " — API reference · 接口文档</h1>",
        f"<p>{escape(info.get('summary', ''))}</p><p>{escape(info.get('description', ''))}</p>",
        "<p>The machine-readable document: <a href='/openapi.json'>/openapi.json</a>.</p>",
    ]
    for tag in sorted({t for t, *_ in ops}):
        parts.append(f"<h2>{escape(tag)}</h2>")
        parts += [_operation(m, path, op) for t, m, path, op in ops if t == tag]
    parts.append("</main></body></html>")
    return "\n".join(parts)
