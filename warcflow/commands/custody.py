"""``warcflow audit | recheck | liveness | fixity | ledger``: proof and custody."""

from __future__ import annotations

import time
from typing import Any

from archivers.clock import utc_now
from archivers.custody.audit import (
    LeafCache,
    audit_capture,
    describe_liveness,
    find_manifests,
    lost_capture,
)
from archivers.custody.ledger import coverage, latest_head, log_size
from archivers.custody.liveness import LivenessState, state_key
from archivers.errors import CaptureError
from streams.clients.producer import SubmitError
from streams.messages.custody import custody_json, head_request_json, recheck_json
from warcflow import exitcodes, wiring
from warcflow.output import error, print_json, progress
from warcflow.settings import Settings


def add_parsers(sub, common) -> None:
    p = sub.add_parser(
        "audit",
        parents=[common],
        help="prove a capture is intact, dated and in the ledger",
        description="For each capture of URL (or the one capture ID): the stored objects exist "
        "and match their manifest's SHA-256; every WARC record digest verifies; "
        "submitted ≤ WARC-Date ≤ stored ≤ the covering ledger head's TSA time (its "
        "earliest genTime: the proof; the signer's own time is shown beside it and must be "
        "within WARCFLOW_LEDGER_MAX_SKEW, else `skew`); the ledger entry's inclusion proof "
        "verifies against a head signed by a trusted key; each TSA token verifies against "
        "its configured CA, and which TSAs stamped the head; the last fixity run; the "
        "liveness history; the Berkeley Protocol para 155 items present. Exit 0 only "
        "when every check holds; 5 "
        "(pending) when nothing failed but an entry is not yet in a signed head "
        "(the next comes within WARCFLOW_LEDGER_HEAD_EVERY; --wait waits for it); 1 "
        "when a check fails (each failure names the object and the check); 4 if "
        "there is no such capture.",
    )
    p.add_argument("target", metavar="URL|CAPTURE_ID")
    p.add_argument(
        "--wait",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="while the audit is only pending, audit again until it is not, for at most "
        "SECONDS (then exit 5 if still pending)",
    )
    p.add_argument(
        "--public-key",
        metavar="PEM",
        action="append",
        default=[],
        help="trust this head-signing public key too (besides this machine's key file and "
        "WARCFLOW_TRUST; a key in the bucket is never trusted)",
    )
    p.add_argument(
        "--json",
        action="store_true",
        help='print {"ok", "captures": [{"capture_id", "ok", "checks": [{"name", '
        '"ok", "detail", "pending"}], "status", "items", "liveness", "custody"}], '
        '"status"}; status is ok, pending or failed',
    )
    p.set_defaults(handler=audit)

    p = sub.add_parser(
        "recheck",
        parents=[common],
        help="look at a captured original again, now",
        description="Queue a recheck of URL for the recheck agent (a running worker) and wait "
        "for its result: alive, changed, gone (404/410 or an 'unavailable' page) or "
        "unknown. Exit 0 when the check ran, 3 if no worker answered in time.",
    )
    p.add_argument("url", metavar="URL")
    p.add_argument("--timeout", type=float, default=60.0, metavar="SECONDS")
    p.add_argument("--no-wait", action="store_true", help="queue it and return")
    p.add_argument("--json", action="store_true", help="print the liveness record as JSON")
    p.set_defaults(handler=recheck)

    p = sub.add_parser(
        "liveness",
        parents=[common],
        help="when was the original last seen alive, first seen gone",
        description="Print what the rechecks of URL found: state (alive, changed, gone or "
        "unknown), last_seen_alive, first_seen_gone, the next check and the history. "
        "Exit 4 if URL was never captured and rechecked.",
    )
    p.add_argument("url", metavar="URL")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(handler=liveness)

    p = sub.add_parser(
        "fixity",
        parents=[common],
        help="re-hash stored objects now and record the result",
        description="Re-read every object of every capture (or one capture's) that the ledger "
        "or the manifests record — WARC, manifest, index, screenshot; each media "
        "original, poster, derived copy, WARC and manifest — compare its SHA-256 with "
        "the ledger's (else the manifest's), check the ledger's own entries against "
        "its tiles, and record one fixity event per capture in the ledger. "
        "Manifests and entries that cannot be read are counted and named. The "
        "worker also runs this every WARCFLOW_FIXITY_EVERY seconds. Exit 0 if every "
        "object is unchanged, 1 if one changed, is missing or could not be read.",
    )
    p.add_argument("--capture", metavar="CAPTURE_ID", help="only this capture")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(handler=fixity)

    p = sub.add_parser(
        "ledger",
        help="the custody ledger's signed heads",
        description="The ledger is an append-only Merkle log of every stored "
        "object's digest and every custody event (docs/formats.md).",
    )
    actions = p.add_subparsers(title="actions", metavar="ACTION", required=True)
    q = actions.add_parser(
        "head",
        parents=[common],
        help="publish a signed head now, and show it",
        description="Ask the ledger agent for a signed, time-stamped head of "
        "everything recorded so far and wait for it (heads are "
        "also published every WARCFLOW_LEDGER_HEAD_EVERY s).",
    )
    q.add_argument("--timeout", type=float, default=60.0, metavar="SECONDS")
    q.add_argument(
        "--json",
        action="store_true",
        help='print {"size", "root", "timestamp", "key_id", "tokens", "coverage": '
        '{"stamped_by", "missing"}}: which configured TSAs have stamped the head',
    )
    q.set_defaults(handler=ledger_head)
    q = actions.add_parser(
        "key",
        parents=[common],
        help="the keys and TSA certificates to publish, for readers to pin",
        description="Print what a reader pins to check this archive's proofs: the public "
        "half of the head-signing key (WARCFLOW_LEDGER_KEY) and the CA certificate of each "
        "TSA of WARCFLOW_TSA, with SHA-256 fingerprints, from this machine's configuration "
        "(not from the bucket). Publish the --json output at a well-known location (e.g. "
        "https://ARCHIVE/.well-known/warcflow-trust.json); readers pass it to `warcflow "
        "verify --trust FILE`, viewers and auditors set WARCFLOW_TRUST to it. Exit 4 if "
        "there is no key file here.",
    )
    q.add_argument(
        "--json",
        action="store_true",
        help='print the trust file: {"schema", "ledger_keys": [{"key_id", "algorithm", '
        '"pem", "sha256"}], "tsas": [{"name", "ca_pem", "sha256"}]}',
    )
    q.set_defaults(handler=ledger_key)


