"""Post-processing of the OpenAPI document (drf-spectacular ``POSTPROCESSING_HOOKS``)."""

from __future__ import annotations

from typing import Any


def require_one_of_bodies(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """Mark a request body whose schema is a ``oneOf`` of components as required.

    drf-spectacular derives ``requestBody.required`` from a serializer's required fields, and a
    ``PolymorphicProxySerializer`` (the forecast submission: one alternative per payload kind)
    has none of its own, so an empty body would read as valid; every alternative requires
    fields, so the body is required.
    """
    schemas = result.get("components", {}).get("schemas", {})
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            body = operation.get("requestBody") if isinstance(operation, dict) else None
            if not body:
                continue
            for media in body.get("content", {}).values():
                ref = media.get("schema", {}).get("$ref", "")
                component = schemas.get(ref.rsplit("/", 1)[-1], {})
                if "oneOf" in component:
                    body["required"] = True
    return result
