"""The recommendation service behind the gateway: user context -> Triton -> re-rank.

Requests run on the event loop: Triton is called through one shared asyncio tritonclient
(gRPC when the target has a gRPC address, else HTTP), and feature lookups, which the
Feast SDK only offers blocking, run on a small thread pool. Every dependency call has a
deadline (`triton_timeout_s`, `features_timeout_s`); a missed deadline or refused
connection becomes `Unavailable` (HTTP 503), never a hung request.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import time
from typing import TYPE_CHECKING, Callable, Literal, NamedTuple

from pydantic import BaseModel

from recaug import io
from recaug.errors import RecaugError
from recaug.serving_gateway.item_cache import ItemCache
from recaug.serving_gateway.ranking import mmr, popular_items

if TYPE_CHECKING:
    from recaug.settings import Settings

log = logging.getLogger(__name__)


class Unavailable(RecaugError):
    """A dependency (Triton or the feature store) failed or timed out."""

    def __init__(self, service: str, detail: str):
        super().__init__(f"{service} unavailable: {detail}")
        self.service = service


class TritonEndpoint(NamedTuple):
    protocol: Literal["grpc", "http"]
    url: str


class RecommendedItem(BaseModel):
    item_id: str
    title: str | None
    score: float


class Recommendation(BaseModel):
    user_id: str
    source: Literal["model", "popular"]
    model_version: str | None = None
    items: list[RecommendedItem]


class RecommendationService:
    def __init__(self, settings: "Settings", artifact_dir: str | None = None,
                 triton_endpoint: Callable[[], TritonEndpoint] | None = None):
        from recaug.deploy.deploy import live_record
        from recaug.export.onnx import load_export

        self.settings = settings
        self.config = settings.deploy.gateway
        self.model_name = settings.deploy.model_name
        if artifact_dir is None:
            artifact_dir = self.config.artifact_dir
        if artifact_dir is None:
            record = live_record(settings)
            if record is None:
                raise RecaugError("no model deployed yet (no deploy record); deploy one or pass --artifact")
            artifact_dir = record.artifact_dir
        document = load_export(artifact_dir)
        self.top_k = int(document["top_k"])
        self.vocab: list[str | None] = io.read_json(io.join(artifact_dir, "item_vocab.json"))
        self.index = {item: i for i, item in enumerate(self.vocab) if item is not None}
        self.popular = popular_items(settings, self.config.popular_window_days)
        self.items = ItemCache(self.config.item_cache_ttl_s, self.config.item_cache_size)
        self._triton_endpoint = triton_endpoint or (lambda: resolve_triton_endpoint(settings))
        self._triton = None  # (endpoint, asyncio client), created on the event loop at first use
        self._lookups = concurrent.futures.ThreadPoolExecutor(max_workers=16, thread_name_prefix="features")
        log.info("gateway: %s (%d items, top-%d), %d popular items for cold start",
                 artifact_dir, len(self.vocab) - 1, self.top_k, len(self.popular))

    async def warm_up(self) -> None:
        """Open the online store and connect to Triton before the first request: the first
        open imports Feast and reads the registry (seconds, longer than a request may wait),
        the first call sets up the connection. Problems are logged here; requests report
        them as 503s, and cold-start users are served without either."""
        from recaug.features.online import ITEM_SERVICE, USER_SERVICE, online_reader

        def open_store():
            reader = online_reader(self.settings)
            reader.service(USER_SERVICE)
            reader.service(ITEM_SERVICE)

        try:
            await asyncio.get_running_loop().run_in_executor(self._lookups, open_store)
        except Exception as exc:  # reported per request
            log.warning("gateway: feature store not usable at start: %s: %s", type(exc).__name__, exc)
        for dependency, check in (await self.readiness()).items():
            if check != "ok":
                log.warning("gateway: %s not ready at start: %s", dependency, check)

    # -- dependencies -----------------------------------------------------------------
    async def _features(self, function, *args):
        future = self._lookups.submit(function, *args, self.settings)
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), self.config.features_timeout_s)
        except asyncio.TimeoutError:
            raise Unavailable("feature store", f"no answer within {self.config.features_timeout_s:g} s") from None
        except Exception as exc:  # any store error (missing registry, DB locked, Redis down) is a 503
            raise Unavailable("feature store", f"{type(exc).__name__}: {exc}") from exc

    def _client(self):
        """The shared asyncio tritonclient (one gRPC channel or HTTP connection pool)."""
        if self._triton is None:
            endpoint = self._triton_endpoint()
            if endpoint.protocol == "grpc":
                import tritonclient.grpc.aio as aio

                client = aio.InferenceServerClient(endpoint.url)
            else:
                import tritonclient.http.aio as aio

                client = aio.InferenceServerClient(endpoint.url, conn_timeout=self.config.triton_timeout_s)
            self._triton = (endpoint, client)
        return self._triton

    async def _follow_endpoint(self) -> None:
        """After a failed call: replace the client when Triton moved (a restarted local server
        listens on new ports). Otherwise keep it: a slow answer or a refused connection does not
        justify failing the other requests on it, and the connection reconnects by itself."""
        if self._triton is None:
            return
        try:
            endpoint = self._triton_endpoint()
        except Unavailable:  # the local server is not running: keep trying the old address
            return
        if endpoint != self._triton[0]:
            _, client = self._triton
            self._triton = None
            await client.close()

    async def _infer(self, history: list[int], timestamps: list[int], now: int):
        import numpy as np

        arrays = {"history": np.asarray([history], dtype=np.int64), "timestamps": np.asarray([timestamps], dtype=np.int64),
                  "now": np.asarray([[now]], dtype=np.int64)}
        try:
            endpoint, client = self._client()
            if endpoint.protocol == "grpc":
                import tritonclient.grpc as protocol
            else:
                import tritonclient.http as protocol
            inputs = []
            for name, value in arrays.items():
                tensor = protocol.InferInput(name, list(value.shape), "INT64")
                tensor.set_data_from_numpy(value)
                inputs.append(tensor)
            outputs = [protocol.InferRequestedOutput("top_ids"), protocol.InferRequestedOutput("top_scores")]
            result = await asyncio.wait_for(client.infer(self.model_name, inputs, outputs=outputs),
                                            self.config.triton_timeout_s)
        except Unavailable:
            raise
        except Exception as exc:  # refused, timeout, model not loaded: the gateway answers 503
            await self._follow_endpoint()
            detail = f"no answer within {self.config.triton_timeout_s:g} s" if isinstance(exc, asyncio.TimeoutError) \
                else f"{type(exc).__name__}: {str(exc)[:300]}"
            raise Unavailable("triton", detail) from exc
        response = result.get_response()
        version = response.model_version if endpoint.protocol == "grpc" else response.get("model_version")
        return result.as_numpy("top_ids")[0], result.as_numpy("top_scores")[0], version

    async def _item_infos(self, item_ids: list[str]) -> list:
        from recaug.features.online import get_items

        found, missing = self.items.get(item_ids)
        if missing:
            looked_up = await self._features(get_items, missing)
            self.items.put(looked_up)
            found.update((info.item_id, info) for info in looked_up)
        return [found[item_id] for item_id in item_ids]

    # -- requests ---------------------------------------------------------------------
    async def recommend(self, user_id: str, k: int, diversity: float = 0.0, now: int | None = None,
                        timings: dict[str, float] | None = None) -> Recommendation:
        """`timings` (if given) receives seconds spent per dependency: context, triton, items."""
        from recaug.features.online import get_user_context

        timings = {} if timings is None else timings
        now = int(time.time()) if now is None else now
        started = time.perf_counter()
        context = (await self._features(get_user_context, [user_id]))[0]
        timings["context"] = time.perf_counter() - started
        seen = set(context.history_item_ids)
        pairs = [(self.index[i], int(t)) for i, t in zip(context.history_item_ids, context.history_timestamps)
                 if i in self.index]
        if not pairs:
            candidates = [(item, score) for item, score in self.popular if item not in seen]
            return await self._answer(user_id, "popular", None, candidates, k, diversity, timings)
        started = time.perf_counter()
        ids, scores, version = await self._infer([p[0] for p in pairs], [p[1] for p in pairs], now)
        timings["triton"] = time.perf_counter() - started
        candidates = []
        for index, score in zip(ids.tolist(), scores.tolist()):
            item = self.vocab[index] if 0 < index < len(self.vocab) else None
            if item is not None and item not in seen and score > float("-inf"):
                candidates.append((item, float(score)))
        return await self._answer(user_id, "model", version, candidates, k, diversity, timings)

    async def _answer(self, user_id, source, version, candidates, k, diversity, timings) -> Recommendation:
        pool = candidates[: max(k, self.config.mmr_candidates or self.top_k)] if diversity > 0 else candidates[:k]
        started = time.perf_counter()
        infos = await self._item_infos([item for item, _ in pool]) if pool else []
        timings["items"] = time.perf_counter() - started
        if diversity > 0 and len(pool) > k:
            import numpy as np

            width = max((len(i.embedding) for i in infos if i.embedding), default=1)
            vectors = np.zeros((len(pool), width))
            for row, info in enumerate(infos):
                if info.embedding:
                    vectors[row] = info.embedding
            order = mmr([s for _, s in pool], vectors, k, diversity)
            pool, infos = [pool[i] for i in order], [infos[i] for i in order]
        items = [RecommendedItem(item_id=item, title=info.title, score=score)
                 for (item, score), info in zip(pool[:k], infos[:k])]
        return Recommendation(user_id=user_id, source=source, model_version=version, items=items)

    # -- health -----------------------------------------------------------------------
    async def readiness(self) -> dict[str, str]:
        """'ok' or the problem, per dependency."""
        from recaug.features.online import get_user_context

        checks = {}
        try:
            _, client = self._client()
            ready = await asyncio.wait_for(client.is_model_ready(self.model_name), self.config.triton_timeout_s)
            checks["triton"] = "ok" if ready else f"model {self.model_name} is not ready"
        except Unavailable as exc:
            checks["triton"] = str(exc)
        except Exception as exc:  # unreachable or silent
            await self._follow_endpoint()
            checks["triton"] = f"{type(exc).__name__}: {str(exc)[:200]}"
        try:
            await self._features(get_user_context, ["__readiness_probe__"])
            checks["feature_store"] = "ok"
        except Unavailable as exc:
            checks["feature_store"] = str(exc)
        return checks

    async def aclose(self) -> None:
        if self._triton is not None:
            await self._triton[1].close()
            self._triton = None
        self._lookups.shutdown(wait=False, cancel_futures=True)


def resolve_triton_endpoint(settings: "Settings") -> TritonEndpoint:
    """Where the gateway calls Triton: gRPC when the target has a gRPC address (cheaper per
    call than HTTP), else HTTP. A local server's ports come from its state file."""
    target = settings.deploy.target
    if target.type == "remote":
        return TritonEndpoint("grpc", target.grpc_url) if target.grpc_url else TritonEndpoint("http", target.url)
    from recaug.deploy.server import LocalTritonServer

    state = LocalTritonServer.from_settings(settings).read_state()
    if state is None:
        raise Unavailable("triton", "the local Triton server is not running (`recaug serve triton start`)")
    return TritonEndpoint("grpc", state.grpc_url)
