"""JSON in and out of the admin and self-service endpoints: typed bodies, uniform errors.

Errors are ``{"error": {"type": ..., "message": ..., "code": ...}}``; request bodies are
parsed into pydantic models at the edge, so handlers see typed values or a 400.
"""

from __future__ import annotations

from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response

from engine.errors import GatewayError
from engine.state.errors import Conflict, InvalidInput, NotFound, StateError

M = TypeVar("M", bound=BaseModel)


class HttpProblem(Exception):
    def __init__(self, status: int, kind: str, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.kind, self.message, self.code = status, kind, message, code


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json", headers=headers)


def error_response(
    status: int, kind: str, message: str, code: str | None = None, headers: dict[str, str] | None = None
) -> Response:
    body: dict[str, Any] = {"type": kind, "message": message}
    if code is not None:
        body["code"] = code
    return json_response({"error": body}, status, headers)


def problem_response(exc: Exception) -> Response | None:
    """The JSON error for a known exception, or None to let it propagate."""
    if isinstance(exc, HttpProblem):
        return error_response(exc.status, exc.kind, exc.message, exc.code)
    if isinstance(exc, GatewayError):
        return error_response(exc.status, exc.kind, exc.message, exc.code, exc.headers)
    if isinstance(exc, NotFound):
        return error_response(404, "not_found", str(exc))
    if isinstance(exc, Conflict):
        return error_response(409, "conflict", str(exc))
    if isinstance(exc, InvalidInput | ValueError):
        return error_response(400, "invalid_request", str(exc))
    if isinstance(exc, StateError):
        return error_response(500, "internal", str(exc))
    return None


async def read_body(request: Request, model: type[M]) -> M:
    raw = await request.body()
    try:
        return model.model_validate_json(raw or b"{}")
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc']) or 'body'}: {error['msg']}" for error in exc.errors()
        )
        raise HttpProblem(400, "invalid_request", f"invalid request body: {problems}") from None
