"""The HTTP service behind ``nerkit serve`` (FastAPI on uvicorn).

Endpoints::

    POST /v1/ner     {"text": "..."} or {"texts": ["...", ...]}, optional "id"
                     -> {"id": ..., "results": [{"spans": [{start, end, type, text, score}]}]}
                     one result per text, in order; ``end`` is inclusive (CMeEE).
    GET  /health     {"status": "ok", queue and batch counters}
    GET  /v1/model   labels, nerkit version, backend, what the encoder's weights started
                     from, a summary of the model's config
    GET  /docs       OpenAPI documentation (FastAPI); /openapi.json the schema

Bad input never reaches the model and never stops the server: it gets a JSON error
(400, 413 or 422, see ``parsing.py``). Requests are answered through
``DynamicBatcher`` (``batcher.py``).
"""

from __future__ import annotations

import json
from contextlib import asynccontextmanager
from pathlib import Path
from typing import (
    Any,
    Awaitable,
    Callable,
    Dict,
    Iterable,
    Iterator,
    List,
    Optional,
    Protocol,
    Sequence,
)

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from ..about import __version__
from ..config import as_dict
from ..pipeline import Span
from .batcher import DynamicBatcher
from .parsing import RequestError, error, field_name, parse_ner_request, read_body
from .schemas import ERROR_RESPONSES, Limits, NERRequest, NERResponse


class Servable(Protocol):
    """What the service needs of a loaded model: ``nerkit.load``'s ``Pipeline`` (PyTorch),
    its ``OnnxPipeline``, or any pipeline offering the same (an ensemble of models)."""

    backend: str  # what runs the network: "torch", "onnx", ...
    path: Optional[Path]  # the model directory
    config: Any  # the model's config (a confection Config)

    @property
    def labels(self) -> Sequence[str]: ...

    def weights_origin(self) -> Dict[str, Any]: ...

    def pipe(
        self, texts: Iterable[str], batch_size: int = ..., max_tokens: Optional[int] = ...
    ) -> Iterator[List[Span]]: ...


def create_app(
    nlp: Servable,
    max_batch_size: int = 64,
    max_wait_ms: float = 5.0,
    limits: Limits = Limits(),
    window_batch_size: int = 64,
    max_tokens: Optional[int] = None,
) -> FastAPI:
    """The service for a loaded model; concurrent requests share ``nlp.pipe`` calls of at
    most ``max_batch_size`` texts (``window_batch_size`` windows, ``max_tokens`` positions
    per model call)."""

    def predict(texts: List[str]) -> List[bytes]:
        return encode_spans(nlp.pipe(texts, batch_size=window_batch_size, max_tokens=max_tokens))

    batcher: DynamicBatcher[bytes] = DynamicBatcher(predict, max_batch_size, max_wait_ms)

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
    add_error_handlers(app)
    app.state.answer_ner = ner_handler(batcher, limits)
    add_ner_route(app, app.state.answer_ner)
    settings = {"max_batch_size": max_batch_size, "max_wait_ms": max_wait_ms}
    add_info_routes(app, nlp, batcher, limits, settings)
    return app


def encode_spans(results: Iterable[List[Span]]) -> List[bytes]:
    """Each text's ``{"spans": [...]}`` as JSON bytes, encoded once (in the batch's worker
    thread) and joined into each answer as they are."""
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    return [
        dumps(
            {
                "spans": [
                    {"start": s[0], "end": s[1], "type": s[2], "text": s[3], "score": s[4]}
                    for s in spans
                ]
            }
        ).encode("utf-8")
        for spans in results
    ]


def ner_answer(request_id: Any, results: List[bytes]) -> Response:
    """``{"id": ..., "results": [...]}`` from the texts' encoded results."""
    head = b'{"id":' + json.dumps(request_id, ensure_ascii=False).encode("utf-8")
    body = head + b',"results":[' + b",".join(results) + b"]}"
    return Response(body, media_type="application/json")


def add_error_handlers(app: FastAPI) -> None:
    """Every error as ``{"error": {...}}``, whatever raised it."""

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = exc.errors()
        if not problems:
            return error(422, f"Invalid request: {exc}.", field="body")
        where = field_name(tuple(p for p in problems[0]["loc"] if p != "body"))
        return error(422, f"Invalid request: {problems[0]['msg']}.", field=where)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error(exc.status_code, str(exc.detail))

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> JSONResponse:
        return error(500, f"Internal error while predicting: {type(exc).__name__}: {exc}")


