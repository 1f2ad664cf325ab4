"""The HTTP service behind ``nerkit serve`` (FastAPI on uvicorn).

Endpoints::

    POST /v1/ner     {"text": "..."} or {"texts": ["...", ...]}, optional "id"
                     -> {"id": ..., "results": [{"spans": [{start, end, type, text, score}]}]}
                     one result per text, in order; ``end`` is inclusive (CMeEE).
    GET  /health     {"status": "ok", queue and batch counters}
    GET  /v1/model   labels, nerkit version, backend, a summary of the model's config
    GET  /docs       OpenAPI documentation (FastAPI); /openapi.json the schema

Bad input never reaches the model and never stops the server; every error is a
JSON object ``{"error": {"status", "message", "field"?, "limit"?}}``:

- 400: the body is not valid JSON (or not UTF-8);
- 422: a field is missing, unknown or of the wrong type (``field`` names it);
- 413: too large a body, too many texts or too many characters (``limit`` says
  the limit, ``message`` the value found).

Requests are answered through ``DynamicBatcher`` (``batcher.py``).
"""

from __future__ import annotations

import json
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Union

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..about import __version__
from .batcher import DynamicBatcher


@dataclass(frozen=True)
class Limits:
    """What one request may hold (413 beyond)."""

    max_texts: int = 256  # texts per request
    max_chars: int = 200_000  # characters over all texts of a request
    max_body_bytes: int = 2_000_000  # bytes of the request body


class NERRequest(BaseModel):
    """Exactly one of ``text`` and ``texts``."""

    model_config = ConfigDict(extra="forbid", strict=True)

    text: Optional[str] = Field(None, description="One text.")
    texts: Optional[List[str]] = Field(None, description="Several texts, answered in order.")
    id: Optional[Union[str, int]] = Field(None, description="Echoed back in the answer.")

    @model_validator(mode="after")
    def _one_of(self) -> NERRequest:
        if (self.text is None) == (self.texts is None):
            raise ValueError(
                "give exactly one of `text` (a string) and `texts` (a list of strings)"
            )
        return self


class SpanOut(BaseModel):
    start: int = Field(description="First character (0-based).")
    end: int = Field(description="Last character, inclusive (as in CMeEE).")
    type: str = Field(description="Entity type, e.g. dis, sym.")
    text: str = Field(description="The entity's characters: text[start : end + 1].")
    score: float = Field(description="Confidence in [0, 1].")


class TextResult(BaseModel):
    spans: List[SpanOut]


class NERResponse(BaseModel):
    id: Optional[Union[str, int]] = None
    results: List[TextResult] = Field(description="One per input text, in input order.")


class ErrorBody(BaseModel):
    status: int
    message: str
    field: Optional[str] = None
    limit: Optional[int] = None


class ErrorResponse(BaseModel):
    error: ErrorBody


def error(
    status: int, message: str, field: Optional[str] = None, limit: Optional[int] = None
) -> JSONResponse:
    body: Dict[str, Any] = {"status": status, "message": message}
    if field is not None:
        body["field"] = field
    if limit is not None:
        body["limit"] = limit
    return JSONResponse({"error": body}, status_code=status)


def _field_name(loc: tuple) -> str:
    """("texts", 3) -> "texts[3]"; ("id", "str") -> "id" (a union member); () -> "body"."""
    if not loc or not isinstance(loc[0], str):
        return "body"
    out = loc[0]
    for part in loc[1:]:
        if not isinstance(part, int):
            break  # the fields are flat: a later name is the member of a union that failed
        out += f"[{part}]"
    return out


def validation_error(err: ValidationError) -> JSONResponse:
    problems = err.errors(include_url=False)
    fields = list(dict.fromkeys(_field_name(tuple(p["loc"])) for p in problems))
    msgs = "; ".join(
        f"{name}: {' or '.join(dict.fromkeys(p['msg'] for p in problems if _field_name(tuple(p['loc'])) == name))}"
        for name in fields[:5]
    )
    return error(422, f"Invalid request: {msgs}.", field=fields[0])


class _BodyTooLarge(Exception):
    pass


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _BodyTooLarge(int(declared))
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _BodyTooLarge(size)
        chunks.append(chunk)
    return b"".join(chunks)


def config_summary(nlp: Any) -> Dict[str, Any]:
    """The model section of the config: component names and scalar settings, one level deep."""
    from ..config import as_dict

    model = as_dict(nlp.config).get("model", {})

    def summarise(node: Any) -> Any:
        if isinstance(node, dict):
            name = next((v for k, v in node.items() if k.startswith("@")), None)
            settings = {k: summarise(v) for k, v in node.items() if not k.startswith("@")}
            settings = {k: v for k, v in settings.items() if v is not None}
            return {"component": name, **settings} if name else settings
        if isinstance(node, (str, int, float, bool)) and not (
            isinstance(node, str) and len(node) > 200
        ):
            return node
        return None

    return summarise(model)


