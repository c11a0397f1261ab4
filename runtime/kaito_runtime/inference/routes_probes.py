"""Routes that never touch the model: ``GET /``, ``GET /health`` and Prometheus ``GET /metrics``."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from .state import ServerState


def probe_router(state: ServerState) -> APIRouter:
    router = APIRouter()

    @router.get("/")
    async def root() -> dict[str, str]:
        return {"message": "Server is running"}

    @router.get("/health")
    async def health() -> Response:
        if state.engine is None:
            return JSONResponse({"status": "Loading"}, status_code=503, headers={"Retry-After": "5"})
        return JSONResponse({"status": "Healthy"})

    @router.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return router
