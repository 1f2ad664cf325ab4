"""From a request body to texts, or to one JSON error.

Every error is ``{"error": {"status", "message", "field"?, "limit"?}}``:

- 400: the body is not valid JSON (or not UTF-8);
- 422: a field is missing, unknown or of the wrong type (``field`` names it);
- 413: too large a body, too many texts or too many characters (``limit`` says
  the limit, ``message`` the value found).
"""

from __future__ import annotations

import json
from typing import Any, AsyncIterator, Dict, List, Optional, Tuple, Union

from fastapi.responses import JSONResponse
from pydantic import ValidationError

from .schemas import Limits, NERRequest

RequestId = Optional[Union[str, int]]


class RequestError(Exception):
    """A request that gets an error answer instead of entities."""

    def __init__(
        self, status: int, message: str, field: Optional[str] = None, limit: Optional[int] = None
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.field, self.limit = status, message, field, limit

    def response(self) -> JSONResponse:
        return error(self.status, self.message, self.field, self.limit)


def error(
    status: int, message: str, field: Optional[str] = None, limit: Optional[int] = None
) -> JSONResponse:
    body: Dict[str, Any] = {"status": status, "message": message}
    if field is not None:
        body["field"] = field
    if limit is not None:
        body["limit"] = limit
    return JSONResponse({"error": body}, status_code=status)


def field_name(loc: tuple) -> str:
    """("texts", 3) -> "texts[3]"; ("id", "str") -> "id" (a union member); () -> "body"."""
    if not loc or not isinstance(loc[0], str):
        return "body"
    out = loc[0]
    for part in loc[1:]:
        if not isinstance(part, int):
            break  # the fields are flat: a later name is the member of a union that failed
        out += f"[{part}]"
    return out


def validation_error(err: ValidationError) -> RequestError:
    problems = err.errors(include_url=False)
    by_field: Dict[str, List[str]] = {}
    for p in problems:
        by_field.setdefault(field_name(tuple(p["loc"])), []).append(p["msg"])
    msgs = "; ".join(
        f"{name}: {' or '.join(dict.fromkeys(found))}" for name, found in list(by_field.items())[:5]
    )
    return RequestError(422, f"Invalid request: {msgs}.", field=next(iter(by_field)))


async def read_body(chunks: AsyncIterator[bytes], declared: Optional[str], limit: int) -> bytes:
    """The body, refused (413) as soon as it is over ``limit`` bytes, by its Content-Length
    (``declared``) or while reading when there is none."""
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(int(declared), limit)
    parts, size = [], 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise _too_large(size, limit)
        parts.append(chunk)
    return b"".join(parts)


def _too_large(size: int, limit: int) -> RequestError:
    return RequestError(
        413,
        f"The request body has {size} bytes; at most {limit} are accepted. "
        "Send fewer or shorter texts per request.",
        limit=limit,
    )


def parse_ner_request(body: bytes, limits: Limits) -> Tuple[List[str], RequestId]:
    """The texts and id of a ``POST /v1/ner`` body; a ``RequestError`` for anything else."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as err:
        raise RequestError(
            400, f'The body is not valid JSON: {err}. Send a JSON object such as {{"text": "..."}}.'
        ) from None
    try:
        req = NERRequest.model_validate(data)
    except ValidationError as err:
        raise validation_error(err) from None
    texts = [req.text] if req.text is not None else req.texts
    if len(texts) > limits.max_texts:
        raise RequestError(
            413,
            f"The request has {len(texts)} texts; at most {limits.max_texts} are accepted per request.",
            field="texts",
            limit=limits.max_texts,
        )
    n_chars = sum(map(len, texts))
    if n_chars > limits.max_chars:
        raise RequestError(
            413,
            f"The request has {n_chars} characters; at most {limits.max_chars} are accepted per request.",
            field="text" if req.text is not None else "texts",
            limit=limits.max_chars,
        )
    return texts, req.id
