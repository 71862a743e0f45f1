"""The fault soak: every message ends in exactly one outcome, whatever happens.

    python -m tests.support.soak --submissions 1000 --kills 20      (make soak)

On the real broker and S3 server (its own, started by infra/, unless a test
hands it the session's), with two workers and a viewer running:

- N submissions of a test site's pages, of every kind a capture can end in
  (a plain post, a post with a video, a deleted page, a flaky page that works
  at the third try, a page down for good), in batches as any client would
  send them, mixed with every hostile message the reviews reproduced, on every
  topic (tests/support/hostile.py);
- workers killed with SIGKILL at random moments while work remains (each kill
  when the number of stored WARCs passes a random point), the viewer killed
  once, the broker and the S3 server each stopped and restarted once, evidence
  downloaded through the viewer meanwhile (also while the broker is down).

Then, once `warcflow reconcile` says every message has its outcome (or the
deadline passes), it checks what a user could check:

- reconcile: every submission and every media request has exactly one
  terminal outcome (stored, failed or dead-lettered), the expected one for
  its kind of page; no capture or media event twice;
- every hostile message has its outcome: a dead letter of the stage that
  read it (or the catalog's quarantine and a ledger entry, for the one that
  looks like a capture event);
- the ledger has one entry for every capture and media event, and no event
  twice; every download made is in it;
- the viewer lists every stored capture;
- no WARC in the bucket without its capture.

and prints the figures. Exit 0 when nothing is lost and nothing duplicated.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from infra.kafka import KafkaBroker
from infra.processes import free_port
from infra.s3server import S3Server
from tests.support import hostile
from tests.support.media import make_media
from tests.support.site import Route, TestSite
from tests.support.stack import (
    ROOT,
    TestStack,
    ViewerProcess,
    WorkerProcess,
    cli,
    kafka_of,
    poll,
    store_of,
    viewer_account,
)

KINDS = {"plain": 70, "video": 10, "deleted": 8, "flaky": 7, "down": 5}
"""Page kinds and their weights; each ends in a known outcome."""
EXPECTED = {"plain": "stored", "video": "stored", "deleted": "failed", "flaky": "stored",
            "down": "failed"}  # fmt: skip


@dataclass
class Figures:
    submissions: int = 0
    hostile: Counter = field(default_factory=Counter)
    kills: int = 0
    viewer_kills: int = 0
    outages: Counter = field(default_factory=Counter)
    downloads: int = 0
    outcomes: dict = field(default_factory=dict)
    media: dict = field(default_factory=dict)
    duplicates: Counter = field(default_factory=Counter)
    lost: Counter = field(default_factory=Counter)
    ledger_entries: int = 0
    viewer_captures: int = 0
    quarantined: int = 0
    elapsed_s: float = 0.0

    @property
    def ok(self) -> bool:
        return sum(self.lost.values()) == 0 and sum(self.duplicates.values()) == 0

    def to_dict(self) -> dict:
        return {
            "submissions": self.submissions,
            "hostile_messages": dict(self.hostile),
            "kills": self.kills,
            "viewer_kills": self.viewer_kills,
            "outages": dict(self.outages),
            "downloads": self.downloads,
            "outcomes": self.outcomes,
            "media": self.media,
            "duplicates": dict(self.duplicates),
            "duplicated": sum(self.duplicates.values()),
            "lost": dict(self.lost),
            "lost_total": sum(self.lost.values()),
            "ledger_entries": self.ledger_entries,
            "viewer_captures": self.viewer_captures,
            "catalog_quarantined": self.quarantined,
            "elapsed_s": round(self.elapsed_s, 1),
            "ok": self.ok,
        }

    def table(self) -> str:
        rows = [
            ("submissions", self.submissions),
            ("hostile messages", sum(self.hostile.values())),
            ("worker kills (SIGKILL)", self.kills),
            ("viewer kills (SIGKILL)", self.viewer_kills),
            ("broker outages", self.outages["broker"]),
            ("S3 outages", self.outages["s3"]),
            ("downloads through the viewer", self.downloads),
            *((f"outcome {k}", v) for k, v in self.outcomes.items()),
            *((f"media {k}", v) for k, v in self.media.items()),
            ("ledger entries", self.ledger_entries),
            ("captures the viewer lists", self.viewer_captures),
            ("duplicated", sum(self.duplicates.values())),
            ("lost", sum(self.lost.values())),
            ("elapsed (s)", round(self.elapsed_s)),
        ]
        width = max(len(name) for name, _ in rows)
        return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


class Soak:
    def __init__(
        self,
        home: Path,
        *,
        submissions: int = 1000,
        kills: int = 20,
        workers: int = 2,
        seed: int | None = None,
        stack: TestStack | None = None,
        outage_seconds: float = 15.0,
        deadline: float = 3600.0,
        say=print,
    ) -> None:
        self.home = home
        self.n = submissions
        self.kill_target = kills
        self.worker_count = workers
        self.random = random.Random(seed)
        self.seed = seed
        self.given_stack = stack
        self.outage_seconds = outage_seconds
        self.deadline = deadline
        self.say = say
        self.figures = Figures()
        self.downloads: list[str] = []  # capture ids downloaded
        self.hostile_positions: list[tuple[str, int, int, str]] = []  # topic, p, o, kind
        self.failures: list[str] = []

    # -- setting up --------------------------------------------------------------

    def pages(self, site: TestSite) -> list[tuple[str, str]]:
        """(url, kind) of every submission, the kinds mixed by their weights."""
        kinds = self.random.choices(list(KINDS), weights=list(KINDS.values()), k=self.n)
        out = []
        for i, kind in enumerate(kinds):
            path = f"/soak/{kind}/{i}"
            if kind == "plain":
                site.routes[path] = Route(
                    f'<html><head><link rel="stylesheet" href="{path}.css"></head>'
                    f"<body><p>post {i}</p></body></html>".encode()
                )
                site.routes[path + ".css"] = Route(b"p { color: red }", content_type="text/css")
            elif kind == "video":
                site.routes[path] = Route(
                    f'<html><head><meta property="og:video" content="/media/clip.mp4">'
                    f"</head><body><p>clip {i}</p></body></html>".encode()
                )
            elif kind == "deleted":
                site.routes[path] = Route(b"<p>This post is unavailable</p>", status=404)
            elif kind == "flaky":
                site.routes[path] = Route(f"<p>flaky {i}</p>".encode(), fail_first=2)
            else:
                site.routes[path] = Route(b"down", status=503)
            out.append((site.url(path), kind))
        return out

    def env(self, stack: TestStack, site: TestSite) -> dict[str, str]:
        return stack.agent_env(
            "s",
            site.allow,
            WARCFLOW_PARTITIONS="4",
            WARCFLOW_RETRY_ATTEMPTS="3",
            WARCFLOW_RETRY_BASE_DELAY="0.3",
            WARCFLOW_RETRY_MAX_DELAY="2",
            WARCFLOW_LEDGER_HEAD_EVERY="5",
            WARCFLOW_WORKER_DRAIN="5",
            WARCFLOW_RECHECK_DELAYS="86400",
            WARCFLOW_FIXITY_EVERY="0",
            WARCFLOW_WORKER_CONCURRENCY="8",
        )

    # -- running -----------------------------------------------------------------

    def run(self) -> Figures:
        started = time.monotonic()
        stack = self.given_stack or TestStack(self.home / "stack")
        if self.given_stack is None:
            (self.home / "stack").mkdir(parents=True, exist_ok=True)
            self.say("soak: starting Kafka and the S3 server")
            stack.start()
        try:
            media = make_media(self.home / "media")
            with TestSite(delay=0.02) as site:
                site.serve_dir("/media/", media.root)
                self._run(stack, site)
        finally:
            if self.given_stack is None:
                stack.stop()
        self.figures.elapsed_s = time.monotonic() - started
        if self.figures.kills < self.kill_target:
            self.failures.append(f"only {self.figures.kills} of {self.kill_target} kills happened")
        return self.figures

    @property
    def ok(self) -> bool:
        """Nothing lost, nothing duplicated, and the chaos all happened."""
        return self.figures.ok and not self.failures

    def _run(self, stack: TestStack, site: TestSite) -> None:
        env = self.env(stack, site)
        pages = self.pages(site)
        logs = self.home / "logs"
        workers = [
            WorkerProcess(env, logs / f"worker-{n}.log").start(timeout=180)
            for n in range(self.worker_count)
        ]
        viewer_env = {
            **env,
            "WARCFLOW_HOME": str(self.home / "viewer-home"),
            "WARCFLOW_VIEWER_PORT": str(free_port()),
            "WARCFLOW_REPLAY_PORT": str(free_port()),
        }
        self.viewer_env = viewer_env
        # downloads need an account (decision 0016): the soak's reader
        self.viewer_token = viewer_account(viewer_env, "soak", "viewer")
        viewer = ViewerProcess(viewer_env, logs / "viewer.log").start(timeout=180)
        self.say(
            f"soak: {self.n} submissions, {self.worker_count} workers, a viewer; "
            f"prefix {env['WARCFLOW_TOPIC_PREFIX']}, seed {self.seed}"
        )
        store = _store(env)
        done = threading.Event()
        downloader = threading.Thread(target=self._download, args=(done,), daemon=True)
        downloader.start()
        try:
            try:
                self._drive(stack, env, pages, site, workers, viewer, store)
            except Exception as exc:  # noqa: BLE001 - reported with the figures
                self.failures.append(f"the run stopped early: {type(exc).__name__}: {exc}")
            done.set()
            downloader.join(60)
            self.say("soak: chaos over; waiting for every outcome")
            report = self._settled(env)
            self._check(env, store, report, pages, viewer_env)
        finally:
            done.set()
            for worker in workers:
                worker.stop()
            viewer.stop()

    def _drive(self, stack, env, pages, site, workers, viewer, store) -> None:
        """Batches of submissions as a client sends them; between batches, at random
        ones, a hostile message, a worker killed, the viewer killed, an outage.
        Each kill comes a random moment after a batch was submitted, so it lands
        while that batch is being captured."""
        from streams.topics import TopicNames

        names = TopicNames(env["WARCFLOW_TOPIC_PREFIX"])
        batch = max(5, min(25, self.n // max(1, self.kill_target + 3)))
        batches = [pages[i : i + batch] for i in range(0, len(pages), batch)]
        last = len(batches) - 1
        schedule: dict[int, list[tuple[str, object]]] = {}

        def at(index: int, event: tuple[str, object]) -> None:
            schedule.setdefault(index, []).append(event)

        for item in self._hostile(names, site):
            at(self.random.randrange(len(batches)), ("hostile", item))
        kills = [self.random.randrange(len(batches)) for _ in range(self.kill_target)]
        for index in kills:
            at(index, ("kill", None))
        at(self.random.randint(last // 5, max(last // 5, last // 2)), ("broker", None))
        at(self.random.randint(last // 2, max(last // 2, 4 * last // 5)), ("s3", None))
        at(self.random.randint(last // 4, max(last // 4, 3 * last // 4)), ("viewer", None))
        services = stack.settings().services
        for index, group in enumerate(batches):
            self._submit_batch(env, names, group)
            for kind, item in schedule.get(index, []):
                if kind == "hostile":
                    self._produce_hostile(kafka_of(env, "worker"), *item)  # type: ignore[misc]
                elif kind == "kill":
                    time.sleep(self.random.uniform(0.0, 1.5))  # a random moment of the batch
                    self._kill(self.random.choice(workers), store)
                elif kind == "viewer":
                    os.killpg(viewer.proc.pid, signal.SIGKILL)
                    viewer.proc.wait(10)
                    self.figures.viewer_kills += 1
                    self.say("soak: viewer killed")
                    viewer.start(timeout=180)
                else:
                    self._outage(kind, services)

    def _submit_batch(self, env, names, group) -> None:
        from archivers.clock import utc_now
        from streams.clients.producer import SubmitError, Submitter
        from streams.messages.capture import SubmitRequest

        requests = [
            SubmitRequest.new(url, submitted_at=utc_now(), source="soak", tags=(kind,))
            for url, kind in group
        ]
        while True:
            try:
                submitter = Submitter(kafka_of(env, "submitter"), names, timeout=20)
                try:
                    submitter.submit(requests)
                finally:
                    submitter.close()
                break
            except SubmitError as exc:
                # nothing acknowledged: a user would send the batch again
                self.say(f"soak: submit failed ({exc}); again")
                time.sleep(1.0)  # a user's pause before trying again, not synchronisation
        self.figures.submissions += len(group)

    def _kill(self, worker, store) -> None:
        os.killpg(worker.proc.pid, signal.SIGKILL)
        worker.proc.wait(10)
        self.figures.kills += 1
        self.say(f"soak: kill {self.figures.kills} at {_count(store, 'warc/')} WARCs")
        time.sleep(self.random.uniform(0, 2))  # down a while before its restart
        worker.start(timeout=180)

    def _outage(self, kind: str, services) -> None:
        server = KafkaBroker(services) if kind == "broker" else S3Server(services)
        name = "broker" if kind == "broker" else "S3 server"
        self.say(f"soak: stopping the {name} for {self.outage_seconds:g} s")
        server.stop()
        self.figures.outages[kind] += 1
        time.sleep(self.outage_seconds)  # the outage itself
        server.start(lambda message: None)
        self.say(f"soak: the {name} is back")

    def _hostile(self, names, site) -> list[tuple[str, bytes, int | None, str]]:
        items = [(names.ingest, v, t, f"ingest:{n}") for n, v, t in hostile.ingest_poison()]
        for topic in ("media", "retry.capture", "retry.media", "custody", "recheck"):
            items += [
                (f"{names.prefix}.{topic}", v, None, f"{topic}:{n}")
                for n, v in hostile.other_topic_poison()
            ]
        items += [
            (names.captures, v, None, f"captures:{n}")
            for n, v in hostile.captures_poison(site.url("/soak/never"))
        ]
        self.random.shuffle(items)
        return items

    def _produce_hostile(self, bootstrap, topic, value, stamp, kind) -> None:
        while True:
            try:
                [(partition, offset)] = hostile.produce(bootstrap, topic, [(value, stamp)])
                break
            except Exception as exc:  # noqa: BLE001 - the broker may be restarting
                self.say(f"soak: could not produce hostile {kind} ({exc}); again")
                time.sleep(1.0)  # as above: a client trying again
        self.hostile_positions.append((topic, partition, offset, kind))
        self.figures.hostile[kind.split(":")[0]] += 1

    def _download(self, done) -> None:
        """Download evidence through the viewer now and then (a custody event each)."""
        base = f"http://127.0.0.1:{self.viewer_env['WARCFLOW_VIEWER_PORT']}"
        while not done.wait(self.random.uniform(1, 4)):
            try:
                with urllib.request.urlopen(f"{base}/api/search?q=soak", timeout=10) as r:
                    hits = json.load(r)
                if not hits:
                    continue
                hit = self.random.choice(hits)
                download = urllib.request.Request(
                    f"{base}/capture/{hit['latest_capture_id']}/warc",
                    headers={"Authorization": f"Bearer {self.viewer_token}"},
                )
                with urllib.request.urlopen(download, timeout=30) as r:
                    r.read()
                self.downloads.append(hit["latest_capture_id"])
                self.figures.downloads += 1
            except OSError:
                continue  # the viewer restarting, or no stored capture yet

    # -- checking ----------------------------------------------------------------

    def _settled(self, env) -> dict:
        def report():
            done = cli("reconcile", "--json", env=env, timeout=300)
            if done.returncode not in (0, 1):
                return None
            found = json.loads(done.stdout)
            return found if found["complete"] and found["messages"] >= self.n else None

        try:
            return poll(report, timeout=self.deadline, interval=5, what="every outcome")
        except AssertionError as exc:
            self.failures.append(str(exc))
            done = cli("reconcile", "--json", env=env, timeout=300)
            return json.loads(done.stdout)

    def _check(self, env, store, report, pages, viewer_env) -> None:
        from archivers.custody.ledger import Entry
        from streams.clients.reader import read_topic
        from streams.deadletters import parse
        from streams.messages.base import loads
        from streams.topics import TopicNames

        f = self.figures
        names = TopicNames(env["WARCFLOW_TOPIC_PREFIX"])
        bootstrap = kafka_of(env, "operator")
        f.outcomes = dict(report["counts"])
        f.media = dict(report["media"]["counts"])
        f.lost["submissions pending"] = report["counts"]["pending"]
        f.lost["media pending"] = report["media"]["counts"]["pending"]
        f.duplicates["submissions with two events"] = len(report["duplicates"])
        f.duplicates["media with two events"] = len(report["media_duplicates"])

        events = [loads(r.value) for r in read_topic(bootstrap, names.captures)]
        events = [e for e in events if isinstance(e, dict) and "schema" in e]
        per_id = Counter((e["schema"][:16], e.get("capture_id")) for e in events)
        f.duplicates["capture events"] = sum(1 for n in per_id.values() if n > 1)

        # each submission's outcome is the one its kind of page ends in
        by_url = {url: kind for url, kind in pages}
        outcome_of: dict[str, str] = {}
        for e in events:
            if e.get("schema") in ("warcflow.CaptureStored", "warcflow.CaptureFailed"):
                outcome_of[e.get("url")] = "stored" if e["schema"].endswith("Stored") else "failed"
        wrong = [u for u, kind in by_url.items() if outcome_of.get(u) != EXPECTED[kind]]
        f.lost["submissions without their expected outcome"] = len(wrong)
        if wrong:
            self.failures.append(
                f"unexpected outcomes: {[(u, outcome_of.get(u)) for u in wrong[:5]]}"
            )

        # every hostile message has its outcome
        letters = {
            (e.source.get("topic"), e.source.get("partition"), e.source.get("offset"))
            for e in parse(read_topic(bootstrap, names.dead_letter))
        }
        missing = [
            kind
            for topic, partition, offset, kind in self.hostile_positions
            if (topic, partition, offset) not in letters  # sealed topics: the forged event too
        ]
        f.lost["hostile messages without an outcome"] = len(missing)
        if missing:
            self.failures.append(f"hostile messages without a dead letter: {missing}")

        # the ledger: every event recorded once, every download recorded
        # the worker's own events (sealed): a forged one is dead-lettered, not recorded
        distinct = {
            (e["schema"][:16], e["capture_id"]) for e in events if _is_id(e) and "seal" in e
        }
        want = len(distinct) + len(self.downloads) + 1  # + the signing key's entry
        try:
            poll(
                lambda: _count(store, "ledger/entries/") >= want,
                timeout=600,
                interval=2,
                what=f"{want} ledger entries",
            )
        except AssertionError as exc:
            self.failures.append(str(exc))
        entries = [Entry.from_data(store.get_bytes(k)) for k in store.list_keys("ledger/entries/")]
        f.ledger_entries = len(entries)
        ids = Counter(e.event.event_id for e in entries)
        f.duplicates["ledger entries"] = sum(n - 1 for n in ids.values() if n > 1)
        f.lost["events not in the ledger"] = sum(
            1 for _schema, capture_id in distinct if f"stored:{capture_id}" not in ids
        )
        recorded_downloads = Counter(
            e.event.capture_id for e in entries if e.event.event == "download"
        )
        f.lost["downloads not in the ledger"] = sum(
            max(0, n - recorded_downloads[c]) for c, n in Counter(self.downloads).items()
        )

        # the viewer lists every stored capture
        base = f"http://127.0.0.1:{viewer_env['WARCFLOW_VIEWER_PORT']}"
        stored_ids = {
            e["capture_id"] for e in events if e.get("schema") == "warcflow.CaptureStored"
        } - {"01KZZZZZZZZZZZZZZZZZZZZZZZ"}

        def listed():
            missing_now = []
            for capture_id in sorted(stored_ids):
                try:
                    with urllib.request.urlopen(f"{base}/api/captures/{capture_id}", timeout=10):
                        pass
                except OSError:
                    missing_now.append(capture_id)
            return missing_now

        not_listed = listed()
        deadline = time.monotonic() + 300
        while not_listed and time.monotonic() < deadline:  # the catalog may still be reading
            time.sleep(3)
            not_listed = listed()
        f.viewer_captures = len(stored_ids) - len(not_listed)
        f.lost["stored captures the viewer does not list"] = len(not_listed)
        with urllib.request.urlopen(f"{base}/api/status", timeout=10) as r:
            f.quarantined = json.load(r)["counts"].get("quarantined", 0)

        # no WARC without its capture
        warcs = set(store.list_keys("warc/"))
        recorded = {e.get("warc_key") for e in events if e.get("warc_key")}
        f.duplicates["WARCs without a capture"] = len(warcs - recorded)


def _is_id(event: dict) -> bool:
    return isinstance(event.get("capture_id"), str) and isinstance(event.get("schema"), str)


def _count(store, prefix: str) -> int:
    try:
        return sum(1 for _ in store.list_keys(prefix))
    except Exception:  # noqa: BLE001 - the S3 server is being restarted
        return 0


def _store(env):
    return store_of(env)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.support.soak",
        description="The fault soak (make soak): submissions and hostile messages while "
        "workers are killed and the broker and S3 server restarted; then every outcome "
        "is checked. Exit 0 when nothing is lost and nothing duplicated.",
    )
    parser.add_argument("--submissions", type=int, default=1000)
    parser.add_argument("--kills", type=int, default=20, help="worker SIGKILLs (at least)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--outage", type=float, default=15.0, help="seconds each outage lasts")
    parser.add_argument("--deadline", type=float, default=3600.0)
    parser.add_argument("--home", type=Path, default=None, help="state directory (a temporary one)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(10**6)
    with tempfile.TemporaryDirectory(prefix="warcflow-soak-") as temporary:
        home = args.home or Path(temporary)
        soak = Soak(
            home,
            submissions=args.submissions,
            kills=args.kills,
            workers=args.workers,
            seed=seed,
            outage_seconds=args.outage,
            deadline=args.deadline,
            say=lambda message: print(message, file=sys.stderr, flush=True),
        )
        figures = soak.run()
    print(json.dumps(figures.to_dict(), indent=1) if args.json else figures.table())
    for failure in soak.failures:
        print(f"soak: {failure}", file=sys.stderr)
    return 0 if soak.ok else 1


if __name__ == "__main__":
    os.chdir(ROOT)
    sys.exit(main())
