"""``warcflow.supervisor``: restarts, giving up, draining — with fake children on a
fake clock (the real processes: tests/integration/test_worker_processes.py)."""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

from tests.support.stack import poll
from warcflow import exitcodes
from warcflow.supervisor import (
    Supervisor,
    backoff,
    child_argv,
    child_ready_line,
    describe,
    metrics_of,
    process_spawner,
)


@dataclass
class FakeChild:
    """A child that exits ``drain`` seconds after a SIGTERM (None: never), at once
    on a second one or on SIGKILL."""

    pid: int
    clock: Callable[[], float]
    drain: float | None = 0.0
    code: int | None = None
    signals: list[int] = field(default_factory=list)
    exit_at: float | None = None

    def poll(self) -> int | None:
        if self.code is None and self.exit_at is not None and self.clock() >= self.exit_at:
            self.code = 0
        return self.code

    def send_signal(self, sig: int) -> None:
        self.signals.append(sig)
        if sig == signal.SIGKILL or self.signals.count(signal.SIGTERM) > 1:
            self.code = -sig if sig == signal.SIGKILL else 1
        elif sig == signal.SIGTERM and self.drain is not None and self.exit_at is None:
            self.exit_at = self.clock() + self.drain  # another signal (SIGUSR1) changes nothing


class Harness:
    """A supervisor on a fake clock; ``at[t]`` runs once the clock reaches ``t``;
    ``ready_after`` seconds after each spawn the child says it is ready."""

    def __init__(
        self, count: int, *, ready_after: float | dict[int, float] | None = 0.0, **child: object
    ) -> None:
        self.now = 0.0
        self.said: list[tuple[float, str]] = []
        self.children: list[tuple[int, FakeChild]] = []
        self.at: dict[float, Callable[[], None]] = {}
        self.pending: list[tuple[float, Callable[[], None]]] = []
        self.ready_after = ready_after
        self.child = child
        self.supervisor = Supervisor(
            count,
            self.spawn,
            stop_seconds=30.0,
            clock=lambda: self.now,
            tick=0.1,
            sleep=self.sleep,
            announce=lambda text: self.said.append((round(self.now, 1), text)),
        )

    def spawn(self, index: int, ready: Callable[[], None]) -> FakeChild:
        child = FakeChild(1000 + len(self.children), lambda: self.now, **self.child)  # type: ignore[arg-type]
        self.children.append((index, child))
        after = self.ready_after
        if isinstance(after, dict):
            after = after.get(index)
        if after is not None:
            self.pending.append((self.now + after, ready))
        return child

    def sleep(self, seconds: float) -> None:
        assert self.now < 600, "the supervisor never returned"
        self.now += seconds
        for due, action in list(self.pending):
            if self.now >= due:
                self.pending.remove((due, action))
                action()
        for t in sorted(self.at):
            if self.now >= t:
                self.at.pop(t)()

    def of(self, index: int) -> list[FakeChild]:
        return [child for i, child in self.children if i == index]

    def text(self) -> str:
        return "\n".join(text for _t, text in self.said)


def test_a_crashed_child_is_restarted_after_a_backoff_and_its_exit_is_logged():
    h = Harness(2)

    def crash() -> None:
        h.of(1)[0].code = -signal.SIGKILL

    h.at[5.0] = crash
    h.at[20.0] = h.supervisor.stop
    assert h.supervisor.run() == exitcodes.OK
    first, second = h.of(1)
    assert len(h.of(0)) == 1 and second.pid != first.pid
    crashed = [t for t, text in h.said if "exited with signal SIGKILL" in text]
    restarted = [t for t, text in h.said if f"started again: pid {second.pid}" in text]
    assert crashed and restarted and 0.9 <= restarted[0] - crashed[0] <= 1.2
    assert f"worker process 1 (pid {first.pid}) exited with signal SIGKILL" in h.text()
    assert "restarting it in 1 s" in h.text()
    # the stop reached the children running then, once each
    assert h.of(0)[0].signals == [signal.SIGTERM] and second.signals == [signal.SIGTERM]
    assert first.signals == []


def test_the_backoff_doubles_up_to_thirty_seconds():
    assert [backoff(n) for n in (1, 2, 3, 4, 5, 6, 7)] == [1, 2, 4, 8, 16, 30, 30]


def test_worker_ready_is_said_once_every_child_is_ready():
    h = Harness(3, ready_after={0: 1.0, 1: 3.0, 2: 2.0})
    h.at[10.0] = h.supervisor.stop
    h.supervisor.run()
    ready = [(t, text) for t, text in h.said if "worker ready" in text]
    assert len(ready) == 1
    t, text = ready[0]
    assert 3.0 <= t <= 3.2
    assert text == "worker ready: 3 processes, pids 1000, 1001, 1002"