def audit(args, settings: Settings) -> int:
    deadline = time.monotonic() + max(0.0, args.wait)
    while True:
        code, reports = _audit_once(args, settings)
        status = _status(reports)
        if status != "pending" or time.monotonic() >= deadline:
            break
        if not args.json:
            progress("pending: waiting for the next signed ledger head …")
        time.sleep(min(2.0, max(0.1, deadline - time.monotonic())))
    if reports is None:
        return code
    if args.json:
        print_json(
            {"ok": status == "ok", "status": status, "captures": [r.to_dict() for r in reports]}
        )
    else:
        for report in reports:
            print(f"{report.capture_id}  {report.url}  {report.status.upper()}")
            for check in report.checks:
                mark = "ok  " if check.ok else "WAIT" if check.pending else "FAIL"
                print(f"  {mark} {check.name}: {check.detail}")
            items = ", ".join(f"{k} {'yes' if v else 'no'}" for k, v in report.items.items())
            print(f"  para 155 items: {items}")
            print(f"  custody: {len(report.custody)} ledger entries")
    return {"ok": exitcodes.OK, "pending": exitcodes.PENDING}.get(status, exitcodes.FAILED)


def _status(reports) -> str:
    if not reports:
        return "failed"
    statuses = {r.status for r in reports}
    return "failed" if "failed" in statuses else "pending" if "pending" in statuses else "ok"


