"""``warcflow install | up | down | status``: the local stack and its agents."""

from __future__ import annotations

import sys

from infra.processes import ManagedProcess, ServiceError, wait_until
from infra.stack import LocalStack
from warcflow import exitcodes, wiring
from warcflow.output import error, print_json, progress, table
from warcflow.settings import Settings


def add_parsers(sub, common) -> None:
    p = sub.add_parser(
        "install",
        parents=[common],
        help="fetch the Kafka jars and build the S3 server (once per machine)",
        description="Fetch Apache Kafka's jars from Maven Central and build the versitygw S3 "
        "server with `go install` into the cache (WARCFLOW_CACHE). `up` does this "
        "too when needed; run it alone to prepare a machine.",
    )
    p.set_defaults(handler=install)

    p = sub.add_parser(
        "up",
        parents=[common],
        help="start Kafka and the S3 server (and the agents with --agents)",
        description="Start, on 127.0.0.1, an Apache Kafka broker (KRaft) at "
        "WARCFLOW_KAFKA_BOOTSTRAP and a versitygw S3 server at WARCFLOW_S3_ENDPOINT, "
        "with their data under WARCFLOW_HOME; create the topics and the bucket; wait "
        "until both answer. Already running services are left alone.",
    )
    p.add_argument(
        "--agents",
        action="store_true",
        help="also start `warcflow worker` and `warcflow viewer` in the background "
        "(logs in HOME/logs)",
    )
    p.add_argument("--json", action="store_true", help="print the status as JSON when done")
    p.set_defaults(handler=up)

    p = sub.add_parser(
        "down",
        parents=[common],
        help="stop what `up` started",
        description="Stop the agents, the broker and the S3 server this state directory's "
        "pid files name. Processes warcflow did not start are never touched. "
        "Data stays on disk.",
    )
    p.add_argument("--json", action="store_true", help="print what was stopped as JSON")
    p.set_defaults(handler=down)

    p = sub.add_parser(
        "status",
        parents=[common],
        help="health and addresses of the local stack",
        description="Report whether the broker, the S3 server and the agents run and answer, "
        "and where. Exit 0 when Kafka and S3 both answer, 3 otherwise.",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(handler=status)


def agent_process(settings: Settings, name: str) -> ManagedProcess:
    """The background ``warcflow NAME`` of this state directory (worker, viewer)."""
    home = settings.home
    return ManagedProcess(
        name, home / "run", home / "logs" / f"{name}.log", marker=f"--home {home} {name}"
    )


def worker_metrics(settings: Settings) -> str:
    """Where the background worker serves /metrics and /healthz."""
    return settings.streams.metrics_address or "127.0.0.1:9464"


def worker_process(settings: Settings) -> ManagedProcess:
    return agent_process(settings, "worker")


def viewer_process(settings: Settings) -> ManagedProcess:
    return agent_process(settings, "viewer")


def install(args, settings: Settings) -> int:
    try:
        LocalStack(settings.services).install(progress)
    except ServiceError as exc:
        error(str(exc))
        return exitcodes.UNAVAILABLE
    progress(f"Kafka jars and S3 server are ready in {settings.services.cache}")
    return exitcodes.OK


def up(args, settings: Settings) -> int:
    stack = LocalStack(settings.services)
    try:
        stack.up(progress)
        created, bucket_created = wiring.ensure_topics_and_bucket(settings)
    except ServiceError as exc:
        error(str(exc))
        return exitcodes.UNAVAILABLE
    except Exception as exc:  # noqa: BLE001 - Kafka/S3 client errors of any kind
        error(f"services started but could not be set up: {exc}")
        return exitcodes.UNAVAILABLE
    if created:
        progress(f"created topics: {', '.join(created)}")
    if bucket_created:
        progress(f"created bucket {settings.store.bucket} (Object Lock enabled)")
    if args.agents:
        for name, ready in (("worker", "worker ready"), ("viewer", "viewer ready")):
            code = _start_agent(settings, args.config, name, ready)
            if code != exitcodes.OK:
                return code
    report = _status(settings)
    if args.json:
        print_json(report)
    else:
        _print_status(report)
        print()
        print("Submit a URL:     warcflow submit https://example.org/post/1")
        print("See its captures: warcflow captures https://example.org/post/1")
        if args.agents:
            print(f"Viewer:           {settings.viewer.viewer_base}/")
            print(f"Logs:             {report['worker']['log']}, {report['viewer']['log']}")
        else:
            print("Run the agents:   warcflow worker   and   warcflow viewer")
        print("Stop everything:  warcflow down")
    return exitcodes.OK


def _start_agent(settings: Settings, config: str | None, name: str, ready: str) -> int:
    process = agent_process(settings, name)
    if process.pid() is not None:
        progress(f"{name} already running")
        return exitcodes.OK
    argv = [sys.executable, "-m", "warcflow"]
    if config:
        argv += ["--config", config]
    argv += ["--home", str(settings.home), name]
    if name == "worker":
        argv += ["--metrics", worker_metrics(settings)]
    pid = process.start(argv)
    progress(f"started the {name} (pid {pid}); log: {process.log_path}")
    try:
        wait_until(
            lambda: process.pid() is None or _logged_since_start(process, ready),
            timeout=90,
            what=f"the {name} to be ready",
            on_fail=process.log_tail,
        )
    except ServiceError as exc:
        error(str(exc))
        return exitcodes.UNAVAILABLE
    if process.pid() is None:
        error(f"the {name} exited during start-up. " + process.log_tail())
        return exitcodes.UNAVAILABLE
    return exitcodes.OK


def _logged_since_start(process: ManagedProcess, text: str) -> bool:
    try:
        return (
            text
            in process.log_path.read_text(errors="replace").rsplit(
                f"--- {process.name} starting", 1
            )[-1]
        )
    except OSError:
        return False


def down(args, settings: Settings) -> int:
    stopped = [name for name in ("viewer", "worker") if agent_process(settings, name).stop()]
    stopped += LocalStack(settings.services).down()
    if args.json:
        print_json({"stopped": stopped})
    else:
        progress(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")
    return exitcodes.OK


def _status(settings: Settings) -> dict:
    report = LocalStack(settings.services).status()
    worker = worker_process(settings)
    metrics = worker_metrics(settings)
    report["worker"] = {
        "pid": worker.pid(),
        "log": str(worker.log_path),
        "address": f"http://{metrics}/metrics",
        "answering": bool(worker.pid()) and _answers(f"http://{metrics}/healthz"),
    }
    viewer = viewer_process(settings)
    report["viewer"] = {
        "pid": viewer.pid(),
        "log": str(viewer.log_path),
        "address": settings.viewer.viewer_base,
        "replay": settings.viewer.replay_base,
        "answering": _answers(f"http://{settings.viewer.host}:{settings.viewer.port}/healthz"),
    }
    report["home"] = str(settings.home)
    report["bucket"] = settings.store.bucket
    report["topic_prefix"] = settings.streams.topic_prefix
    report["ok"] = report["kafka"]["answering"] and report["s3"]["answering"]
    return report


def _print_status(report: dict) -> None:
    def state(item: dict) -> str:
        if item.get("answering"):
            return "up"
        return "not answering" if item.get("pid") else "down"

    rows = [
        (
            "kafka",
            state(report["kafka"]),
            report["kafka"]["address"],
            report["kafka"]["pid"],
            report["kafka"]["log"],
        ),
        (
            "s3",
            state(report["s3"]),
            report["s3"]["address"],
            report["s3"]["pid"],
            report["s3"]["log"],
        ),
        (
            "worker",
            state(report["worker"]),
            report["worker"]["address"],
            report["worker"]["pid"],
            report["worker"]["log"],
        ),
        (
            "viewer",
            state(report["viewer"]),
            report["viewer"]["address"],
            report["viewer"]["pid"],
            report["viewer"]["log"],
        ),
    ]
    print(table(("SERVICE", "STATE", "ADDRESS", "PID", "LOG"), rows))
    print(
        f"state directory: {report['home']}   bucket: {report['bucket']}   "
        f"topics: {report['topic_prefix']}.*"
    )


def _answers(url: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - our own /healthz
            return response.status == 200
    except OSError:
        return False


def status(args, settings: Settings) -> int:
    report = _status(settings)
    if args.json:
        print_json(report)
    else:
        _print_status(report)
    return exitcodes.OK if report["ok"] else exitcodes.UNAVAILABLE
