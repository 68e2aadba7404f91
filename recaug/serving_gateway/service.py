"""The recommendation service behind the gateway: user context -> Triton -> re-rank.

Requests run on the event loop: Triton is called through one shared asyncio tritonclient
(gRPC when the target has a gRPC address, else HTTP), and feature lookups, which the
Feast SDK only offers blocking, run on a small thread pool. Every dependency call has a
deadline (`triton_timeout_s`, `features_timeout_s`).

Every request is pinned to the live model version (recaug.serving_gateway.live_model):
its history is encoded with that version's vocabulary, Triton is asked for exactly that
version, and the answer is decoded with the same vocabulary only if Triton says that
version produced it. During an online experiment, users in the challenger's share are pinned
the same way to the challenger's version; every answer names its arm and a request id, which
events posted for it carry back. A version with a user tower also gets the user's declared
attributes (and profile embedding, when it reads one) encoded with its own codes; it answers
a user without history who declared some of them, who would otherwise get popular items.
When a dependency fails, the request is answered with popular items
and a `source` naming why (recaug.serving_gateway.outcomes); only when there is nothing
at all to serve does it fail, with a stable error code.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import logging
import time
import uuid
from typing import TYPE_CHECKING, Callable, Literal, NamedTuple

from pydantic import BaseModel, Field

from recaug import io
from recaug.serving_gateway import outcomes
from recaug.serving_gateway.breaker import CircuitBreaker
from recaug.serving_gateway.explain import Explainer, Reason
from recaug.serving_gateway.item_cache import ItemCache
from recaug.serving_gateway.live_model import LiveModel, Pinned, ServedModel
from recaug.serving_gateway.metrics import GatewayMetrics
from recaug.serving_gateway.outcomes import Unavailable
from recaug.serving_gateway.ranking import mmr, popular_items
from recaug.serving_gateway.segments import segment_popularity

if TYPE_CHECKING:
    from recaug.features.online import UserContext
    from recaug.settings import Settings

log = logging.getLogger(__name__)
VERSION_GONE_MARKER = "Request for unknown model"  # Triton's message when a model/version is not loaded


class TritonEndpoint(NamedTuple):
    protocol: Literal["grpc", "http"]
    url: str


class RecommendedItem(BaseModel):
    item_id: str
    title: str | None
    score: float
    description: str | None = Field(None, description="the LLM-written description, when there is one")
    reasons: list[Reason] = Field(default_factory=list, description="why it is recommended (recaug.serving_gateway.explain)")


class Recommendation(BaseModel):
    user_id: str
    source: outcomes.Source
    model_version: str | None = None
    items: list[RecommendedItem]
    request_id: str = Field("", description="identifies this answer; events about its items carry it back")
    arm: str | None = Field(None, description="experiment arm (champion or challenger); None without an experiment")


class NothingToServe(Unavailable):
    """A dependency failed and there is no fallback answer either (no popular items): HTTP 503."""


class RecommendationService:
    def __init__(self, settings: "Settings", artifact_dir: str | None = None,
                 triton_endpoint: Callable[[], TritonEndpoint] | None = None):
        self.settings = settings
        self.config = settings.deploy.gateway
        self.model_name = settings.deploy.model_name
        self.live = LiveModel(settings, artifact_dir or self.config.artifact_dir,
                              self.config.records_check_interval_s, self.config.vocabularies_kept)
        self.popular = popular_items(settings, self.config.popular_window_days)
        self.segments = segment_popularity(settings, self.config.popular_window_days, self.popular)
        self.popular_titles = _titles(settings, [item for item, _ in self.popular[: self.config.popular_titles_kept]])
        self.explainer = Explainer(self.popular, self.config.popular_window_days)
        self.items = ItemCache(self.config.item_cache_ttl_s, self.config.item_cache_size)
        self.metrics = GatewayMetrics(self.config.warning_interval_s)
        self.feature_store = CircuitBreaker("the feature store", self.config.breaker_cooldown_s)
        self.triton = CircuitBreaker("Triton", self.config.breaker_cooldown_s)
        self._triton_endpoint = triton_endpoint or (lambda: resolve_triton_endpoint(settings))
        self._triton = None  # (endpoint, asyncio client), created on the event loop at first use
        self._lookups = concurrent.futures.ThreadPoolExecutor(max_workers=16, thread_name_prefix="features")
        served = self.live.served
        log.info("gateway: %s, %d popular items for cold start and fallbacks, %s",
                 f"{self.model_name} version {served.version}" if served else f"no deployed {self.model_name} yet",
                 len(self.popular),
                 "no user segments (segment_combination off, or no curated users table)" if self.segments is None else
                 f"{len(self.segments.segments)} user segments with at least {self.config.segment_min_users} active "
                 f"users for cold users' answers ({self.config.segment_combination})")

    @property
    def top_k(self) -> int:
        """The largest k a request may ask for: the live version's top-K (popular items when none is live)."""
        served = self.live.served
        return served.top_k if served is not None else max(len(self.popular), 1)

    async def warm_up(self) -> None:
        """Open the online store and connect to Triton before the first request: the first
        open imports Feast and reads the registry (seconds, longer than a request may wait),
        the first call sets up the connection. Problems are logged here; requests fall back."""
        from recaug.features.online import ITEM_SERVICE, USER_SERVICE, online_reader

        def open_store():
            reader = online_reader(self.settings)
            reader.service(USER_SERVICE)
            reader.service(ITEM_SERVICE)

        try:
            await asyncio.get_running_loop().run_in_executor(self._lookups, open_store)
        except Exception as exc:  # requests fall back until it works
            log.warning("gateway: feature store not usable at start: %s: %s", type(exc).__name__, exc)
        await self.readiness()  # logs what is not ready

    # -- dependencies -----------------------------------------------------------------
    async def _features(self, function, *args):
        if not self.feature_store.allow():
            raise Unavailable(outcomes.FEATURE_STORE_UNAVAILABLE, "skipped: it failed moments ago")
        future = self._lookups.submit(function, *args, self.settings)
        try:
            result = await asyncio.wait_for(asyncio.wrap_future(future), self.config.features_timeout_s)
        except asyncio.CancelledError:
            self.feature_store.abandoned()
            raise
        except Exception as exc:  # timeout, DB locked, missing registry, Redis down
            detail = f"no answer within {self.config.features_timeout_s:g} s" \
                if isinstance(exc, asyncio.TimeoutError) else f"{type(exc).__name__}: {str(exc)[:300]}"
            self.feature_store.failed(detail)
            self.metrics.failed(outcomes.FEATURE_STORE_UNAVAILABLE)
            raise Unavailable(outcomes.FEATURE_STORE_UNAVAILABLE, detail) from exc
        self.feature_store.succeeded()
        return result

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

    async def _infer(self, model: ServedModel, history: list[int], timestamps: list[int], now: int,
                     users: dict | None = None):
        """top ids and scores of exactly `model.version`; VersionGone when Triton does not have it.
        `users`: the user tower's inputs of a version that has one."""
        import numpy as np

        from recaug.deploy.client import triton_dtype

        if not self.triton.allow():
            raise Unavailable(outcomes.TRITON_UNAVAILABLE, "skipped: it failed moments ago")
        arrays = {"history": np.asarray([history], dtype=np.int64), "timestamps": np.asarray([timestamps], dtype=np.int64),
                  "now": np.asarray([[now]], dtype=np.int64), **(users or {})}
        try:
            endpoint, client = self._client()
            protocol = _protocol(endpoint.protocol)
            inputs = []
            for name, value in arrays.items():
                tensor = protocol.InferInput(name, list(value.shape), triton_dtype(value))
                tensor.set_data_from_numpy(value)
                inputs.append(tensor)
            outputs = [protocol.InferRequestedOutput("top_ids"), protocol.InferRequestedOutput("top_scores")]
            result = await asyncio.wait_for(
                client.infer(self.model_name, inputs, model_version=str(model.version), outputs=outputs),
                self.config.triton_timeout_s)
        except asyncio.CancelledError:
            self.triton.abandoned()
            raise
        except Unavailable as exc:  # the local server's state file is gone: it is not running
            self.triton.failed(exc.detail)
            self.metrics.failed(outcomes.TRITON_UNAVAILABLE)
            raise
        except Exception as exc:
            if VERSION_GONE_MARKER in str(exc):  # Triton answers; the pinned version is not loaded
                self.triton.succeeded()
                raise VersionGone(outcomes.MODEL_UNAVAILABLE, f"version {model.version}: {str(exc)[:300]}") from exc
            await self._follow_endpoint()
            detail = f"no answer within {self.config.triton_timeout_s:g} s" if isinstance(exc, asyncio.TimeoutError) \
                else f"{type(exc).__name__}: {str(exc)[:300]}"
            self.triton.failed(detail)
            self.metrics.failed(outcomes.TRITON_UNAVAILABLE)
            raise Unavailable(outcomes.TRITON_UNAVAILABLE, detail) from exc
        self.triton.succeeded()
        response = result.get_response()
        answered = response.model_version if endpoint.protocol == "grpc" else response.get("model_version")
        if str(answered) != str(model.version):  # never decode one version's ids with another's vocabulary
            self.metrics.failed(outcomes.MODEL_UNAVAILABLE)
            raise Unavailable(outcomes.MODEL_UNAVAILABLE,
                              f"asked for version {model.version}, Triton answered with version {answered!r}")
        return result.as_numpy("top_ids")[0], result.as_numpy("top_scores")[0]

    async def _infer_live(self, context: "UserContext", now: int, pin: "UserPin"):
        """(model, ids, scores) from the version pinned for the user (the live one, or the
        challenger); when Triton no longer has it, look at the records again and retry once with
        the version they name for this user (`pin` follows). A user without history the version
        knows gets (model, None, None) unless its user tower reads something the user declared."""
        model = pin.model
        if not context.history_item_ids and (model is None or not model.describes(context)):
            return model, None, None
        for attempt in (1, 2):
            if model is None:
                raise Unavailable(outcomes.MODEL_UNAVAILABLE, f"no deployed version of {self.model_name}")
            history, timestamps = model.encode(context.history_item_ids, context.history_timestamps)
            if not history:
                if not model.describes(context):
                    return model, None, None
                history, timestamps = [0], [0]  # an all-padding history: the user tower alone answers
            try:
                ids, scores = await self._infer(model, history, timestamps, now, model.user_inputs(context))
                return model, ids, scores
            except VersionGone as gone:
                pin.follow(await self.live.refresh())
                refreshed = pin.model
                if attempt == 2 or refreshed is None or refreshed.version == model.version:
                    self.metrics.failed(outcomes.MODEL_UNAVAILABLE)
                    raise Unavailable(outcomes.MODEL_UNAVAILABLE, gone.detail) from None
                model = refreshed
        raise AssertionError("unreachable")

    async def _item_infos(self, item_ids: list[str]) -> list:
        from recaug.features.online import get_items

        found, missing = self.items.get(item_ids)
        if missing:
            looked_up = await self._features(get_items, missing)
            self.items.put(looked_up)
            found.update((info.item_id, info) for info in looked_up)
        return [found[item_id] for item_id in item_ids]

    # -- requests ---------------------------------------------------------------------
    async def recommend(self, user_id: str, k: int, diversity: float | None = None, now: int | None = None,
                        timings: dict[str, float] | None = None, explain: bool = True) -> Recommendation:
        """`timings` (if given) receives seconds spent per dependency: context, triton, items
        (and explain); `diversity` None: the configured default, else the answering version's
        chosen weight; `explain` fills each item's reasons."""
        started = time.perf_counter()
        pin = UserPin(user_id, self.live.current_pinned())
        answer = await self._recommend(user_id, k, diversity, int(time.time()) if now is None else now,
                                       {} if timings is None else timings, pin, explain)
        answer.request_id, answer.arm = uuid.uuid4().hex, pin.arm
        self.metrics.answered(answer.source, time.perf_counter() - started)
        served = self.live.served
        self.metrics.live_version = served.version if served else 0
        return answer

    async def _recommend(self, user_id: str, k: int, diversity: float | None, now: int,
                         timings: dict[str, float], pin: "UserPin", explain: bool) -> Recommendation:
        from recaug.features.online import get_user_context

        started = time.perf_counter()
        lookup = functools.partial(get_user_context, with_profile=True) \
            if pin.model is not None and pin.model.reads_profile else get_user_context
        try:
            context = (await self._features(lookup, [user_id]))[0]
        except Unavailable as exc:
            return self._explained_popular(self._fallback(user_id, exc, set(), k), explain)
        finally:
            timings["context"] = time.perf_counter() - started
        seen = set(context.history_item_ids)
        started = time.perf_counter()
        try:
            model, ids, scores = await self._infer_live(context, now, pin)
        except Unavailable as exc:
            return self._explained_popular(self._fallback(user_id, exc, seen, k), explain)
        finally:
            timings["triton"] = time.perf_counter() - started
        if diversity is None:
            diversity = self.config.default_diversity if self.config.default_diversity is not None else (
                model.diversity if model is not None else 0.0)
        if ids is None:  # no history this version knows: cold start, by segment when the user declared attributes
            ranking = self.segments.ranking(context.attributes) \
                if self.segments is not None and context.attributes else None
            candidates = [(item, score) for item, score in (ranking.items if ranking else self.popular)
                          if item not in seen]
            source = outcomes.SEGMENT_POPULAR if ranking else outcomes.POPULAR
            answer = await self._answer(user_id, source, None, candidates, k, diversity, timings)
            if ranking is None:
                return self._explained_popular(answer, explain)
            if explain:
                self.explainer.segment_answer(answer.items, ranking)
            return answer
        candidates = []
        for index, score in zip(ids.tolist(), scores.tolist()):
            item = model.decode(index)
            if item is not None and item not in seen and score > float("-inf"):
                candidates.append((item, float(score)))
        answer = await self._answer(user_id, outcomes.MODEL, str(model.version), candidates, k, diversity, timings)
        if explain:
            started = time.perf_counter()
            await self.explainer.model_answer(answer.items, model, context.history_item_ids, self._item_infos,
                                              model.describes(context))
            timings["explain"] = time.perf_counter() - started
        return answer

    def _explained_popular(self, answer: Recommendation, explain: bool) -> Recommendation:
        if explain:
            self.explainer.popular_answer(answer.items, None if answer.source == outcomes.POPULAR else answer.source)
        return answer

    def _fallback(self, user_id: str, problem: Unavailable, seen: set[str], k: int) -> Recommendation:
        """Popular unseen items, titled from the item cache or the lake, without calling the
        failing dependency (or any other) again; raises NothingToServe without popular items."""
        source = outcomes.FALLBACK_FOR[problem.code]
        if not self.popular:
            raise NothingToServe(problem.code, problem.detail)
        self.metrics.fell_back(source, problem.detail)
        chosen = [(item, score) for item, score in self.popular if item not in seen][:k]
        cached, _ = self.items.get([item for item, _ in chosen])
        items = [RecommendedItem(item_id=item, score=score,
                                 title=cached[item].title if item in cached else self.popular_titles.get(item),
                                 description=cached[item].description if item in cached else None)
                 for item, score in chosen]
        return Recommendation(user_id=user_id, source=source, model_version=None, items=items)

    async def _answer(self, user_id, source, version, candidates, k, diversity, timings) -> Recommendation:
        pool = candidates[: max(k, self.config.mmr_candidates or self.top_k)] if diversity > 0 else candidates[:k]
        started = time.perf_counter()
        try:
            infos = await self._item_infos([item for item, _ in pool]) if pool else []
        except Unavailable:  # the ranking stands; only titles (and diversity) are missing
            cached, _ = self.items.get([item for item, _ in pool])
            return Recommendation(user_id=user_id, source=source, model_version=version, items=[
                RecommendedItem(item_id=item, score=score,
                                title=cached[item].title if item in cached else self.popular_titles.get(item),
                                description=cached[item].description if item in cached else None)
                for item, score in pool[:k]])
        finally:
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
        items = [RecommendedItem(item_id=item, title=info.title, score=score, description=info.description)
                 for (item, score), info in zip(pool[:k], infos[:k])]
        return Recommendation(user_id=user_id, source=source, model_version=version, items=items)

    # -- health -----------------------------------------------------------------------
    async def readiness(self) -> dict[str, str]:
        """'ok' or a stable error code per dependency; the detail goes to the log."""
        from recaug.features.online import get_user_context

        checks = {"triton": "ok", "feature_store": "ok"}
        served = self.live.current()
        try:
            if served is None:
                raise Unavailable(outcomes.MODEL_UNAVAILABLE, f"no deployed version of {self.model_name}")
            _, client = self._client()
            ready = await asyncio.wait_for(client.is_model_ready(self.model_name, str(served.version)),
                                           self.config.triton_timeout_s)
            if not ready:
                raise Unavailable(outcomes.MODEL_UNAVAILABLE, f"version {served.version} is not ready in Triton")
        except Unavailable as exc:
            checks["triton"] = exc.code
            log.warning("gateway: not ready: %s", exc)
        except Exception as exc:  # unreachable or silent
            await self._follow_endpoint()
            checks["triton"] = outcomes.TRITON_UNAVAILABLE
            log.warning("gateway: not ready: Triton: %s: %s", type(exc).__name__, str(exc)[:300])
        try:
            future = self._lookups.submit(get_user_context, ["__readiness_probe__"], self.settings)
            await asyncio.wait_for(asyncio.wrap_future(future), self.config.features_timeout_s)
        except Exception as exc:  # any store problem means not ready
            checks["feature_store"] = outcomes.FEATURE_STORE_UNAVAILABLE
            log.warning("gateway: not ready: feature store: %s: %s", type(exc).__name__, str(exc)[:300])
        return checks

    async def aclose(self) -> None:
        if self._triton is not None:
            await self._triton[1].close()
            self._triton = None
        self._lookups.shutdown(wait=False, cancel_futures=True)
        self.live.close()


