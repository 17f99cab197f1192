"""OpenAPI descriptions of the bodies and errors our routes read and answer themselves (they
read bodies within limits instead of letting FastAPI parse them, so FastAPI cannot infer
them)."""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]
BINARY: Schema = {"type": "string", "format": "binary"}


def obj(properties: dict[str, Schema], required: list[str] | None = None) -> Schema:
    """A JSON-schema object of ``properties``."""
    schema: Schema = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return schema


def request_body(**by_media_type: Schema) -> dict[str, Any]:
    """``openapi_extra`` for a required body, one schema per media type (``multipart``,
    ``json``, ``form``)."""
    names = {
        "multipart": "multipart/form-data",
        "json": "application/json",
        "form": "application/x-www-form-urlencoded",
    }
    content = {names[kind]: {"schema": schema} for kind, schema in by_media_type.items()}
    return {"requestBody": {"required": True, "content": content}}


def errors(
    described: dict[int, str], body: Schema | None = None
) -> dict[int | str, dict[str, Any]]:
    """``responses`` for error statuses, each with its description and, given, its body."""
    return {
        status: {"description": text}
        | ({"content": {"application/json": {"schema": body}}} if body else {})
        for status, text in described.items()
    }
