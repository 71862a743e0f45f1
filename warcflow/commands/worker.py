"""``warcflow worker``: run the agents in the foreground."""

from __future__ import annotations

import logging
import time

from warcflow import exitcodes, wiring
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
        "(the same capture id, so nothing is stored twice). A second signal exits at once.",
    )
    p.add_argument(
        "--metrics",
        metavar="HOST:PORT",
        help="serve /metrics (Prometheus) and /healthz there "
        "(default WARCFLOW_WORKER_METRICS; empty: not served)",
    )
    p.set_defaults(handler=run, role="worker")


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
    from streams.app import DrainingWorker

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
        if role not in held:
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
    from streams.metrics import Metrics
    from streams.observe import ObservabilityServer, lag_from_kafka

    metrics = Metrics()
    app = wiring.faust_app(settings, metrics)
    log = logging.getLogger("warcflow.worker")
    state = {"ready": False, "partitions": 0}

    @app.on_partitions_assigned.connect
    async def ready(app, assigned, **kwargs):
        state.update(ready=True, partitions=len(assigned))
        log.info(
            "worker ready: %d partitions assigned, bucket %s at %s",
            len(assigned),
            settings.store.bucket,
            settings.store.endpoint or "AWS",
        )

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
    sealing = seals.sealing_key.kid if seals.sealing_key else "-"
    progress(
        f"internal messages: sealed with key {sealing}; "
        f"accepted from keys {', '.join(seals.kids())}"
    )
    worker.execute_from_commandline()
    return exitcodes.OK
