"""What ``POST /v1/ner`` takes and answers: limits, request and response models.

The pydantic models document the API (``/docs``, ``/openapi.json``) and give the
422 messages; the request path checks the common shapes directly
(``parsing.parse_ner_request``) and builds answers as plain dicts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, model_validator


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


ERROR_RESPONSES: Dict[Union[int, str], Dict[str, Any]] = {  # for the OpenAPI schema
    400: {"model": ErrorResponse, "description": "The body is not valid JSON."},
    413: {"model": ErrorResponse, "description": "Too large a body, too many texts or characters."},
    422: {
        "model": ErrorResponse,
        "description": "A field is missing, unknown or of the wrong type.",
    },
    503: {"model": ErrorResponse, "description": "The server is shutting down."},
}