class UserPin:
    """The arm and version one request is pinned to; follows a re-read of the records."""

    def __init__(self, user_id: str, pinned: Pinned):
        self.user_id = user_id
        self.follow(pinned)

    def follow(self, pinned: Pinned) -> None:
        self.arm, self.model = pinned.for_user(self.user_id)


class VersionGone(Unavailable):
    """Triton answered, but the pinned version is not loaded (unloaded by a deploy, or pruned)."""


def _protocol(kind: str):
    if kind == "grpc":
        import tritonclient.grpc as protocol
    else:
        import tritonclient.http as protocol
    return protocol


def _titles(settings: "Settings", item_ids: list[str]) -> dict[str, str]:
    """Titles of `item_ids` from the lake's item table, for answers served without the feature store."""
    if not item_ids or not io.exists(settings.lake.items):
        return {}
    items = io.read_parquet(settings.lake.items, columns=["item_id", "title"])
    wanted = set(item_ids)
    return {str(i): str(t) for i, t in zip(items["item_id"], items["title"]) if str(i) in wanted and t is not None}


def resolve_triton_endpoint(settings: "Settings") -> TritonEndpoint:
    """Where the gateway calls Triton: gRPC when the target has a gRPC address (cheaper per
    call than HTTP), else HTTP. A local server's ports come from its state file."""
    target = settings.deploy.target
    if target.type == "remote":
        return TritonEndpoint("grpc", target.grpc_url) if target.grpc_url else TritonEndpoint("http", target.url)
    from recaug.deploy.server import LocalTritonServer

    state = LocalTritonServer.from_settings(settings).read_state()
    if state is None:
        raise Unavailable(outcomes.TRITON_UNAVAILABLE, "the local Triton server is not running "
                          "(`recaug serve triton start`)")
    return TritonEndpoint("grpc", state.grpc_url)
