"""``warcflow export | verify``: a capture as a signed WACZ with its proofs, checked offline."""

from __future__ import annotations

import uuid
from pathlib import Path

from archivers.clock import utc_now
from archivers.custody.audit import find_manifests
from archivers.errors import CaptureError
from archivers.manifests.manifest import STORED
from archivers.store import layout
from streams.clients.producer import SubmitError
from streams.clients.reader import TopicUnavailable
from warcflow import __version__, exitcodes, wiring
from warcflow.output import error, print_json, progress
from warcflow.settings import Settings


def add_parsers(sub, common) -> None:
    p = sub.add_parser(
        "export",
        parents=[common],
        help="write a capture and its proofs as a signed WACZ file",
        description="Write the capture ID (or the newest stored capture of URL; --all: every "
        "capture of URL; --case ID: every stored capture of a case; --only ID: exactly "
        "that capture) to FILE as a WACZ 1.1.1 package that any WACZ tool replays: "
        "the page and media WARCs, a CDXJ index and pages list, plus a warcflow/ "
        "folder with the manifests, media originals, ledger entries with their "
        "inclusion proofs, the signed heads, TSA tokens and certificates, the ledger "
        "public key, the liveness record, the audit result, report.html and "
        "VERIFY.md. datapackage-digest.json is signed as ReplayWeb.page verifies it: "
        "with the export key (HOME/ledger/export-key-p384.pem, ECDSA P-384, made on "
        "first use; an anonymous signature), or with --domain-cert/--domain-key (a "
        "domain signature), and time-stamped over its signature by the first TSA of "
        "WARCFLOW_TSA that answers. Each exported capture gets an `export` event in "
        "the ledger. Exit 4 if there is no such capture, 3 if S3 or Kafka cannot be "
        "reached (or, domain-signed, no TSA answers), 2 if the domain files are unusable.",
    )
    p.add_argument("target", metavar="CAPTURE_ID|URL", nargs="?")
    which = p.add_mutually_exclusive_group()
    which.add_argument(
        "--case",
        dest="case_id",
        metavar="ID",
        help="every stored capture of case ID in one package, titled with the case",
    )
    which.add_argument(
        "--only",
        metavar="CAPTURE_ID",
        help="that one capture with its proofs and nothing else of its case or URL (its "
        "clips; for a clip stored before, the media WARC its revisit points at)",
    )
    p.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        required=True,
        type=Path,
        help="the .wacz file to write (replaced if it exists)",
    )
    p.add_argument("--all", action="store_true", help="every capture of URL, not just the newest")
    p.add_argument(
        "--domain-cert",
        metavar="PEM",
        type=Path,
        help="sign as this domain: its TLS certificate chain (leaf first), ECDSA P-256/P-384",
    )
    p.add_argument(
        "--domain-key", metavar="PEM", type=Path, help="the private key of --domain-cert"
    )
    p.add_argument(
        "--json",
        action="store_true",
        help='print {"file", "sha256", "size", "datapackage_sha256", '
        '"export_key_sha256", "signature", "time_stamped_by", "captures", "files", '
        '"uncovered"}',
    )
    p.set_defaults(handler=export)

    p = sub.add_parser(
        "verify",
        parents=[common],
        help="check an exported WACZ offline",
        description="Check FILE with nothing but the file and the pins you give: WACZ "
        "structure; the signature of datapackage-digest.json; every file's SHA-256 and size; "
        "every WARC record digest; the ledger entries' digests equal the files; each "
        "inclusion proof against its signed head; each head's Ed25519 signature; each RFC "
        "3161 token and which TSAs stamped each head; each head's time: its proof is the "
        "earliest TSA genTime, and the signer's own time must be within "
        "WARCFLOW_LEDGER_MAX_SKEW of it (else `skew`: back-dated); submitted ≤ WARC-Date ≤ "
        "stored ≤ that TSA time. A package can carry keys of its maker's choosing, so pin "
        "the archive's published ones (--trust FILE from `warcflow ledger key --json` as "
        "the archive publishes it, or --public-key and --tsa-ca); the fingerprints are "
        "printed. Needs no S3 or Kafka. Exit 0 when every check holds against pinned keys "
        "(or with --trust-embedded), 6 (unpinned) when every check holds but only against "
        "the keys and CAs the package carries, 1 when one fails, 2 if FILE is not a WACZ "
        "or a pin file is unusable.",
    )
    p.add_argument("file", metavar="FILE", type=Path)
    p.add_argument(
        "--public-key",
        metavar="PEM",
        action="append",
        default=[],
        type=Path,
        help="pin this ledger head-signing public key (repeatable)",
    )
    p.add_argument(
        "--tsa-ca",
        metavar="PEM",
        action="append",
        default=[],
        type=Path,
        help="pin this TSA CA certificate (repeatable)",
    )
    p.add_argument(
        "--trust",
        metavar="FILE",
        action="append",
        default=[],
        type=Path,
        help="pin the ledger keys and TSA CAs of this trust file (`warcflow ledger key "
        "--json`, as the archive publishes it)",
    )
    p.add_argument(
        "--trust-embedded",
        action="store_true",
        help="accept the keys and CAs the package carries (exit 0, not 6): proves only "
        "that the package is consistent with itself, not who made it",
    )
    p.add_argument(
        "--json",
        action="store_true",
        help='print {"ok", "file", "trust", "unpinned", "fingerprints", "coverage", '
        '"checks": [{"name", "ok", "detail"}]}; trust is pinned, embedded or unpinned',
    )
    p.set_defaults(handler=verify)


