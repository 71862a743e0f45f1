"""``warcflow dlq list|replay`` and ``warcflow reconcile``: what failed, and what is accounted."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from streams.clients.producer import SubmitError, Submitter
from streams.clients.reader import TopicUnavailable, read_topic
from streams.deadletters import REPLAY_HEADER, DeadLetterEntry, parse
from streams.reconcile import reconcile as account
from warcflow import exitcodes, wiring
from warcflow.output import error, print_json, progress, table
from warcflow.settings import Settings


def add_parsers(sub, common) -> None:
    p = sub.add_parser(
        "dlq",
        help="inspect and resubmit dead letters",
        description="Messages that could not be processed end on the dead-letter topic with "
        "the reason and the history of attempts. `dlq list` shows them; `dlq replay` "
        "resubmits the original messages (a new capture each; the failed attempt "
        "stays on the URL's timeline). The topic itself is never changed.",
    )
    dlq = p.add_subparsers(title="actions", metavar="ACTION", required=True)
    q = dlq.add_parser(
        "list",
        parents=[common],
        help="list dead letters, oldest first",
        description="List dead letters: id (PARTITION:OFFSET on the topic), "
        "when, stage, reason, attempts and URL. With --json: an "
        "array of objects (docs/formats.md, DeadLetter).",
    )
    q.add_argument("--reason", metavar="TEXT", help="only those whose reason contains TEXT")
    q.add_argument("--stage", choices=("capture", "media"), help="only this stage's")
    q.add_argument("--json", action="store_true", help="machine-readable output")
    q.set_defaults(handler=dlq_list)
    q = dlq.add_parser(
        "replay",
        parents=[common],
        help="resubmit dead letters",
        description="Produce the original message of each dead letter named "
        "(or all, or all with a reason) again to the topic of its "
        "stage, with a warcflow-replay-of header. Messages that are "
        "invalid in themselves are skipped (exit 1): they would only "
        "fail again. Exit 4 if an id does not exist.",
    )
    q.add_argument("ids", nargs="*", metavar="ID", help="dead letter ids from `dlq list`")
    q.add_argument("--all", action="store_true", help="every replayable dead letter")
    q.add_argument("--reason", metavar="TEXT", help="with --all: those whose reason contains TEXT")
    q.add_argument("--dry-run", action="store_true", help="say what would be replayed, do nothing")
    q.add_argument("--json", action="store_true", help="machine-readable output")
    q.set_defaults(handler=dlq_replay)

    p = sub.add_parser(
        "reconcile",
        parents=[common],
        help="check every submitted URL has an outcome",
        description="For the ingest messages of a time range, find each one's terminal outcome "
        "on the captures and dead-letter topics: stored, failed, dead-letter, or "
        "pending (queued, running, waiting to retry — or lost if it stays so); the "
        "same for every media request of the pages stored. Records on the captures "
        "or dead-letter topic that are not what it carries are counted and named. "
        "Exit 0 if every message and media request has an outcome and none has two "
        "events, 1 if not.",
    )
    p.add_argument(
        "--since",
        metavar="WHEN",
        help="start of the range: ISO 8601 time, or an age "
        "such as 30m, 6h, 7d (default: everything)",
    )
    p.add_argument("--until", metavar="WHEN", help="end of the range (default: now)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(handler=reconcile)


def _entries(settings: Settings) -> list[DeadLetterEntry]:
    names = wiring.topic_names(settings)
    return parse(read_topic(settings.streams.kafka, names.dead_letter))


def dlq_list(args, settings: Settings) -> int:
    names = wiring.topic_names(settings)
    try:
        entries = _entries(settings)
    except TopicUnavailable as exc:
        error(f"{exc} (is `warcflow up` running?)")
        return exitcodes.UNAVAILABLE
    shown = [
        e
        for e in entries
        if (not args.reason or args.reason in e.reason)
        and (not args.stage or e.stage == args.stage)
    ]
    if args.json:
        print_json([e.summary(names) for e in shown])
        return exitcodes.OK
    if not shown:
        progress(
            f"no dead letters on {names.dead_letter}"
            + (" matching" if args.reason or args.stage else "")
        )
        return exitcodes.OK
    print(
        table(
            ["ID", "DEAD AT", "STAGE", "REASON", "TRIES", "URL"],
            [
                (
                    e.id,
                    str(e.doc.get("dead_at") or "")[:40] or None,
                    e.stage,
                    e.reason,
                    len(e.attempts) or None,
                    e.url,
                )
                for e in shown
            ],
        )
    )
    progress(
        f"{len(shown)} dead letter(s); details: warcflow dlq list --json; "
        "resubmit: warcflow dlq replay ID"
    )
    return exitcodes.OK


def dlq_replay(args, settings: Settings) -> int:
    names = wiring.topic_names(settings)
    if bool(args.ids) == bool(args.all):
        error("name dead letters by ID, or give --all (not both)")
        return exitcodes.USAGE
    try:
        entries = _entries(settings)
    except TopicUnavailable as exc:
        error(f"{exc} (is `warcflow up` running?)")
        return exitcodes.UNAVAILABLE
    by_id = {e.id: e for e in entries}
    if args.ids:
        missing = [i for i in args.ids if i not in by_id]
        if missing:
            error(
                f"no dead letter {', '.join(missing)} on {names.dead_letter} "
                "(ids come from `warcflow dlq list`)"
            )
            return exitcodes.NOT_FOUND
        chosen = [by_id[i] for i in dict.fromkeys(args.ids)]
    else:
        chosen = [e for e in entries if not args.reason or args.reason in e.reason]
    results: list[dict[str, Any]] = []
    skipped = 0
    submitter = None
    try:
        for entry in chosen:
            topic, why = entry.replay_target(names)
            row: dict[str, Any] = {
                "id": entry.id,
                "url": entry.url,
                "stage": entry.stage,
                "topic": topic,
            }
            if topic is None:
                skipped += 1
                row.update(replayed=False, note=why)
                if not args.json:
                    error(f"{entry.id}: not replayed: {why}")
            elif args.dry_run:
                row.update(replayed=False, note="dry run")
            else:
                if submitter is None:
                    submitter = Submitter(settings.streams.kafka, names)
                key, value = entry.original()
                partition, offset = submitter.resend(
                    topic, key, value, [(REPLAY_HEADER, f"{names.dead_letter}:{entry.id}".encode())]
                )
                row.update(replayed=True, partition=partition, offset=offset)
            results.append(row)
    except SubmitError as exc:
        error(f"{exc} (is `warcflow up` running?)")
        return exitcodes.UNAVAILABLE
    finally:
        if submitter is not None:
            submitter.close()
    done = sum(1 for r in results if r["replayed"])
    if args.json:
        print_json(results)
    else:
        for r in results:
            if r["replayed"]:
                print(f"{r['id']}  → {r['topic']} {r['partition']}:{r['offset']}  {r['url'] or ''}")
            elif r.get("note") == "dry run":
                print(f"{r['id']}  would go to {r['topic']}  {r['url'] or ''}")
        progress(
            f"replayed {done}, skipped {skipped}"
            + (" (dry run: nothing sent)" if args.dry_run else "")
        )
    return exitcodes.FAILED if skipped else exitcodes.OK


AGE = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")


def parse_when(text: str, now: datetime) -> datetime:
    """An ISO 8601 time (UTC if no offset) or an age before ``now``: 90s, 30m, 6h, 7d."""
    match = AGE.match(text.strip())
    if match:
        unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[match.group(2)]
        return now - timedelta(**{unit: float(match.group(1))})
    moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def reconcile(args, settings: Settings) -> int:
    names = wiring.topic_names(settings)
    now = datetime.now(UTC)
    try:
        since = parse_when(args.since, now) if args.since else None
        until = parse_when(args.until, now) if args.until else now
    except ValueError:
        error("--since/--until take an ISO 8601 time or an age such as 30m, 6h, 7d")
        return exitcodes.USAGE
    since_ms = int(since.timestamp() * 1000) if since else None
    until_ms = int(until.timestamp() * 1000)
    kafka = settings.streams.kafka
    try:
        report = account(
            read_topic(kafka, names.ingest, since_ms=since_ms),
            # outcomes come after their ingest message
            read_topic(kafka, names.captures, since_ms=since_ms),
            parse(read_topic(kafka, names.dead_letter, since_ms=since_ms)),
            media=read_topic(kafka, names.media, since_ms=since_ms),
            until_ms=until_ms,
        )
    except TopicUnavailable as exc:
        error(f"{exc} (is `warcflow up` running?)")
        return exitcodes.UNAVAILABLE
    counts = report.counts
    if args.json:
        print_json(
            {
                "since": since.isoformat() if since else None,
                "until": until.isoformat(),
                "messages": len(report.accounts),
                "counts": counts,
                "media": {"requests": len(report.media), "counts": report.media_counts},
                "complete": report.complete,
                "pending": [a.to_dict() for a in report.pending],
                "duplicates": [a.to_dict() for a in report.duplicates],
                "media_pending": [m.to_dict() for m in report.media_pending],
                "media_duplicates": [m.to_dict() for m in report.media_duplicates],
                "unreadable": report.unreadable,
            }
        )
    else:
        media = report.media_counts
        print(
            table(
                ["OUTCOME", "MESSAGES", "MEDIA"],
                [
                    *((name, n, media[name]) for name, n in counts.items()),
                    ("total", len(report.accounts), len(report.media)),
                ],
            )
        )
        if report.pending:
            print("\npending (no outcome yet):")
            print(
                table(
                    ["MESSAGE", "SUBMITTED", "URL"],
                    [
                        (
                            f"{a.topic}:{a.partition}:{a.offset}",
                            datetime.fromtimestamp(a.timestamp_ms / 1000, UTC).strftime(
                                "%Y-%m-%dT%H:%M:%SZ"
                            ),
                            a.url,
                        )
                        for a in report.pending
                    ],
                )
            )
        if report.duplicates:
            print("\nmore than one capture event:")
            print(
                table(
                    ["MESSAGE", "EVENTS", "CAPTURE IDS"],
                    [
                        (
                            f"{a.topic}:{a.partition}:{a.offset}",
                            a.events,
                            " ".join(sorted(a.capture_ids)),
                        )
                        for a in report.duplicates
                    ],
                )
            )
        if report.media_pending:
            print("\nmedia pending (no outcome yet):")
            print(
                table(
                    ["MEDIA", "PAGE", "URL"],
                    [(m.media_id, m.parent_capture_id, m.url) for m in report.media_pending],
                )
            )
        if report.media_duplicates:
            print("\nmore than one media event:")
            print(
                table(
                    ["MEDIA", "EVENTS"], [(m.media_id, m.events) for m in report.media_duplicates]
                )
            )
        for topic, positions in sorted(report.unreadable.items()):
            shown = ", ".join(positions[:10]) + (" …" if len(positions) > 10 else "")
            progress(f"{len(positions)} record(s) on {topic} that it does not carry: {shown}")
        progress(
            "every message and media request has an outcome"
            if report.complete
            else f"{len(report.pending)} pending, {len(report.duplicates)} with duplicate "
            f"events; media: {len(report.media_pending)} pending, "
            f"{len(report.media_duplicates)} with duplicate events"
        )
    return exitcodes.OK if report.complete else exitcodes.FAILED