def create_app(
    nlp: Any,
    max_batch_size: int = 64,
    max_wait_ms: float = 5.0,
    limits: Limits = Limits(),
    window_batch_size: int = 64,
    max_tokens: Optional[int] = None,
) -> FastAPI:
    """The service for a loaded ``Pipeline`` (torch or ONNX backend)."""

    def predict(texts: List[str]) -> List[List[Dict[str, Any]]]:
        return [
            [
                {"start": s.start, "end": s.end, "type": s.type, "text": s.text, "score": s.score}
                for s in spans
            ]
            for spans in nlp.pipe(texts, batch_size=window_batch_size, max_tokens=max_tokens)
        ]

    batcher: DynamicBatcher = DynamicBatcher(predict, max_batch_size, max_wait_ms)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await batcher.start()
        try:
            yield
        finally:
            await batcher.stop()  # answers everything still queued

    app = FastAPI(
        title="nerkit",
        version=__version__,
        description="Chinese medical named-entity recognition. Span `end` is inclusive.",
        lifespan=lifespan,
    )
    app.state.batcher = batcher
    app.state.limits = limits

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = exc.errors()
        field = (
            _field_name(tuple(p for p in problems[0]["loc"] if p != "body")) if problems else "body"
        )
        return error(
            422, f"Invalid request: {problems[0]['msg'] if problems else exc}.", field=field
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error(exc.status_code, str(exc.detail))

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> JSONResponse:
        return error(500, f"Internal error while predicting: {type(exc).__name__}: {exc}")

    errors = {
        400: {"model": ErrorResponse, "description": "The body is not valid JSON."},
        413: {
            "model": ErrorResponse,
            "description": "Too large a body, too many texts or characters.",
        },
        422: {
            "model": ErrorResponse,
            "description": "A field is missing, unknown or of the wrong type.",
        },
    }

    @app.post(
        "/v1/ner",
        response_model=NERResponse,
        responses=errors,
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": NERRequest.model_json_schema()}},
            }
        },
    )
    async def ner(request: Request) -> Any:
        """Entities of one text (`text`) or several (`texts`), batched with concurrent requests."""
        try:
            body = await _read_body(request, limits.max_body_bytes)
        except _BodyTooLarge as too:
            return error(
                413,
                f"The request body has {too.args[0]} bytes; at most {limits.max_body_bytes} are accepted. "
                "Send fewer or shorter texts per request.",
                limit=limits.max_body_bytes,
            )
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError) as err:
            return error(
                400,
                f'The body is not valid JSON: {err}. Send a JSON object such as {{"text": "..."}}.',
            )
        try:
            req = NERRequest.model_validate(data)
        except ValidationError as err:
            return validation_error(err)
        texts = [req.text] if req.text is not None else req.texts
        if len(texts) > limits.max_texts:
            return error(
                413,
                f"The request has {len(texts)} texts; at most {limits.max_texts} are accepted per request.",
                field="texts",
                limit=limits.max_texts,
            )
        n_chars = sum(map(len, texts))
        if n_chars > limits.max_chars:
            return error(
                413,
                f"The request has {n_chars} characters; at most {limits.max_chars} are accepted per request.",
                field="text" if req.text is not None else "texts",
                limit=limits.max_chars,
            )
        try:
            results = await batcher.submit(texts)
        except RuntimeError as err:
            return error(503, str(err))
        # a JSONResponse skips FastAPI's re-validation of the answer (the schema is documented
        # by response_model; the dicts are built to it in ``predict``)
        return JSONResponse({"id": req.id, "results": [{"spans": spans} for spans in results]})

    @app.get("/health")
    async def health() -> Dict[str, Any]:
        """Liveness, plus the queue and batch counters."""
        s = batcher.stats
        return {
            "status": "ok",
            "queued": batcher.queued,
            "in_flight": s.in_flight,
            "requests": s.requests,
            "texts": s.texts,
            "batches": s.batches,
            "largest_batch": s.largest_batch,
            "errors": s.errors,
        }

    @app.get("/v1/model")
    async def model_info() -> Dict[str, Any]:
        """Labels, nerkit version, backend and the model's config summary."""
        return {
            "labels": list(nlp.labels),
            "nerkit_version": __version__,
            "backend": nlp.backend,
            "path": str(nlp.path) if nlp.path is not None else None,
            "max_batch_size": max_batch_size,
            "max_wait_ms": max_wait_ms,
            "limits": {
                "max_texts": limits.max_texts,
                "max_chars": limits.max_chars,
                "max_body_bytes": limits.max_body_bytes,
            },
            "config": config_summary(nlp),
        }

    return app