def test_a_child_that_keeps_exiting_before_it_is_ready_makes_it_give_up():
    h = Harness(2, ready_after=None)
    original = h.spawn

    def spawn(index: int, ready: Callable[[], None]) -> FakeChild:
        child = original(index, ready)
        if index == 0:
            child.code = exitcodes.USAGE  # bad settings: exits at once, every time
        else:
            ready()
        return child

    h.supervisor.spawn = spawn
    assert h.supervisor.run() == exitcodes.USAGE
    assert len(h.of(0)) == 3
    assert "giving up" in h.text() and "exit code 2, 3 times in a row" in h.text()
    assert "worker ready" not in h.text()
    assert h.of(1)[0].signals == [signal.SIGTERM]  # the healthy one was drained
    assert h.now < 10  # 1 s then 2 s of backoff, not forever


def test_a_child_that_crashes_after_being_ready_is_restarted_without_end():
    h = Harness(1)
    for n in range(6):
        h.at[5.0 + 40 * n] = lambda: h.of(0)[-1].__setattr__("code", 1)
    h.at[300.0] = h.supervisor.stop
    assert h.supervisor.run() == exitcodes.OK
    assert len(h.of(0)) == 7 and "giving up" not in h.text()


def test_sigterm_is_forwarded_and_the_supervisor_waits_for_the_drain():
    h = Harness(2, drain=4.0)
    h.at[2.0] = h.supervisor.stop
    assert h.supervisor.run() == exitcodes.OK
    assert 6.0 <= h.now <= 6.3  # returned when the slower drain ended, not before
    assert all(child.signals == [signal.SIGTERM] for _i, child in h.children)
    assert "stopping: 2 worker process(es) told to drain" in h.text()


def test_a_second_signal_is_forwarded_and_the_children_exit_at_once():
    h = Harness(2, drain=None)  # would drain forever
    h.at[1.0] = h.supervisor.stop
    h.at[3.0] = h.supervisor.stop
    assert h.supervisor.run() == exitcodes.FAILED  # they exited 1: not drained
    assert 3.0 <= h.now <= 3.2
    assert all(child.signals == [signal.SIGTERM] * 2 for _i, child in h.children)


def test_a_child_still_there_after_the_stop_time_is_killed():
    h = Harness(1, drain=None)
    h.at[1.0] = h.supervisor.stop
    assert h.supervisor.run() == exitcodes.FAILED
    assert h.of(0)[0].signals == [signal.SIGTERM, signal.SIGKILL]
    assert 31.0 <= h.now <= 31.3
    assert "still running after 30 s; killed" in h.text()


def test_a_child_stopped_before_it_installed_its_handlers_counts_as_drained():
    h = Harness(1, drain=None, ready_after=None)
    h.at[0.5] = h.supervisor.stop
    h.at[0.7] = lambda: h.of(0)[0].__setattr__("code", -signal.SIGTERM)
    assert h.supervisor.run() == exitcodes.OK


def test_exit_statuses_in_words():
    assert describe(3) == "exit code 3"
    assert describe(-9) == "signal SIGKILL"


def test_children_run_the_same_command_as_one_process_with_their_own_metrics_port():
    assert metrics_of("127.0.0.1:9464", 2) == "127.0.0.1:9466"
    assert metrics_of("[::1]:9000", 1) == "[::1]:9001"
    assert metrics_of("", 3) == ""
    argv = child_argv(["--home", "/h", "worker", "--processes", "4"], 1, "127.0.0.1:9465")
    assert argv[:3] == [sys.executable, "-m", "warcflow"]
    assert argv[3:] == [
        *["--home", "/h", "worker", "--processes", "4"],
        *["--processes", "1", "--child", "1", "--metrics", "127.0.0.1:9465"],
    ]
    assert "--metrics" not in child_argv(["worker"], 0, "")


def test_a_real_child_runs_in_its_own_process_group_and_its_output_is_relayed(capfd):
    import os
    import threading

    seen = threading.Event()
    script = (
        "import signal, sys\n"
        "signal.signal(signal.SIGTERM, lambda *a: (print('draining'), sys.exit(0)))\n"
        "print('starting')\n"
        f"print('x: {child_ready_line(1)}: 2 partitions', flush=True)\n"
        "signal.pause()\n"
    )
    spawn = process_spawner(lambda i: [sys.executable, "-c", script])
    child = spawn(1, seen.set)
    assert seen.wait(30), "the ready line was not seen"
    # a terminal's Ctrl-C to the supervisor's group does not reach it
    assert os.getpgid(child.pid) == child.pid != os.getpgid(0)
    child.send_signal(signal.SIGTERM)
    # it counts as exited only once its output is all relayed
    poll(lambda: child.poll() is not None, timeout=30, what="the child to exit")
    assert child.poll() == 0
    out = capfd.readouterr().err
    assert "[worker 1] starting\n" in out
    assert f"[worker 1] x: {child_ready_line(1)}: 2 partitions\n" in out
    assert "[worker 1] draining\n" in out
    assert "worker ready" not in out


