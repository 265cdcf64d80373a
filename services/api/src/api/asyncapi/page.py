"""The AsyncAPI document as one self-contained HTML page: no script, font or style from elsewhere."""

from __future__ import annotations

import json
from html import escape
from typing import Any

_STYLE = "".join(
    (
        'body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;',
        "color:#1d2330;background:#f6f7f9}",
        "header{background:#14321f;color:#fff;padding:1.2rem 2rem}",
        "header p{max-width:60rem;opacity:.9;white-space:pre-line}",
        "main{padding:1rem 2rem;max-width:72rem}",
        "section{background:#fff;border:1px solid #dde1e6;border-radius:8px;margin:1rem 0;",
        "padding:1rem 1.4rem}",
        "h2{margin:.2rem 0;font-family:ui-monospace,monospace;font-size:1.2rem}",
        ".who{color:#4a5565;margin:.3rem 0}",
        ".tag{display:inline-block;background:#e7f3ea;color:#14321f;border-radius:4px;",
        "padding:0 .4rem;margin:0 .2rem;font-family:ui-monospace,monospace;font-size:.85rem}",
        ".sub{background:#e8eefc;color:#1c3b7a}",
        "table{border-collapse:collapse;width:100%;font-size:.9rem;margin:.4rem 0}",
        "td,th{border-top:1px solid #eceff3;padding:.25rem .5rem;text-align:left;vertical-align:top}",
        "th{background:#fafbfc}",
        "code{font-family:ui-monospace,monospace}",
        ".req{color:#b42318}",
        "details{margin:.3rem 0}",
        "summary{cursor:pointer;font-weight:600}",
        "nav a{margin-right:.8rem}",
    )
)


def _resolve(schema: dict[str, Any], schemas: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
        resolved: dict[str, Any] = schemas.get(ref.rsplit("/", 1)[1], {})
        return resolved
    return schema


def _type_of(schema: dict[str, Any], schemas: dict[str, Any]) -> str:
    if "$ref" in schema:
        return str(schema["$ref"]).rsplit("/", 1)[1]
    for union in ("anyOf", "oneOf"):
        if union in schema:
            return " | ".join(_type_of(option, schemas) for option in schema[union])
    kind = str(schema.get("type", "object"))
    if kind == "array":
        return f"array of {_type_of(schema.get('items', {}), schemas)}"
    if "const" in schema:
        return f"{kind} = {json.dumps(schema['const'])}"
    if "enum" in schema:
        return f"{kind}: " + ", ".join(json.dumps(value) for value in schema["enum"])
    if "format" in schema:
        return f"{kind} ({schema['format']})"
    return kind


def _nested(schema: dict[str, Any], schemas: dict[str, Any]) -> list[dict[str, Any]]:
    """The object schemas a property refers to (shown below it)."""
    found: list[dict[str, Any]] = []
    options = [schema, *schema.get("anyOf", []), *schema.get("oneOf", []), schema.get("items", {})]
    for option in options:
        if isinstance(option, dict) and "$ref" in option:
            target = _resolve(option, schemas)
            if target.get("properties"):
                found.append({"name": option["$ref"].rsplit("/", 1)[1], **target})
    return found


def _properties(schema: dict[str, Any], schemas: dict[str, Any], depth: int = 0) -> str:
    schema = _resolve(schema, schemas)
    if "oneOf" in schema:
        parts = []
        for option in schema["oneOf"]:
            name = option.get("$ref", "").rsplit("/", 1)[-1]
            body = _properties(option, schemas, depth)
            parts.append(f"<details open><summary>{escape(name)}</summary>{body}</details>")
        by = schema.get("discriminator")
        head = f"<p>One of these, told apart by <code>{escape(str(by))}</code>:</p>" if by else ""
        return head + "".join(parts)
    required = set(schema.get("required", []))
    rows = []
    nested = []
    for name, spec in schema.get("properties", {}).items():
        mark = ' <span class="req">required</span>' if name in required else ""
        description = spec.get("description") or _resolve(spec, schemas).get("description", "")
        rows.append(
            f"<tr><td><code>{escape(name)}</code>{mark}</td>"
            f"<td><code>{escape(_type_of(spec, schemas))}</code></td>"
            f"<td>{escape(str(description))}</td></tr>"
        )
        if depth < 3:
            nested += _nested(spec, schemas)
    table = "<table><tr><th>Field</th><th>Type</th><th>Description</th></tr>" + "".join(rows) + "</table>"
    inner = "".join(
        f"<details><summary><code>{escape(item['name'])}</code></summary>"
        f"{_properties(item, schemas, depth + 1)}</details>"
        for item in {item["name"]: item for item in nested}.values()
    )
    return table + inner


def render_page(document: dict[str, Any]) -> str:
    """The document as HTML, topic by topic: who publishes, who consumes, key, headers, payload."""
    info = document.get("info", {})
    channels: dict[str, Any] = document.get("channels", {})
    operations: dict[str, Any] = document.get("operations", {})
    components = document.get("components", {})
    messages: dict[str, Any] = components.get("messages", {})
    schemas: dict[str, Any] = components.get("schemas", {})
    by_address: dict[str, dict[str, list[str]]] = {}
    example_message: dict[str, dict[str, Any]] = {}
    for name, channel in channels.items():
        address = channel.get("address", name)
        entry = by_address.setdefault(address, {"send": [], "receive": []})
        action = operations.get(name, {}).get("action", "receive")
        entry[action].append(name.rsplit(":", 2)[0] if action == "send" else name.split(":", 1)[0])
        for reference in channel.get("messages", {}).values():
            message = messages.get(reference.get("$ref", "").rsplit("/", 1)[-1])
            if message is not None:
                example_message.setdefault(address, message)
    sections = []
    for address in sorted(by_address):
        who = by_address[address]
        message = example_message.get(address, {})
        key = message.get("bindings", {}).get("kafka", {}).get("key", {}).get("description", "")
        producers = "".join(
            f'<span class="tag">{escape(name.split(":")[0])}</span>' for name in sorted(who["send"])
        )
        consumers = "".join(f'<span class="tag sub">{escape(name)}</span>' for name in sorted(who["receive"]))
        headers = message.get("headers", {}).get("properties", {})
        header_rows = "".join(
            f"<tr><td><code>{escape(name)}</code></td><td>{escape(spec.get('description', ''))}</td></tr>"
            for name, spec in headers.items()
        )
        sections.append(
            f'<section id="{escape(address)}"><h2>{escape(address)}</h2>'
            f'<p class="who">Published by {producers or "—"} · consumed by {consumers or "—"}</p>'
            f"<p><b>Key:</b> {escape(key)}</p>"
            f"<details><summary>Headers</summary><table>{header_rows}</table></details>"
            f"<h3>Payload</h3>{_properties(message.get('payload', {}), schemas)}</section>"
        )
    nav = "".join(
        f'<a href="#{escape(address)}"><code>{escape(address)}</code></a>' for address in sorted(by_address)
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(info.get('title', 'AsyncAPI'))}</title><style>{_STYLE}</style></head><body>"
        f"<header><h1>{escape(info.get('title', ''))} <small>AsyncAPI {escape(document.get('asyncapi', ''))}"
        f"</small></h1><p>{escape(info.get('description', ''))}</p>"
        '<p><a style="color:#fff" href="/asyncapi.json">The document as JSON</a></p></header>'
        f"<main><nav>{nav}</nav>{''.join(sections)}</main></body></html>"
    )