def ner_handler(
    batcher: DynamicBatcher[bytes], limits: Limits
) -> Callable[[Request], Awaitable[Response]]:
    """``POST /v1/ner``: read and check the body, queue its texts, answer with their spans."""

    async def answer(request: Request) -> Response:
        try:
            body = await read_body(
                request.stream(), request.headers.get("content-length"), limits.max_body_bytes
            )
            texts, request_id = parse_ner_request(body, limits)
        except RequestError as err:
            return err.response()
        except ClientDisconnect:  # gone before its body was complete: no one to answer
            return Response(status_code=400)
        try:
            results = await batcher.submit(texts)
        except RuntimeError as err:  # the batcher has stopped: the server is shutting down
            return error(503, str(err))
        # built here rather than by FastAPI from response_model (which documents the schema):
        # no re-validation of the answer, and each text's spans are encoded once, in ``predict``
        return ner_answer(request_id, results)

    return answer


def add_ner_route(app: FastAPI, answer: Callable[[Request], Awaitable[Response]]) -> None:
    """``POST /v1/ner`` in FastAPI, for the OpenAPI schema and any caller of the app itself
    (``fast_front`` answers it without FastAPI's layers when serving)."""
    schema = {"content": {"application/json": {"schema": NERRequest.model_json_schema()}}}

    @app.post(
        "/v1/ner",
        response_model=NERResponse,
        responses=ERROR_RESPONSES,
        openapi_extra={"requestBody": {"required": True, **schema}},
    )
    async def ner(request: Request) -> Any:
        """Entities of one text (`text`) or several (`texts`), batched with concurrent requests."""
        return await answer(request)


def fast_front(app: FastAPI) -> Callable[..., Awaitable[None]]:
    """The ASGI app ``nerkit serve`` runs: ``POST /v1/ner`` straight to its handler, everything
    else (lifespan, docs, the other routes, errors) to FastAPI. It skips FastAPI's middleware
    stack, routing and dependency solving on the one busy path: about 0.1 ms of CPU per
    request (docs/benchmarks/serving.md), which is a tenth of what a text costs in a batch of
    the quickstart model."""
    answer = app.state.answer_ner

    async def front(scope: Dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == "/v1/ner" and scope["method"] == "POST":
            try:
                response = await answer(Request(scope, receive))
            except Exception as exc:  # as the app's handler does: a JSON 500, the server lives on
                response = error(
                    500, f"Internal error while predicting: {type(exc).__name__}: {exc}"
                )
            await response(scope, receive, send)
        else:
            await app(scope, receive, send)

    return front


def add_info_routes(
    app: FastAPI,
    nlp: Servable,
    batcher: DynamicBatcher[bytes],
    limits: Limits,
    settings: Dict[str, Any],
) -> None:
    """``GET /health`` (queue and batch counters) and ``GET /v1/model`` (what is served)."""

    @app.get("/health")
    async def health() -> Dict[str, Any]:
        """Liveness, plus the queue and batch counters."""
        s = batcher.stats
        counters = ("in_flight", "requests", "texts", "batches", "largest_batch", "errors")
        return {"status": "ok", "queued": batcher.queued, **{k: getattr(s, k) for k in counters}}

    @app.get("/v1/model")
    async def model_info() -> Dict[str, Any]:
        """Labels, nerkit version, backend, the encoder's starting weights and the model's config summary."""
        return {
            "labels": list(nlp.labels),
            "nerkit_version": __version__,
            "backend": nlp.backend,
            "path": str(nlp.path) if nlp.path is not None else None,
            **settings,
            "limits": {
                "max_texts": limits.max_texts,
                "max_chars": limits.max_chars,
                "max_body_bytes": limits.max_body_bytes,
            },
            "weights": nlp.weights_origin(),
            "config": config_summary(nlp.config),
        }


# init-only arguments (see ``[initialize]``): their values in a model directory's config are
# the defaults filled in, not what the model was built from (``weights`` tells that)
INIT_ONLY = ("name_or_path", "pretrained")


def config_summary(config: Any) -> Dict[str, Any]:
    """The model section of the config: component names and scalar settings, one level deep."""
    model = as_dict(config).get("model", {})

    def summarise(node: Any) -> Any:
        if isinstance(node, dict):
            name = next((v for k, v in node.items() if k.startswith("@")), None)
            settings = {
                k: summarise(v)
                for k, v in node.items()
                if not k.startswith("@") and not (name and k in INIT_ONLY)
            }
            settings = {k: v for k, v in settings.items() if v is not None}
            return {"component": name, **settings} if name else settings
        if isinstance(node, (str, int, float, bool)) and not (
            isinstance(node, str) and len(node) > 200
        ):
            return node
        return None

    return summarise(model)