def test_processes_are_one_per_core_by_default_but_no_more_than_the_partitions(monkeypatch):
    import argparse

    from warcflow.commands import worker
    from warcflow.commands.worker import processes
    from warcflow.settings import load_settings

    monkeypatch.setattr(worker, "usable_cores", lambda: 8)
    unset = argparse.Namespace(processes=None)
    assert processes(unset, load_settings({"WARCFLOW_PARTITIONS": "4"})) == 4
    assert processes(unset, load_settings({"WARCFLOW_PARTITIONS": "16"})) == 8
    assert processes(unset, load_settings({"WARCFLOW_WORKER_PROCESSES": "3"})) == 3
    given = argparse.Namespace(processes=1)
    assert processes(given, load_settings({"WARCFLOW_WORKER_PROCESSES": "3"})) == 1


def test_one_per_core_means_the_cores_a_container_is_given(tmp_path):
    from warcflow.commands.worker import usable_cores

    limit = tmp_path / "cpu.max"
    limit.write_text("max 100000\n")
    unlimited = usable_cores(limit)
    assert unlimited >= 1
    limit.write_text("150000 100000\n")  # `cpus: 1.5`
    assert usable_cores(limit) == min(unlimited, 2)
    limit.write_text("50000 100000\n")
    assert usable_cores(limit) == 1
    assert usable_cores(tmp_path / "absent") == unlimited


def test_warcflow_down_waits_for_the_supervisor_which_waits_for_the_drain(tmp_path, monkeypatch):
    """SIGKILL never cuts a drain short: the supervisor waits the drain time and two
    offset commits, and `warcflow down` waits longer than the supervisor."""
    import argparse

    from streams.app import COMMIT_TIMEOUT
    from warcflow import supervisor
    from warcflow.commands import services
    from warcflow.settings import load_settings

    assert supervisor.stop_seconds(20.0) >= 20.0 + 2 * COMMIT_TIMEOUT + 10
    settings = load_settings({"WARCFLOW_HOME": str(tmp_path), "WARCFLOW_WORKER_DRAIN": "45"})
    waited: dict[str, float] = {}

    class Recorded:
        def __init__(self, name: str) -> None:
            self.name = name

        def stop(self, timeout: float = 20.0) -> bool:
            waited[self.name] = timeout
            return False

    class NoStack:
        def __init__(self, services_settings) -> None:
            pass

        def down(self) -> list[str]:
            return []

    monkeypatch.setattr(services, "agent_process", lambda _settings, name: Recorded(name))
    monkeypatch.setattr(services, "LocalStack", NoStack)
    assert services.down(argparse.Namespace(json=True), settings) == 0
    assert waited["worker"] > supervisor.stop_seconds(45.0) > 45.0


def test_sigusr1_to_the_supervisor_is_passed_on_to_every_child():
    """`kill -USR1` of the worker's pid (the supervisor's) asks each process for
    its stack dump, instead of ending the supervisor."""
    harness = Harness(2)
    harness.at[1.0] = lambda: harness.supervisor.forward(signal.SIGUSR1)
    harness.at[2.0] = harness.supervisor.stop
    assert harness.supervisor.run() == exitcodes.OK
    for index in (0, 1):
        [child] = harness.of(index)
        assert child.signals[:1] == [signal.SIGUSR1] and signal.SIGTERM in child.signals


def test_the_supervisor_handles_sigusr1_instead_of_dying_of_it(monkeypatch):
    from warcflow import supervisor as module

    installed: dict[int, Callable] = {}
    monkeypatch.setattr(
        module.signal, "signal", lambda sig, handler: installed.update({sig: handler})
    )
    forwarded: list[int] = []

    class Recorder:
        def stop(self) -> None:
            forwarded.append(-1)

        def forward(self, sig: int) -> None:
            forwarded.append(sig)

    module.install_signals(Recorder())  # type: ignore[arg-type]
    installed[signal.SIGUSR1](signal.SIGUSR1, None)
    assert forwarded == [signal.SIGUSR1]
