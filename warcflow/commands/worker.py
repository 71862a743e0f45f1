"""``warcflow worker``: run the agents in the foreground."""

from __future__ import annotations

import argparse
import dataclasses
import faulthandler
import logging
import os
import signal
import sys
import time
from pathlib import Path

from warcflow import exitcodes, supervisor, wiring
from warcflow.output import error, progress
from warcflow.settings import Settings


def add_parsers(sub, common) -> None:
    p = sub.add_parser(
        "worker",
        parents=[common],
        help="run the capture agents (foreground)",
        description="Consume the ingest and retry topics and capture each URL into the bucket, "
        "publishing an event per capture on the captures topic. Several workers "
        "share the work by partition. On Ctrl-C / SIGTERM it takes no new message, "
        "gives the captures in flight WARCFLOW_WORKER_DRAIN seconds (20) to finish "
        "and exits within 5 s more; what is unfinished is redone by the next worker "
        "(the same capture id, so nothing is stored twice). A second signal exits at once. "
        "It runs one capture process per core (--processes) under a supervisor that "
        "restarts a crashed one and drains them all on a signal.",
    )
    p.add_argument(
        "--processes",
        metavar="N",
        type=_count,
        help="capture processes, each a member of the consumer group (default "
        "WARCFLOW_WORKER_PROCESSES; 0: one per core; 1: no supervisor). With --metrics "
        "HOST:PORT, process i serves on PORT+i",
    )
    # internal: the supervisor starts its children as `worker --processes 1 --child I`
    p.add_argument("--child", type=int, help=argparse.SUPPRESS)
    p.add_argument(
        "--metrics",
        metavar="HOST:PORT",
        help="serve /metrics (Prometheus) and /healthz there "
        "(default WARCFLOW_WORKER_METRICS; empty: not served)",
    )
    p.set_defaults(handler=run, role="worker")


