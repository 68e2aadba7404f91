from recaug.serving_gateway.breaker import CircuitBreaker


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_a_failure_skips_the_dependency_until_the_cooldown_then_lets_one_probe_through():
    clock = Clock()
    breaker = CircuitBreaker("store", cooldown_s=1.0, clock=clock)
    assert breaker.allow() and not breaker.is_open
    breaker.failed("locked")
    assert breaker.is_open and not breaker.allow()
    clock.now += 1.0
    assert breaker.allow()  # the probe
    assert not breaker.allow()  # everyone else waits for its outcome
    breaker.succeeded()
    assert not breaker.is_open and breaker.allow() and breaker.allow()


def test_a_failed_probe_reopens_for_another_cooldown():
    clock = Clock()
    breaker = CircuitBreaker("store", cooldown_s=1.0, clock=clock)
    breaker.failed("locked")
    clock.now += 1.0
    assert breaker.allow()
    breaker.failed("still locked")
    clock.now += 0.5
    assert not breaker.allow()
    clock.now += 0.5
    assert breaker.allow()


def test_an_abandoned_probe_lets_the_next_request_probe():
    clock = Clock()
    breaker = CircuitBreaker("store", cooldown_s=0.0, clock=clock)
    breaker.failed("down")
    assert breaker.allow() and not breaker.allow()
    breaker.abandoned()
    assert breaker.allow()


def test_warns_when_it_opens_not_on_every_failure(caplog):
    breaker = CircuitBreaker("the feature store", cooldown_s=1.0, clock=Clock())
    with caplog.at_level("WARNING"):
        breaker.failed("database is locked")
        breaker.failed("database is locked")
    assert [r.getMessage() for r in caplog.records] == [
        "gateway: the feature store failed (database is locked); answering without it for 1 s, then trying again"]
