from recaug.serving_gateway.metrics import GatewayMetrics
from recaug.serving_gateway.outcomes import SOURCES


def _series(text: str) -> dict[str, float]:
    return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
            if line and not line.startswith("#")}


def test_counts_answers_by_source_and_errors_by_code_in_prometheus_text():
    metrics = GatewayMetrics()
    metrics.answered("model", 0.003)
    metrics.answered("fallback:triton_unavailable", 0.0004)
    metrics.answered("fallback:triton_unavailable", 7.0)
    metrics.failed("triton_unavailable")
    metrics.live_version = 4
    series = _series(metrics.exposition())
    assert series['recaug_gateway_answers_total{source="model"}'] == 1
    assert series['recaug_gateway_answers_total{source="fallback:triton_unavailable"}'] == 2
    assert all(f'recaug_gateway_answers_total{{source="{s}"}}' in series for s in SOURCES)
    assert series['recaug_gateway_errors_total{code="triton_unavailable"}'] == 1
    assert series['recaug_gateway_errors_total{code="feature_store_unavailable"}'] == 0
    assert series["recaug_gateway_live_model_version"] == 4
    assert series['recaug_gateway_request_seconds_bucket{le="0.001"}'] == 1
    assert series['recaug_gateway_request_seconds_bucket{le="0.005"}'] == 2
    assert series['recaug_gateway_request_seconds_bucket{le="5.0"}'] == 2
    assert series['recaug_gateway_request_seconds_bucket{le="+Inf"}'] == 3
    assert series["recaug_gateway_request_seconds_count"] == 3


def test_two_gateways_in_one_process_keep_their_own_counts():
    first, second = GatewayMetrics(), GatewayMetrics()
    first.answered("model", 0.001)
    assert _series(second.exposition())['recaug_gateway_answers_total{source="model"}'] == 0


def test_fallback_warnings_are_rate_limited_with_the_count_since_the_last(caplog):
    now = [0.0]
    metrics = GatewayMetrics(warning_interval_s=5.0, clock=lambda: now[0])
    with caplog.at_level("WARNING"):
        metrics.fell_back("fallback:feature_store_unavailable", "database is locked")
        for _ in range(3):
            metrics.fell_back("fallback:feature_store_unavailable", "database is locked")
        now[0] = 5.0
        metrics.fell_back("fallback:feature_store_unavailable", "no answer within 2 s")
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2
    assert messages[0].startswith("gateway: answered 1 request(s) with popular items (fallback:feature_store_unavailable)")
    assert messages[1].startswith("gateway: answered 4 request(s)") and messages[1].endswith("no answer within 2 s")