def export_key_path(settings: Settings) -> Path:
    """The anonymous signing key: P-384, the curve ReplayWeb.page imports (an older
    P-256 ``export-key.pem`` beside it is left alone, for its published fingerprint)."""
    return settings.home / "ledger" / "export-key-p384.pem"


def export(args, settings: Settings) -> int:
    from archivers.export.signer import DomainSigner, ExportSigner
    from archivers.export.wacz import NoTimestamp
    from archivers.export.wacz import export as write_package

    if bool(args.domain_cert) != bool(args.domain_key):
        error("--domain-cert and --domain-key go together")
        return exitcodes.USAGE
    signer: ExportSigner | DomainSigner
    try:
        signer = (
            DomainSigner.from_files(args.domain_cert, args.domain_key)
            if args.domain_cert
            else ExportSigner.from_file(export_key_path(settings))
        )
    except (OSError, ValueError) as exc:
        error(f"cannot sign with it: {exc}")
        return exitcodes.USAGE
    chosen = [x for x in (args.target, args.case_id, args.only) if x]
    if len(chosen) != 1:
        error("give one of CAPTURE_ID, URL, --case ID or --only CAPTURE_ID")
        return exitcodes.USAGE
    if args.only and not layout.is_capture_id(args.only):
        error(f"--only {args.only!r}: not a capture id (26 characters, as `captures` prints)")
        return exitcodes.USAGE
    if args.all and not args.target:
        error("--all goes with a URL")
        return exitcodes.USAGE
    store = wiring.store(settings)
    trust = wiring.configured_trust(settings)
    title = None
    try:
        if args.case_id:
            found, title = _case_manifests(settings, store, args.case_id)
        else:
            found = find_manifests(store, args.only.upper() if args.only else args.target)
        manifests = [m for m in found if m.status == STORED]
        if not args.all and not args.case_id:
            manifests = manifests[:1]
        if not manifests:
            error(
                f"no stored capture of {args.case_id or args.only or args.target}"
                + (f" ({found[0].status}: {found[0].reason})" if found else "")
            )
            return exitcodes.NOT_FOUND
        if not args.json:
            skipped = len(found) - len(manifests) if args.case_id else 0
            progress(
                f"exporting {len(manifests)} capture(s) of "
                + (f"case {args.case_id}" if args.case_id else manifests[0].url)
                + (f" ({skipped} not stored: left out)" if skipped else "")
                + " …"
            )
        out = write_package(
            store,
            manifests,
            args.output,
            signer,
            software=f"warcflow {__version__}",
            version=__version__,
            created=utc_now(),
            trust=trust,
            title=title,
            stampers=wiring.stampers(settings),
        )
    except TopicUnavailable as exc:
        error(f"{exc} (is `warcflow up` running?)")
        return exitcodes.UNAVAILABLE
    except (CaptureError, NoTimestamp) as exc:
        error(str(exc))
        return exitcodes.UNAVAILABLE
    summary = {
        "file": str(out.path),
        "sha256": out.sha256,
        "size": out.size,
        "datapackage_sha256": out.datapackage_sha256,
        "export_key_sha256": out.export_key_sha256,
        "signature": out.signature,
        "time_stamped_by": out.time_stamped_by,
        "captures": list(out.captures),
        "files": out.files,
        "uncovered": list(out.uncovered),
    }
    try:
        wiring.record_export(
            settings,
            manifests,
            name=out.path.name,
            sha256=out.sha256,
            size=out.size,
            batch=uuid.uuid4().hex,
            detail={
                "datapackage_sha256": out.datapackage_sha256,
                "export_key_sha256": out.export_key_sha256,
            },
        )
    except SubmitError as exc:
        error(f"{out.path} is written, but its export could not be recorded in the ledger: {exc}")
        return exitcodes.UNAVAILABLE
    if args.json:
        print_json(summary)
    else:
        print(
            f"{out.path}: {out.files} files, {out.size} bytes, sha256 {out.sha256}\n"
            f"  captures: {', '.join(out.captures)}\n"
            f"  {'domain certificate' if out.signature == 'domain' else 'export key'} "
            f"SHA-256 {out.export_key_sha256}\n"
            f"  signature time-stamped by: {out.time_stamped_by or 'no TSA answered'}\n"
            f"  check it with: warcflow verify {out.path}"
        )
    if out.time_stamped_by is None:
        progress(
            "the signature has no RFC 3161 time-stamp (no TSA answered: "
            + ("; ".join(out.stamp_problems) or "WARCFLOW_TSA is empty")
            + "); the ledger's heads still are"
        )
    if out.uncovered:
        progress(
            f"ledger entries {', '.join(map(str, out.uncovered))} are not in a signed head "
            "yet: `warcflow ledger head`, then export again, to include their proofs"
        )
    return exitcodes.OK


