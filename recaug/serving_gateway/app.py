"""The recommendation gateway (FastAPI): GET /recommend, POST /events, /healthz, /readyz, /metrics.

Run it with `recaug serve gateway --port P` (binds 127.0.0.1 by default), or under any
ASGI server with `uvicorn --factory recaug.serving_gateway.app:app_from_environment`.
"""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING

# Imported at module level: FastAPI resolves the endpoint annotations from these globals.
# (The CLI imports this module only when `recaug serve gateway` runs.)
from fastapi import FastAPI, HTTPException, Query, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

if TYPE_CHECKING:
    from recaug.serving_gateway.service import RecommendationService
    from recaug.settings import Settings

log = logging.getLogger(__name__)


def create_app(settings: "Settings", artifact_dir: str | None = None,
               service: "RecommendationService | None" = None) -> FastAPI:
    from recaug.privacy.masking import mask_field
    from recaug.serving_gateway.outcomes import NOTHING_TO_SERVE, error_body
    from recaug.serving_gateway.events_route import add_events_route, open_intake
    from recaug.serving_gateway.service import NothingToServe, Recommendation, RecommendationService

    holder: dict = {}

    @contextlib.asynccontextmanager
    async def lifespan(app):
        holder["service"] = service or await run_in_threadpool(RecommendationService, settings, artifact_dir)
        holder["events"] = await run_in_threadpool(open_intake, settings)
        await holder["service"].warm_up()
        try:
            yield
        finally:
            await holder["service"].aclose()
            if holder["events"] is not None:
                await run_in_threadpool(holder["events"].close)

    app = FastAPI(title="recaug recommendation gateway", lifespan=lifespan)
    add_events_route(app, lambda: holder["events"])

    @app.get("/recommend", response_model=Recommendation)
    async def recommend(
        response: Response,
        user_id: str = Query(..., min_length=1, max_length=256, description="the user to recommend for"),
        k: int = Query(settings.deploy.gateway.default_k, ge=1, description="number of items"),
        diversity: float | None = Query(None, ge=0.0, le=1.0, description="MMR trade-off: 0 = model order, 1 = most "
                                        "diverse; default: deploy.gateway.default_diversity, else the weight chosen "
                                        "on validation for the answering model"),
        explain: bool = Query(True, description="add each item's reasons (false: ids, titles and scores only)"),
    ):
        current = holder["service"]
        if k > current.top_k:
            raise HTTPException(422, detail=f"k={k} exceeds the model's top_k={current.top_k}")
        timings: dict[str, float] = {}
        try:
            answer = await current.recommend(user_id, k, diversity, timings=timings, explain=explain)
        except NothingToServe as exc:  # a dependency failed and there are no popular items to fall back on
            current.metrics.failed(NOTHING_TO_SERVE)
            log.error("gateway: 503 for user %s: %s", mask_field("user_id", user_id, settings.privacy.personal_fields), exc)
            return JSONResponse(error_body(exc.code), status_code=503)
        # per-dependency time, readable in browsers' dev tools and by load tests
        response.headers["X-Request-Id"] = answer.request_id
        response.headers["Server-Timing"] = ", ".join(f"{name};dur={value * 1e3:.3f}" for name, value in timings.items())
        return answer

    @app.get("/healthz")
    async def healthz():
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz():
        """Whether the live version is loaded in Triton and the feature store answers: "ok" or a
        stable error code per dependency (the detail is in the log)."""
        service = holder["service"]
        checks = await service.readiness()
        ready = all(value == "ok" for value in checks.values())
        served = service.live.served
        return JSONResponse({"ready": ready, "checks": checks, "model_version": str(served.version) if served else None},
                            status_code=200 if ready else 503)

    @app.get("/metrics")
    async def metrics():
        """Prometheus text format: answers by source, errors by code, live version, latency."""
        return Response(holder["service"].metrics.exposition(), media_type="text/plain; version=0.0.4; charset=utf-8")

    return app


def app_from_environment() -> FastAPI:
    """ASGI factory: settings from params.yaml and RECAUG_* variables."""
    from recaug.settings import load_settings

    return create_app(load_settings())
