"""``warcflow watch add|list|remove``: the sources the worker watches for new posts."""

from __future__ import annotations

from archivers.clock import iso, utc_now
from streams.clients.producer import SubmitError, Submitter
from streams.clients.reader import TopicUnavailable
from streams.watchers.definitions import InvalidWatch, Watch, new_watch
from streams.watchers.kinds import KINDS
from streams.watchers.log import read_book
from warcflow import exitcodes, wiring
from warcflow.output import error, print_json, progress, table
from warcflow.settings import Settings


def _kind_help() -> str:
    lines = ["kinds:"]
    for kind in KINDS.values():
        first, *rest = kind.help.splitlines()
        lines.append(f"  {kind.name:<9} {first}")
        lines += [f"  {'':<9} {more}" for more in rest]
    return "\n".join(lines) + "\n\n"


KIND_HELP = (
    _kind_help()
    + """\
The worker polls each watch every --every seconds. Its first poll submits every
item the source lists then; later polls submit only items it has not seen. Each
item is submitted once, with source "watch:ID" and the watch's tags, across
worker restarts too (docs/cli.md).
"""
)


def add_parsers(sub, common) -> None:
    from argparse import RawDescriptionHelpFormatter
    from textwrap import fill

    p = sub.add_parser(
        "watch",
        help="watch sources (feeds, Telegram channels, sitemaps, pages) for new posts",
        description=fill(
            "Watches are kept on the watches topic; `warcflow worker` polls them "
            "and submits each new post URL once to the ingest topic. Watches can "
            "also come from the settings (WARCFLOW_WATCHES).",
            78,
        ),
        epilog=KIND_HELP,
        formatter_class=RawDescriptionHelpFormatter,
    )
    actions = p.add_subparsers(title="actions", metavar="ACTION", required=True)

    q = actions.add_parser(
        "add",
        parents=[common],
        help="watch a source",
        description=fill(
            "Add a watch (or update the period and tags of the same source: a "
            "watch's id is derived from its kind, URL and pattern). Exit 2 if the "
            "kind, URL, period or pattern cannot be used, 3 if Kafka cannot be "
            "reached.",
            78,
        ),
        epilog=KIND_HELP,
        formatter_class=RawDescriptionHelpFormatter,
    )
    q.add_argument("kind", choices=list(KINDS), metavar="KIND", help=", ".join(KINDS))
    q.add_argument("url", metavar="URL", help="the feed, channel, sitemap or page to poll")
    q.add_argument(
        "--every",
        type=float,
        default=300.0,
        metavar="SECONDS",
        help="seconds between polls (default 300; at least WARCFLOW_WATCH_MIN_EVERY)",
    )
    q.add_argument(
        "--tag",
        action="append",
        default=[],
        metavar="TAG",
        help="label the captures of what it finds (repeatable)",
    )
    q.add_argument(
        "--pattern",
        default="",
        metavar="REGEX",
        help="links watches: the URLs to take (required for links, refused otherwise)",
    )
    q.add_argument("--json", action="store_true", help="print the watch as a JSON object")
    q.set_defaults(handler=add)

    q = actions.add_parser(
        "list",
        parents=[common],
        help="list the watches",
        description="Every watch: from the watches topic (origin `topic`) and from "
        "WARCFLOW_WATCHES (origin `settings`), with how many items each has seen "
        "(submitted). Exit 3 if Kafka cannot be reached.",
    )
    q.add_argument("--json", action="store_true", help="print a JSON array of watches")
    q.set_defaults(handler=list_watches)

    q = actions.add_parser(
        "remove",
        parents=[common],
        help="stop watching a source",
        description="Remove a watch added with `watch add` (a tombstone on the watches topic); "
        "the worker stops polling it. What it has seen is kept, so adding the same "
        "source again does not resubmit old items. Exit 4 if there is no such "
        "watch, 2 if it comes from the settings (remove it there).",
    )
    q.add_argument("id", metavar="ID", help="a watch id from `watch list`")
    q.add_argument("--json", action="store_true", help="print the removed watch as JSON")
    q.set_defaults(handler=remove)


def describe(watch: Watch, seen: int | None = None) -> dict:
    row = {
        "id": watch.id,
        "kind": watch.kind,
        "url": watch.url,
        "every": watch.every,
        "tags": list(watch.tags),
        "pattern": watch.pattern or None,
        "added_at": iso(watch.added_at) if watch.added_at else None,
        "origin": watch.origin,
        "source": watch.source,
    }
    if seen is not None:
        row["seen"] = seen
    return row


