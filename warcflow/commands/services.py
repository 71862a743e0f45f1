"""``warcflow install | up | down | status | provision | rotate``: the local stack,
its agents, and what the roles need (topics, users, ACLs, the bucket's rules)."""

from __future__ import annotations

import sys

from archivers.clock import iso, utc_now
from infra.processes import ManagedProcess, ServiceError, wait_until
from infra.stack import LocalStack
from viewer.accounts import AccountError, Accounts
from warcflow import credentials, exitcodes, wiring
from warcflow.output import error, print_json, progress, table
from warcflow.settings import Settings, SettingsError
from warcflow.supervisor import stop_seconds


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
        description="Start, on 127.0.0.1, an Apache Kafka broker (KRaft, SASL/SCRAM, ACLs) "
        "at WARCFLOW_KAFKA_BOOTSTRAP and a versitygw S3 server at WARCFLOW_S3_ENDPOINT, "
        "with their data under WARCFLOW_HOME; wait until both answer; make every role's "
        "users, the topics, the ACLs, the bucket (Object Lock, default retention) and "
        "its policy. The first time, every role's credentials are made with random "
        "secrets, printed once and kept in WARCFLOW_CREDENTIALS (HOME/credentials.json, "
        "mode 0600). Already running services are left alone.",
    )
    p.add_argument(
        "--agents",
        action="store_true",
        help="also start `warcflow worker` (a capture process per core: "
        "WARCFLOW_WORKER_PROCESSES) and `warcflow viewer` in the background (logs in HOME/logs)",
    )
    p.add_argument("--json", action="store_true", help="print the status as JSON when done")
    p.set_defaults(handler=up, role="admin", local_stack=True)

    p = sub.add_parser(
        "down",
        parents=[common],
        help="stop what `up` started",
        description="Stop the agents, the broker and the S3 server this state directory's "
        "pid files name. Processes warcflow did not start are never touched. "
        "Data stays on disk.",
    )
    p.add_argument("--json", action="store_true", help="print what was stopped as JSON")
    p.set_defaults(handler=down, role="admin", local_stack=True)

    p = sub.add_parser(
        "status",
        parents=[common],
        help="health and addresses of the local stack",
        description="Report whether the broker, the S3 server and the agents run and answer, "
        "and where. Exit 0 when Kafka and S3 both answer, 3 otherwise.",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(handler=status, role="admin", local_stack=True)

    p = sub.add_parser(
        "provision",
        parents=[common],
        help="make the topics, ACLs, bucket and retention rule the roles need",
        description="As the admin (WARCFLOW_KAFKA_USER and WARCFLOW_S3_ACCESS_KEY name "
        "the Kafka super user and the S3 root, or the credentials file's admin): create "
        "the missing topics (faust's leader topic included), grant each role its ACLs on "
        "them, create the bucket with Object Lock and give it the default retention of "
        "WARCFLOW_S3_LOCK_MODE/WARCFLOW_S3_LOCK_DAYS. Idempotent. For a cluster warcflow "
        "did not start (docker-compose.yml's init job); `warcflow up` does this itself. "
        "Users and their secrets are the cluster's (docs/operations.md, Roles).",
    )
    p.add_argument("--json", action="store_true", help="print what was made as JSON")
    p.set_defaults(handler=provision, role="admin")

    p = sub.add_parser(
        "rotate",
        parents=[common],
        help="give a role of the local stack new secrets",
        description="Make new random secrets for ROLE (its Kafka password and S3 secret "
        "key, and for the worker, operator and viewer a new MAC key for sealing internal "
        "messages), store them in the credentials file, set them on the broker and the S3 "
        "server, and print the passwords once. The old ones stop working for new "
        "connections at once (S3 at the next request); the previous MAC key is still "
        "accepted until the role's next rotation, so messages sealed just before are not "
        "refused. A running worker or viewer of the rotated role is restarted, and the "
        "worker also when a MAC key changed (it opens every role's messages). "
        "Rotating `admin` also restarts the S3 server (its root keys are read "
        "at start). If a step fails, `warcflow up` applies the file again.",
    )
    p.add_argument(
        "target", metavar="ROLE", choices=credentials.ROLES, help="the role whose secrets change"
    )
    p.add_argument("--json", action="store_true", help="print the new secrets as JSON")
    p.set_defaults(handler=rotate, role="admin", local_stack=True)


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


def _s3_users(creds: credentials.Credentials) -> dict[str, str]:
    """access key → secret of every S3 role but the root."""
    return {creds.s3[r][0]: creds.s3[r][1] for r in credentials.S3_ROLES if r != "admin"}


def up(args, settings: Settings) -> int:
    try:
        creds, made = credentials.ensure(credentials.path_of(settings))
        settings = credentials.for_role(settings, "admin", local_stack=True)
    except (OSError, SettingsError) as exc:
        error(f"the credentials file: {exc}")
        return exitcodes.USAGE
    stack = LocalStack(settings.services)
    try:
        stack.up(progress)
        stack.ensure_s3_users(_s3_users(creds))
        done = wiring.provision(settings, creds)
    except ServiceError as exc:
        error(str(exc))
        return exitcodes.UNAVAILABLE
    except Exception as exc:  # noqa: BLE001 - Kafka/S3 client errors of any kind
        error(f"services started but could not be set up: {exc}")
        return exitcodes.UNAVAILABLE
    _say_provisioned(done, settings)
    credentials.write_kcat_config(
        settings.home / "kcat.conf", credentials.for_role(settings, "submitter").streams.kafka
    )
    if made:
        _show_once(creds, credentials.path_of(settings), "made")
    try:
        _first_viewer_admin(settings)
    except (OSError, AccountError) as exc:
        error(f"the viewer's accounts: {exc}")
        return exitcodes.USAGE
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
            print(
                f"Viewer:           {settings.viewer.viewer_base}/  (log in to submit or "
                "download; accounts: warcflow user)"
            )
            print(f"Logs:             {report['worker']['log']}, {report['viewer']['log']}")
        else:
            print("Run the agents:   warcflow worker   and   warcflow viewer")
        print("Stop everything:  warcflow down")
    return exitcodes.OK


def _first_viewer_admin(settings: Settings) -> None:
    """With no viewer account yet, make an admin (a token account), print it once:
    `make run` needs no set-up, and nothing can be submitted or downloaded
    through the viewer without an account."""
    accounts = Accounts(settings.viewer.accounts_path)
    if accounts.all():
        return
    _account, token = accounts.add("admin", "admin", password=None, at=iso(utc_now()))
    name, _, secret = token.partition(":")
    print(file=sys.stderr)
    progress(
        f"viewer account made: name {name}, password {secret} (role admin; or send "
        f"`Authorization: Bearer {token}`). Shown this once, kept only hashed in "
        f"{accounts.path} (mode 0600); more with `warcflow user add`"
    )
    print(file=sys.stderr)


def _say_provisioned(done: wiring.Provisioned, settings: Settings) -> None:
    if done.topics_created:
        progress(f"created topics: {', '.join(done.topics_created)}")
    if done.bucket_created:
        progress(f"created bucket {settings.store.bucket} (Object Lock enabled)")
    if done.retention_set:
        progress(
            f"bucket {settings.store.bucket}: new versions locked {settings.store.lock_mode} "
            f"for {settings.store.lock_days} days"
        )


def _show_once(creds: credentials.Credentials, path, what: str) -> None:
    """Print secrets to stderr, once, with where they are kept."""
    print(file=sys.stderr)
    print(
        table(
            ("ROLE", "KAFKA USER", "KAFKA PASSWORD", "S3 ACCESS KEY", "S3 SECRET KEY"), creds.rows()
        ),
        file=sys.stderr,
    )
    progress(
        f"credentials {what}: shown this once, kept in {path} (mode 0600); "
        "each command uses its role's (docs/operations.md, Roles)"
    )
    print(file=sys.stderr)


def provision(args, settings: Settings) -> int:
    try:
        done = wiring.provision(settings)
    except Exception as exc:  # noqa: BLE001 - Kafka/S3 client errors of any kind
        error(f"could not provision (as {settings.streams.kafka.who()}): {exc}")
        return exitcodes.UNAVAILABLE
    if args.json:
        print_json(
            {
                "topics_created": done.topics_created,
                "acls": done.acls,
                "bucket": settings.store.bucket,
                "bucket_created": done.bucket_created,
                "retention_set": done.retention_set,
            }
        )
    else:
        _say_provisioned(done, settings)
        progress(
            f"{done.acls} ACLs in place on {settings.streams.topic_prefix}.*; bucket "
            f"{settings.store.bucket} ready"
        )
    return exitcodes.OK


def _running(service, what: str, timeout: float = 60.0) -> bool:
    """Whether ``service`` of the local stack runs; if it does, wait until it
    answers (a busy machine's broker can take seconds to list its topics): a
    new secret is applied to every running service, never skipped because one
    answered late. Not running: `warcflow up` applies it at the next start."""
    if service.process.pid() is None:
        return False
    wait_until(service.answering, timeout=timeout, what=f"{what} to answer")
    return True


def rotate(args, settings: Settings) -> int:
    path = credentials.path_of(settings)
    try:
        old = credentials.load(path)
    except SettingsError as exc:
        error(str(exc))
        return exitcodes.USAGE
    if old is None:
        error(f"no credentials file {path}: `warcflow up` makes one for the local stack")
        return exitcodes.USAGE
    role = args.target
    new = old.rotated(role)
    credentials.save(path, new)  # first: whatever fails below, `warcflow up` re-applies it
    progress(f"new secrets for {role} stored in {path}")
    if role == "submitter":
        credentials.write_kcat_config(
            settings.home / "kcat.conf",
            credentials.for_role(settings, "submitter").streams.kafka,
        )
    before = LocalStack(settings.services)  # the old admin and root credentials
    after_settings = credentials.for_role(settings, "admin", local_stack=True)
    after = LocalStack(after_settings.services)
    try:
        if _running(before.kafka, "the broker"):
            from streams.clients.admin import ensure_users

            user, password = new.kafka[role]
            ensure_users(settings.streams.kafka, {user: password})
            if role == "admin":
                after.kafka.record_admin()
        if role == "admin":
            if after.s3.stop():
                after.s3.start(progress)
        elif role in new.s3 and _running(before.s3, "the S3 server"):
            before.s3.ensure_user(*new.s3[role])
        for name in ("worker", "viewer"):  # the worker first: it must know a new MAC key
            process = agent_process(settings, name)
            # the worker opens every role's sealed messages: it learns a new MAC key
            # (and keeps the previous one) when it restarts
            restart = name == role or (name == "worker" and role in credentials.MAC_ROLES)
            if restart and process.pid() is not None:
                process.stop()
                code = _start_agent(after_settings, args.config, name, f"{name} ready")
                if code != exitcodes.OK:
                    return code
    except Exception as exc:  # noqa: BLE001 - Kafka/S3 client errors of any kind
        error(
            f"the new secrets are stored but could not all be applied: {exc}; "
            "run `warcflow up` to apply them"
        )
        return exitcodes.UNAVAILABLE
    rotated = credentials.Credentials(
        {role: new.kafka[role]} if role in new.kafka else {},
        {role: new.s3[role]} if role in new.s3 else {},
    )
    if args.json:
        print_json(credentials.summary(rotated))
    else:
        _show_once(rotated, path, f"of {role} rotated")
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


DOWN_MARGIN = 5.0
"""Seconds ``down`` gives a worker's supervisor past its own wait for its children."""


def down(args, settings: Settings) -> int:
    # the worker drains (WARCFLOW_WORKER_DRAIN) and its supervisor waits for that and
    # more before it kills its children: SIGKILL from here comes only after both
    waits = {"viewer": 20.0, "worker": stop_seconds(settings.streams.drain_seconds) + DOWN_MARGIN}
    stopped = [name for name, wait in waits.items() if agent_process(settings, name).stop(wait)]
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