def _case_manifests(settings: Settings, store, case_id: str):
    """The manifests of a case, newest first, and the package's title."""
    from streams.clients.cases import case_captures, read_cases
    from warcflow.cases import case_items

    names = wiring.topic_names(settings)
    record = read_cases(settings.streams.kafka, names).get(case_id)
    found = case_captures(settings.streams.kafka, names, case_id)
    items = case_items(store, found.events, [], case_id, notes=False)
    manifests = [i.manifest for i in reversed(items) if i.manifest is not None]
    title = f"Case {case_id}: {record.title}" if record else f"Case {case_id}"
    return manifests, title


def verify(args, settings: Settings) -> int:
    from archivers.custody import trustfile
    from archivers.export.verify import NotAWacz, verify_package

    try:
        pins = [p.read_bytes() for p in args.public_key]
        cas = [p.read_bytes() for p in args.tsa_ca]
        for path in args.trust:
            try:
                found = trustfile.load(path.read_bytes())
            except ValueError as exc:
                raise OSError(f"{path}: {exc}") from None
            pins += found.ledger_keys.values()
            cas += found.tsas.values()
    except OSError as exc:
        error(str(exc))
        return exitcodes.USAGE
    try:
        result = verify_package(
            args.file,
            public_keys=pins,
            tsa_cas=cas,
            trust_embedded=args.trust_embedded,
            max_skew=settings.values["WARCFLOW_LEDGER_MAX_SKEW"],
        )
    except NotAWacz as exc:
        error(str(exc))
        return exitcodes.USAGE
    if not result.ok:
        code = exitcodes.FAILED
    elif result.trust == "unpinned":
        code = exitcodes.UNPINNED
    else:
        code = exitcodes.OK
    if args.json:
        print_json(result.to_dict())
    else:
        status = {exitcodes.OK: "OK", exitcodes.UNPINNED: "UNPINNED"}.get(code, "FAILED")
        print(f"{result.path}  {status}")
        for check in result.checks:
            print(f"  {'ok  ' if check.ok else 'FAIL'} {check.name}: {check.detail}")
        for name, fp in result.fingerprints.items():
            if name == "export_key":
                label = "export key"
            elif name.startswith("tsa "):
                label = f"TSA {name.removeprefix('tsa ')} CA"
            else:
                label = f"ledger key {name}"
            print(f"  {label} SHA-256: {fp}")
        for size, names in result.coverage.items():
            print(f"  head {size} stamped by: {', '.join(names) or 'no TSA'}")
        if result.trust != "pinned":
            what = ", ".join(sorted(result.unpinned))
            print(
                f"  {'trusting' if result.trust == 'embedded' else 'NOT PINNED:'} the "
                f"package's own {what}"
                + (
                    " (--trust-embedded): this shows the package agrees with itself, "
                    "not who made it"
                    if result.trust == "embedded"
                    else ": compare the fingerprints above with the ones the archive "
                    "publishes (its `warcflow ledger key --json`, at its well-known "
                    "location), then pass that file with --trust"
                )
            )
    return code