def _prepare(settings: Settings) -> bool:
    """Check the watch topics are there; False (after saying why) if Kafka is away
    or they are missing (made by `warcflow up` / `warcflow provision`)."""
    from streams.clients.admin import missing_topics
    from streams.clients.producer import _reachable

    kafka = settings.streams.kafka
    names = wiring.topic_names(settings)
    try:
        if not any(_reachable(server) for server in kafka.servers):
            raise ConnectionError(f"cannot reach the Kafka broker at {kafka.bootstrap}")
        missing = [
            t for t in missing_topics(kafka, names) if t in (names.watches, names.watch_seen)
        ]
        if missing:
            raise LookupError(
                f"no topic {', '.join(missing)} that {kafka.user or 'this client'} may use: "
                "run `warcflow up` or `warcflow provision`"
            )
        return True
    except Exception as exc:  # noqa: BLE001 - any client error means the same to the user
        error(f"{exc} (is `warcflow up` running? Kafka {kafka.who()})")
        return False


def _book(settings: Settings, *, with_seen: bool = False):
    return read_book(
        settings.streams.kafka,
        wiring.topic_names(settings),
        settings.watch.watches,
        with_seen=with_seen,
        min_every=settings.watch.min_every,
    )


def add(args, settings: Settings) -> int:
    try:
        watch = new_watch(
            args.kind,
            args.url,
            every=args.every,
            tags=tuple(args.tag),
            pattern=args.pattern,
            added_at=utc_now(),
            min_every=settings.watch.min_every,
        )
    except InvalidWatch as exc:
        error(str(exc))
        return exitcodes.USAGE
    if not _prepare(settings):
        return exitcodes.UNAVAILABLE
    names = wiring.topic_names(settings)
    try:
        known = _book(settings).get(watch.id)
        submitter = Submitter(settings.streams.kafka, names)
        try:
            partition, offset = submitter.resend(
                names.watches, watch.id.encode(), watch.to_json(), []
            )
        finally:
            submitter.close()
    except (SubmitError, TopicUnavailable) as exc:
        error(f"{exc} (is `warcflow up` running?)")
        return exitcodes.UNAVAILABLE
    if args.json:
        print_json(
            {**describe(watch), "topic": names.watches, "partition": partition, "offset": offset}
        )
    else:
        print(f"{watch.id}  {watch.kind}  {watch.url}")
        verb = "updated" if known is not None and known.origin == "topic" else "added"
        progress(
            f"{verb} watch {watch.id}: polled every {watch.every:g} s by `warcflow worker`"
            + ("" if known else "; its first poll submits what the source lists now")
        )
    return exitcodes.OK


def list_watches(args, settings: Settings) -> int:
    if not _prepare(settings):
        return exitcodes.UNAVAILABLE
    try:
        book = _book(settings, with_seen=True)
    except TopicUnavailable as exc:
        error(f"{exc} (is `warcflow up` running?)")
        return exitcodes.UNAVAILABLE
    rows = [describe(w, book.seen_count(w.id)) for w in book.watches()]
    if args.json:
        print_json(rows)
        return exitcodes.OK
    if not rows:
        progress("no watches; add one with: warcflow watch add KIND URL")
        return exitcodes.OK
    print(
        table(
            ["ID", "KIND", "EVERY", "SEEN", "ORIGIN", "TAGS", "URL"],
            [
                (
                    r["id"],
                    r["kind"],
                    f"{r['every']:g}s",
                    r["seen"],
                    r["origin"],
                    ",".join(r["tags"]) or None,
                    r["url"] + (f"  ~ {r['pattern']}" if r["pattern"] else ""),
                )
                for r in rows
            ],
        )
    )
    return exitcodes.OK


def remove(args, settings: Settings) -> int:
    if not _prepare(settings):
        return exitcodes.UNAVAILABLE
    names = wiring.topic_names(settings)
    try:
        book = _book(settings)
        watch = book.get(args.id)
        if watch is None:
            error(f"no watch {args.id} (ids come from `warcflow watch list`)")
            return exitcodes.NOT_FOUND
        if watch.origin != "topic":
            error(f"watch {args.id} comes from WARCFLOW_WATCHES; remove it from the settings")
            return exitcodes.USAGE
        submitter = Submitter(settings.streams.kafka, names)
        try:
            submitter.resend(names.watches, watch.id.encode(), None, [])
        finally:
            submitter.close()
    except (SubmitError, TopicUnavailable) as exc:
        error(f"{exc} (is `warcflow up` running?)")
        return exitcodes.UNAVAILABLE
    if args.json:
        print_json({**describe(watch), "removed": True})
    else:
        print(f"{watch.id}  removed  {watch.url}")
        progress(f"removed watch {watch.id}; the worker stops polling it")
    return exitcodes.OK