def _audit_once(args, settings: Settings):
    """(exit code, reports) — reports None when there is nothing to report on."""
    store = wiring.store(settings)
    try:
        trust = wiring.configured_trust(settings, args.public_key)
    except (OSError, ValueError) as exc:
        error(f"cannot trust it: {exc}")
        return exitcodes.USAGE, None
    try:
        manifests = find_manifests(store, args.target)
        reports = []
        if not manifests:
            lost = lost_capture(store, args.target)
            if lost is None:
                error(f"no capture of {args.target}")
                return exitcodes.NOT_FOUND, None
            reports.append(lost)
        leaves = LeafCache(store)
        for manifest in manifests:
            if not args.json:
                progress(f"auditing {manifest.capture_id} ({manifest.url}) …")
            reports.append(audit_capture(store, manifest, trust=trust, leaves=leaves))
    except CaptureError as exc:
        error(str(exc))
        return exitcodes.UNAVAILABLE, None
    return exitcodes.OK, reports


def _read_state(store, url: str) -> LivenessState | None:
    try:
        return LivenessState.from_json(store.get_bytes(state_key(url)))
    except KeyError:
        return None


def _print_liveness(state: LivenessState, as_json: bool) -> None:
    if as_json:
        print_json(state.summary())
        return
    print(f"{state.url}\n  {describe_liveness(state.summary())}")
    if state.next_check_at:
        print(f"  next check {state.next_check_at}")
    for check in state.history[-20:]:
        print(
            f"  {check['at']}  {check['state']:<8} {check.get('http_status') or '-':>4}  "
            f"{check.get('reason') or ''}"
        )


def recheck(args, settings: Settings) -> int:
    store = wiring.store(settings)
    names = wiring.topic_names(settings)
    try:
        before = _read_state(store, args.url)
        submitter = wiring.custody_producer(settings)
        try:
            submitter.produce(
                names.recheck,
                names.key(args.url),
                recheck_json(args.url, utc_now(), wiring.who(settings)),
            )
        finally:
            submitter.close()
    except (SubmitError, CaptureError) as exc:
        error(str(exc))
        return exitcodes.UNAVAILABLE
    if args.no_wait:
        progress(f"recheck of {args.url} queued")
        return exitcodes.OK
    seen = before.checks if before else 0
    if not args.json:
        progress(f"recheck of {args.url} queued; waiting for a worker …")
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        state = _read_state(store, args.url)
        if state and state.checks > seen:
            _print_liveness(state, args.json)
            return exitcodes.OK
        time.sleep(0.3)
    error(
        f"no worker rechecked {args.url} within {args.timeout:g} s (is `warcflow worker` running?)"
    )
    return exitcodes.UNAVAILABLE


def liveness(args, settings: Settings) -> int:
    try:
        state = _read_state(wiring.store(settings), args.url)
    except CaptureError as exc:
        error(str(exc))
        return exitcodes.UNAVAILABLE
    if state is None:
        error(f"no liveness record for {args.url} (never captured, or not yet rechecked)")
        return exitcodes.NOT_FOUND
    _print_liveness(state, args.json)
    return exitcodes.OK


