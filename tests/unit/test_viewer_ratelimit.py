"""The viewer's token buckets (viewer/ratelimit.py), on a clock of the test's own."""

from viewer.ratelimit import RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_then_one_token_per_interval():
    clock = Clock()
    limiter = RateLimiter(6, clock=clock)  # 6 a minute: one every 10 s, a burst of 6
    assert [limiter.take("a") for _ in range(6)] == [0.0] * 6
    assert limiter.take("a") == 10.0  # Retry-After: whole seconds until a token
    assert limiter.wait("a") == 10.0 and limiter.wait("b") == 0.0  # a look, nothing taken
    clock.now += 4
    assert limiter.take("a") == 6.0
    clock.now += 6
    assert limiter.take("a") == 0.0 and limiter.take("a") == 10.0


def test_every_bucket_must_have_a_token_and_a_refusal_takes_none():
    clock = Clock()
    limiter = RateLimiter(2, clock=clock)
    assert limiter.take(("ip", "x"), ("account", "anna")) == 0.0
    assert limiter.take(("ip", "x"), ("account", "anna")) == 0.0
    assert limiter.take(("ip", "y"), ("account", "anna")) > 0  # the account's is empty
    assert limiter.take(("ip", "x"), ("account", "bo")) > 0  # the address's is empty
    assert limiter.take(("ip", "y"), ("account", "bo")) == 0.0  # nothing was taken above


def test_the_number_of_buckets_is_bounded():
    clock = Clock()
    limiter = RateLimiter(60, clock=clock, max_keys=100)
    for n in range(1000):
        limiter.take(("ip", str(n)))
    assert len(limiter._buckets) <= 100
