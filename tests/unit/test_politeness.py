"""The worker's connection bounds: global, per host, and the per-host delay."""

import asyncio
import itertools
import time

from archivers.net.politeness import HostGate, PolitenessSettings


def run_requests(gate: HostGate, hosts: list[str], hold: float = 0.02):
    """Fire one request per entry of ``hosts``; return (peak overall, peak per host, starts)."""
    open_now: dict[str, int] = {}
    peaks = {"all": 0}
    starts: dict[str, list[float]] = {}

    async def one(host: str) -> None:
        async with gate.slot(host):
            starts.setdefault(host, []).append(time.monotonic())
            open_now[host] = open_now.get(host, 0) + 1
            peaks["all"] = max(peaks["all"], sum(open_now.values()))
            peaks[host] = max(peaks.get(host, 0), open_now[host])
            await asyncio.sleep(hold)
            open_now[host] -= 1

    async def main() -> None:
        await asyncio.gather(*(one(host) for host in hosts))

    asyncio.run(main())
    return peaks, starts


def test_one_host_never_gets_more_than_its_share():
    gate = HostGate(PolitenessSettings(total=64, per_host=3))
    peaks, starts = run_requests(gate, ["a.example"] * 12)
    assert peaks["a.example"] == 3
    assert len(starts["a.example"]) == 12  # all served, none lost


def test_the_global_bound_holds_over_many_hosts():
    gate = HostGate(PolitenessSettings(total=5, per_host=8))
    peaks, _ = run_requests(gate, [f"h{i}.example" for i in range(20)])
    assert peaks["all"] == 5


def test_a_busy_host_does_not_starve_the_others():
    # 10 requests queue for one slow host; another host's request still runs
    # alongside them because waiting for a host slot holds no global slot.
    gate = HostGate(PolitenessSettings(total=2, per_host=1))
    peaks, starts = run_requests(gate, ["slow.example"] * 10 + ["other.example"])
    assert peaks["all"] == 2
    assert starts["other.example"][0] < sorted(starts["slow.example"])[1]


def test_requests_to_one_host_start_the_delay_apart():
    gate = HostGate(PolitenessSettings(total=64, per_host=8, host_delay=0.4))
    _, starts = run_requests(gate, ["a.example"] * 3 + ["b.example"] * 2, hold=0.0)
    for host in ("a.example", "b.example"):
        times = sorted(starts[host])
        gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
        assert all(gap >= 0.399 for gap in gaps), (host, gaps)
    # the delay is per host: b's first request did not wait for a's (a whole
    # delay of slack, so a busy machine cannot make this fail)
    assert min(starts["b.example"]) < sorted(starts["a.example"])[1]


def test_idle_hosts_are_forgotten():
    gate = HostGate(PolitenessSettings())
    run_requests(gate, [f"h{i}.example" for i in range(50)], hold=0.0)
    assert gate._hosts == {}


def test_a_gate_serves_one_event_loop_after_another():
    # a worker has one loop, but scripts and tests run asyncio.run more than once
    gate = HostGate(PolitenessSettings(total=1, per_host=1))
    for _ in range(2):
        peaks, _ = run_requests(gate, ["a.example"] * 3)
        assert peaks["a.example"] == 1