def fixity(args, settings: Settings) -> int:
    from archivers.custody import fixity as fx

    store = wiring.store(settings)
    names = wiring.topic_names(settings)
    try:
        submitter = wiring.custody_producer(settings)
    except SubmitError as exc:
        error(str(exc))
        return exitcodes.UNAVAILABLE

    def emit(event) -> None:
        submitter.produce(names.custody, (event.capture_id or "").encode(), custody_json(event))
        if not args.json:
            progress(f"{event.capture_id}: {'ok' if event.detail['ok'] else 'CHANGED'}")

    try:
        totals = fx.run(store, emit, who=wiring.who(settings), clock=utc_now, only=args.capture)
    except (CaptureError, SubmitError) as exc:
        error(str(exc))
        return exitcodes.UNAVAILABLE
    finally:
        submitter.close()
    if args.json:
        print_json(totals)
    else:
        print(
            f"{totals['captures']} captures, {totals['objects']} objects: {totals['ok']} "
            f"unchanged, {totals['mismatch']} changed, {totals['missing']} missing, "
            f"{totals['unreadable']} unreadable; {totals['ledger_entries_checked']} ledger "
            "entries checked against their tiles"
        )
        for bad in totals["failed"]:
            print(
                f"  {bad['status'].upper()} {bad['key']} (capture {bad['capture_id']}): "
                f"expected {bad['expected'] or '?'}, found {bad['actual']}"
                + (f" ({bad['detail']})" if bad.get("detail") else "")
            )
        for bad in totals["unreadable_manifests"]:
            print(f"  UNREADABLE {bad['key']}: {bad['detail']}")
    if args.capture and totals["captures"] == 0:
        error(f"no stored capture {args.capture}")
        return exitcodes.NOT_FOUND
    failed = totals["failed"] or totals["unreadable_manifests"]
    return exitcodes.OK if not failed else exitcodes.FAILED


def ledger_head(args, settings: Settings) -> int:
    store = wiring.store(settings)
    names = wiring.topic_names(settings)
    try:
        asked = utc_now()
        submitter = wiring.custody_producer(settings)
        try:
            submitter.produce(names.custody, b"", head_request_json(asked, wiring.who(settings)))
        finally:
            submitter.close()
        deadline = time.monotonic() + args.timeout
        while time.monotonic() < deadline:
            head = latest_head(store)
            if head is not None and head.size >= log_size(store):
                break  # covers everything recorded (a new head, or nothing was new)
            time.sleep(0.3)
        else:
            error(
                f"no head within {args.timeout:g} s (is `warcflow worker` running? does a "
                "TSA of WARCFLOW_TSA answer? a head no TSA stamps is not published)"
            )
            return exitcodes.UNAVAILABLE
    except (SubmitError, CaptureError) as exc:
        error(str(exc))
        return exitcodes.UNAVAILABLE
    found = coverage(store, head.size)
    configured = [s.name for s in wiring.stampers(settings)]
    doc: dict[str, Any] = {
        "size": head.size,
        "root": head.root,
        "timestamp": head.timestamp,
        "key_id": head.key_id,
        "tokens": sorted(found.values()),
        "coverage": {
            "stamped_by": sorted(found),
            "missing": [name for name in configured if name not in found],
        },
    }
    if args.json:
        print_json(doc)
    else:
        missing = doc["coverage"]["missing"]
        print(
            f"head {head.size}: root {head.root}\n  signed {head.timestamp} by key {head.key_id}"
            f"\n  stamped by {', '.join(sorted(found)) or 'no TSA'}"
            + (f"; not yet by {', '.join(missing)} (stamped when it answers)" if missing else "")
        )
    return exitcodes.OK


def ledger_key(args, settings: Settings) -> int:
    from archivers.custody import trustfile

    pins = wiring.own_pins(settings)
    if not pins.ledger_keys:
        error(
            f"no readable head-signing key at {wiring.ledger_key_path(settings)} "
            "(WARCFLOW_LEDGER_KEY; a worker makes it on its first head)"
        )
        return exitcodes.NOT_FOUND
    doc = trustfile.document(pins)
    if args.json:
        print_json(doc)
    else:
        for key in doc["ledger_keys"]:
            print(f"ledger key {key['key_id']} ({key['algorithm']}) PEM SHA-256 {key['sha256']}")
        for tsa in doc["tsas"]:
            print(f"TSA {tsa['name']} CA PEM SHA-256 {tsa['sha256']}")
        print("publish `warcflow ledger key --json` for readers: `warcflow verify --trust FILE`")
    return exitcodes.OK
