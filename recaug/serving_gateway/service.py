"""The recommendation service behind the gateway: user context -> Triton -> re-rank.

Every dependency call has a deadline: a feature lookup runs on a worker thread that the
request stops waiting for after `features_timeout_s`, Triton calls use tritonclient's
connect/read timeouts. A missed deadline or refused connection becomes `Unavailable`
(HTTP 503), never a hung request.
"""

from __future__ import annotations

import concurrent.futures
import logging
import threading
import time
from typing import TYPE_CHECKING, Callable, Literal

from pydantic import BaseModel

from recaug import io
from recaug.errors import RecaugError
from recaug.serving_gateway.ranking import mmr, popular_items

if TYPE_CHECKING:
    from recaug.settings import Settings

log = logging.getLogger(__name__)


class Unavailable(RecaugError):
    """A dependency (Triton or the feature store) failed or timed out."""

    def __init__(self, service: str, detail: str):
        super().__init__(f"{service} unavailable: {detail}")
        self.service = service


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
                 triton_url: Callable[[], str] | None = None):
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
        self._triton_url = triton_url or (lambda: resolve_triton_url(settings))
        self._local = threading.local()
        self._lookups = concurrent.futures.ThreadPoolExecutor(max_workers=16, thread_name_prefix="features")
        log.info("gateway: %s (%d items, top-%d), %d popular items for cold start",
                 artifact_dir, len(self.vocab) - 1, self.top_k, len(self.popular))

    # -- dependencies -----------------------------------------------------------------
    def _features(self, function, *args):
        future = self._lookups.submit(function, *args, self.settings)
        try:
            return future.result(timeout=self.config.features_timeout_s)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise Unavailable("feature store", f"no answer within {self.config.features_timeout_s:g} s") from None
        except Exception as exc:  # any store error (missing registry, DB locked, Redis down) is a 503
            raise Unavailable("feature store", f"{type(exc).__name__}: {exc}") from exc

    def _client(self):
        """One tritonclient per thread (the HTTP client is not thread-safe)."""
        import tritonclient.http as http

        url = self._triton_url()
        client = getattr(self._local, "client", None)
        if client is None or self._local.url != url:
            timeout = self.config.triton_timeout_s
            client = http.InferenceServerClient(url, connection_timeout=timeout, network_timeout=timeout)
            self._local.client, self._local.url = client, url
        return client

    def _infer(self, history: list[int], timestamps: list[int], now: int):
        import numpy as np
        import tritonclient.http as http

        arrays = {"history": np.asarray([history], dtype=np.int64), "timestamps": np.asarray([timestamps], dtype=np.int64),
                  "now": np.asarray([[now]], dtype=np.int64)}
        inputs = []
        for name, value in arrays.items():
            tensor = http.InferInput(name, list(value.shape), "INT64")
            tensor.set_data_from_numpy(value)
            inputs.append(tensor)
        outputs = [http.InferRequestedOutput("top_ids"), http.InferRequestedOutput("top_scores")]
        try:
            result = self._client().infer(self.model_name, inputs, outputs=outputs)
        except Exception as exc:  # refused, timeout, model not loaded: the gateway answers 503
            self._local.client = None
            raise Unavailable("triton", f"{type(exc).__name__}: {str(exc)[:300]}") from exc
        version = result.get_response().get("model_version")
        return result.as_numpy("top_ids")[0], result.as_numpy("top_scores")[0], version

    # -- requests ---------------------------------------------------------------------
    def recommend(self, user_id: str, k: int, diversity: float = 0.0, now: int | None = None,
                  timings: dict[str, float] | None = None) -> Recommendation:
        """`timings` (if given) receives seconds spent per dependency: context, triton, items."""
        from recaug.features.online import get_user_context

        timings = {} if timings is None else timings
        now = int(time.time()) if now is None else now
        started = time.perf_counter()
        context = self._features(get_user_context, [user_id])[0]
        timings["context"] = time.perf_counter() - started
        seen = set(context.history_item_ids)
        pairs = [(self.index[i], int(t)) for i, t in zip(context.history_item_ids, context.history_timestamps)
                 if i in self.index]
        if not pairs:
            candidates = [(item, score) for item, score in self.popular if item not in seen]
            return self._answer(user_id, "popular", None, candidates, k, diversity, timings)
        started = time.perf_counter()
        ids, scores, version = self._infer([p[0] for p in pairs], [p[1] for p in pairs], now)
        timings["triton"] = time.perf_counter() - started
        candidates = []
        for index, score in zip(ids.tolist(), scores.tolist()):
            item = self.vocab[index] if 0 < index < len(self.vocab) else None
            if item is not None and item not in seen and score > float("-inf"):
                candidates.append((item, float(score)))
        return self._answer(user_id, "model", version, candidates, k, diversity, timings)

    def _answer(self, user_id, source, version, candidates, k, diversity, timings) -> Recommendation:
        from recaug.features.online import get_items

        pool = candidates[: max(k, self.config.mmr_candidates or self.top_k)] if diversity > 0 else candidates[:k]
        started = time.perf_counter()
        infos = self._features(get_items, [item for item, _ in pool]) if pool else []
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
    def readiness(self) -> dict[str, str]:
        """'ok' or the problem, per dependency."""
        from recaug.features.online import get_user_context

        checks = {}
        try:
            ready = self._client().is_model_ready(self.model_name)
            checks["triton"] = "ok" if ready else f"model {self.model_name} is not ready"
        except Exception as exc:  # unreachable
            self._local.client = None
            checks["triton"] = f"{type(exc).__name__}: {str(exc)[:200]}"
        try:
            self._features(get_user_context, ["__readiness_probe__"])
            checks["feature_store"] = "ok"
        except Unavailable as exc:
            checks["feature_store"] = str(exc)
        return checks

    def close(self) -> None:
        self._lookups.shutdown(wait=False, cancel_futures=True)


def resolve_triton_url(settings: "Settings") -> str:
    """HTTP address of the configured target (a local server's port comes from its state file)."""
    target = settings.deploy.target
    if target.type == "remote":
        return target.url
    from recaug.deploy.server import LocalTritonServer

    state = LocalTritonServer.from_settings(settings).read_state()
    if state is None:
        raise Unavailable("triton", "the local Triton server is not running (`recaug serve triton start`)")
    return state.http_url