def _count(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of processes (0 or more)")
    return int(text)


def processes(args, settings: Settings) -> int:
    """How many capture processes: --processes, else the setting; 0: one per core
    this process may use (``usable_cores``), but no more than WARCFLOW_PARTITIONS
    (a process beyond would have no share)."""
    wanted = args.processes if args.processes is not None else settings.streams.processes
    return wanted or max(1, min(usable_cores(), settings.streams.partitions))


def usable_cores(cgroup: Path = Path("/sys/fs/cgroup/cpu.max")) -> int:
    """The cores this process may run on: its CPU affinity, and no more than a
    container's CPU limit (cgroup v2 ``cpu.max``: quota and period, rounded up)
    — ``os.cpu_count()`` is the host's, which a ``cpus: 2`` container is not."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 0
    cores = cores or os.cpu_count() or 1
    try:
        quota, period = cgroup.read_text().split()[:2]
        if quota != "max":
            cores = min(cores, max(1, -(-int(quota) // int(period))))
    except (OSError, ValueError):
        pass
    return cores


def logging_config(level: str) -> dict:
    """Readable worker logs: our lines at ``level``; faust and Kafka clients only
    warnings unless debugging. Times are UTC."""
    quiet = "DEBUG" if level == "debug" else "WARNING"
    return {
        "merge": True,
        "formatters": {
            "plain": {
                "format": "%(asctime)s %(levelname)-7s %(name)s: %(message)s",
                "datefmt": "%Y-%m-%dT%H:%M:%SZ",
            }
        },
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "formatter": "plain",
                "stream": "ext://sys.stderr",
            }
        },
        "loggers": {
            **{name: {"level": quiet} for name in ("faust", "aiokafka", "mode", "kafka")},
            # "Exchanging credentials in the clear" on every SASL_PLAINTEXT connection:
            # SCRAM sends a proof, never the password (the traffic itself is not
            # encrypted: docs/operations.md, Roles)
            "kafka.net.sasl.scram": {"level": "ERROR"},
        },
    }


def run(args, settings: Settings) -> int:
    code = preflight(settings, warn=args.child is None)
    if code != exitcodes.OK:
        return code
    count = processes(args, settings)
    if count > 1 and args.child is None:
        return supervise(args, settings, count)
    return run_one(args, settings)


def preflight(settings: Settings, *, warn: bool = True) -> int:
    """Refuse to start without a sealing key, or before the topics and the bucket
    exist (a clear message and exit code, not a crash per message); ``warn`` of a
    missing role's MAC key."""
    seals = settings.streams.seals
    if not seals.can_seal():
        # without its key every internal message it made would be unsendable,
        # and every one it consumes refused: say so now, not per message
        error(
            "the worker has no MAC key of its own to seal internal messages with: "
            "set WARCFLOW_MAC_KEYS (worker:HEX first, then the operator's and the "
            "viewer's), or run `warcflow up` to make the credentials file "
            "(docs/operations.md, Roles)"
        )
        return exitcodes.USAGE
    from streams.messages.seal import SEALING_ROLES

    held = {key.role for key in seals.keys}
    for role in SEALING_ROLES:
        if warn and role not in held:
            error(
                f"no MAC key of the {role} role: every internal message the {role} makes "
                f"(e.g. {'downloads' if role == 'viewer' else 'exports, notes, fixity runs'}) "
                f"will be dead-lettered as unknown_key; add {role}:HEX to WARCFLOW_MAC_KEYS"
            )
    try:
        problems = wiring.not_ready(settings)
    except Exception as exc:  # noqa: BLE001
        error(f"cannot check the topics and the bucket (is `warcflow up` running?): {exc}")
        return exitcodes.UNAVAILABLE
    if problems:
        for problem in problems:
            error(problem)
        error(
            "the admin makes them: `warcflow up` (local stack) or `warcflow provision` "
            "(docs/operations.md, Roles)"
        )
        return exitcodes.UNAVAILABLE
    return exitcodes.OK


def supervise(args, settings: Settings, count: int) -> int:
    """``count`` children under a ``warcflow.supervisor.Supervisor``; its exit code."""

    handler = logging.StreamHandler(sys.stderr)
    formatter = logging.Formatter(
        "%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%Y-%m-%dT%H:%M:%SZ"
    )
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    log = logging.getLogger("warcflow.supervisor")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    address = args.metrics or settings.streams.metrics_address
    if address and int(address.rpartition(":")[2]) + count - 1 > 65535:
        error(f"cannot serve metrics of {count} processes from {address}: ports run out")
        return exitcodes.USAGE
    argv = args.argv
    sup = supervisor.Supervisor(
        count,
        supervisor.process_spawner(
            lambda i: supervisor.child_argv(argv, i, supervisor.metrics_of(address, i))
        ),
        stop_seconds=supervisor.stop_seconds(settings.streams.drain_seconds),
    )
    supervisor.install_signals(sup)
    progress(
        f"worker starting {count} capture processes"
        + (f", metrics on {address} and the next {count - 1} port(s)" if address else "")
    )
    code = sup.run()
    log.info("worker stopped: exit code %d", code)
    return code


def run_one(args, settings: Settings) -> int:
    """One worker process: today's ``warcflow worker``, or child ``args.child``."""
    from streams.app import DrainingWorker
    from streams.metrics import Metrics
    from streams.observe import ObservabilityServer, lag_from_kafka

    child = args.child
    datadir = None
    ready_text = "worker ready"  # what tests and `warcflow up --agents` wait for
    if child is not None:
        # its own faust directory; the canary (not a leader's timer) in child 0 only
        datadir = settings.home / "faust" / f"process-{child}"
        datadir.parent.mkdir(parents=True, exist_ok=True)  # faust makes only the last
        ready_text = supervisor.child_ready_line(child)
        if child > 0:
            settings = dataclasses.replace(
                settings, streams=dataclasses.replace(settings.streams, canary_url="")
            )
        supervisor.watch_parent(lambda: os.kill(os.getpid(), signal.SIGTERM))
    # a write to a closed pipe or socket (the supervisor's pipe, an S3 connection the
    # server reset) is an error to handle, never a silent death: the CLI's SIGPIPE
    # default (quiet under `| head`) killed the worker when the S3 server went away
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    # a fatal signal (a crash in C code) writes every thread's Python stack to the log
    faulthandler.enable()
    metrics = Metrics()
    app = wiring.faust_app(settings, metrics, datadir)
    log = logging.getLogger("warcflow.worker")
    state = {"ready": False, "partitions": 0}

    @app.on_partitions_assigned.connect
    async def ready(app, assigned, **kwargs):
        state.update(ready=True, partitions=len(assigned))
        text = (
            f"{ready_text}: {len(assigned)} partitions assigned, bucket "
            f"{settings.store.bucket} at {settings.store.endpoint or 'AWS'}"
        )
        if child is None:
            log.info("%s", text)
        else:  # how its supervisor knows it started: said at any log level
            progress(text)

    if args.metrics or settings.streams.metrics_address:
        address = args.metrics or settings.streams.metrics_address
        metrics.follow_lag(lag_from_kafka(settings.streams.kafka, settings.streams.app_id))

        def health() -> dict:
            return {
                "status": "ok" if state["ready"] else "starting",
                "partitions": state["partitions"],
                "handled": metrics.totals(),
                "uptime_s": round(time.time() - metrics.started, 1),
            }

        try:
            ObservabilityServer(address, metrics, health).start()
        except OSError as exc:
            error(f"cannot serve metrics on {address}: {exc}")
            return exitcodes.UNAVAILABLE

    level = {"warning": "warn"}.get(settings.log_level, settings.log_level)
    worker = DrainingWorker(
        app,
        loglevel=level,
        quiet=True,
        redirect_stdouts=False,
        workdir=str(settings.home),
        logging_config=logging_config(settings.log_level),
    )
    logging.Formatter.converter = time.gmtime
    progress(
        f"worker starting: Kafka {settings.streams.kafka.who()}, topics "
        f"{settings.streams.topic_prefix}.*, S3 {settings.store.endpoint} bucket "
        f"{settings.store.bucket}"
    )
    seals = settings.streams.seals
    sealing = seals.sealing_key.kid if seals.sealing_key else "-"
    progress(
        f"internal messages: sealed with key {sealing}; "
        f"accepted from keys {', '.join(seals.kids())}"
    )
    worker.execute_from_commandline()
    return exitcodes.OK
