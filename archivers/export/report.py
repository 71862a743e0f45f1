"""The human-readable parts of an export package: ``report.html`` and ``VERIFY.md``.

``report.html`` is one self-contained page (no scripts, no remote assets) per
package: for each capture its URL, times (UTC), outcome, media with their
SHA-256, the Berkeley Protocol para 155 items, the custody events, what the
rechecks saw (last seen alive / first seen gone), every inclusion proof and
TSA token, and the screenshot with a caption when the capture has one.
``VERIFY.md`` gives the exact commands to check the package by hand with
standard tools (sha256sum, openssl, jq); file names are this package's own.

Both are built from ``Context`` only (what archivers.wacz gathered), so they
say nothing the package does not also hold as data.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from typing import Any

from archivers.manifests.manifest import Manifest


@dataclass(frozen=True)
class Context:
    title: str
    created: str
    software: str
    index: dict[str, Any]  # warcflow/custody.json
    audits: dict[str, dict[str, Any]]
    liveness: dict[str, Any]
    manifests: list[Manifest]
    export_key_sha256: str  # the anonymous key's, or the domain certificate's, SHA-256
    proofs: dict[int, dict[str, Any]]  # entry index -> its inclusion proof
    signature: str = "anonymous"  # or "domain" (archivers.export.signer)


def _e(value: Any) -> str:
    return escape("-" if value is None else str(value))


def _rows(pairs: list[tuple[str, Any]]) -> str:
    return "".join(f"<tr><th>{_e(k)}</th><td>{v}</td></tr>" for k, v in pairs)


def _rel(path: str | None) -> str:
    """A package path as seen from warcflow/report.html."""
    if not path:
        return ""
    return path.removeprefix("warcflow/") if path.startswith("warcflow/") else "../" + path


STYLE = """body{font-family:sans-serif;max-width:70em;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}th,td{border:1px solid #ccc;padding:.25em .5em;
text-align:left;vertical-align:top}th{background:#f3f3f3}code{font-size:.85em;word-break:break-all}
.ok{color:#060}.fail{color:#b00;font-weight:bold}figure{margin:1em 0}img{max-width:100%;
border:1px solid #ccc}figcaption{font-size:.9em;color:#444}"""


def session_text(session: dict | None) -> str:
    """Who the platform saw fetching the page: a logged-in account or nobody."""
    if not session:
        return "an anonymous visitor (no session)"
    if session.get("id"):
        via = f", through the proxy {session['proxy']}" if session.get("proxy") else ""
        return (
            f"the logged-in account {session.get('handle')} on {session.get('site')} "
            f"(session {session.get('id')}{via})"
        )
    return f"an anonymous visitor: no active session for {session.get('site')}"


def html_report(ctx: Context) -> str:
    parts = [
        f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{_e(ctx.title)}"
        f"</title><style>{STYLE}</style></head><body><h1>{_e(ctx.title)}</h1>",
        f"<p>Exported {_e(ctx.created)} (UTC) by {_e(ctx.software)}. "
        + (
            f"Signed by the domain certificate with SHA-256 <code>{_e(ctx.export_key_sha256)}"
            "</code>."
            if ctx.signature == "domain"
            else f"Export key SHA-256 <code>{_e(ctx.export_key_sha256)}</code>."
        )
        + " VERIFY.md says how to check every statement below with standard tools."
        " The proofs are the archive's only if its ledger key (its SHA-256 is at the end"
        " of this report) and TSA certificates (VERIFY.md, step 4) are the ones the"
        " archive publishes: its"
        " operator's <code>warcflow ledger key --json</code>, at a well-known location such"
        " as <code>https://ARCHIVE/.well-known/warcflow-trust.json</code>; a package"
        " carries whatever keys its maker chose. Times: a head's proof of time is its"
        " earliest TSA genTime; the signer's own time is shown beside it.</p>",
    ]
    entries = {e["index"]: e for e in ctx.index["entries"]}
    heads = {h["path"]: h for h in ctx.index["heads"]}
    by_id = {m.capture_id: m for m in ctx.manifests}
    for item in ctx.index["captures"]:
        m = by_id[item["capture_id"]]
        audit = ctx.audits.get(m.capture_id, {})
        parts.append(f"<h2>{_e(m.url)}</h2>")
        if item.get("screenshot"):
            parts.append(
                f'<figure><img src="{_e(_rel(item["screenshot"]))}" alt="screenshot">'
                f"<figcaption>Screenshot of {_e(m.url)}, captured "
                f"{_e(m.fetched_at)} UTC (capture {_e(m.capture_id)})</figcaption>"
                "</figure>"
            )
        parts.append(
            "<table>"
            + _rows(
                [
                    ("capture id", _e(m.capture_id)),
                    ("title", _e(item.get("title"))),
                    ("final URL", _e(m.final_url)),
                    ("HTTP status", _e(m.http_status)),
                    (
                        "outcome",
                        _e(m.outcome or m.status)
                        + (f" (missing: {_e(', '.join(m.missing))})" if m.missing else ""),
                    ),
                    ("seen as", _e(session_text(m.session))),
                    ("submitted (UTC)", _e(m.submitted_at)),
                    ("fetched (UTC)", _e(m.fetched_at)),
                    ("stored (UTC)", _e(m.stored_at)),
                    (
                        "WARC",
                        f"<code>{_e(item.get('warc'))}</code> sha256 <code>{_e(m.sha256)}</code>",
                    ),
                    (
                        "audit at export",
                        "<span class=ok>all checks hold</span>"
                        if audit.get("ok")
                        else "<span class=fail>some checks failed (see the audit file)</span>",
                    ),
                ]
            )
            + "</table>"
        )
        parts.append(
            "<h3>Berkeley Protocol para 155 items</h3><table>"
            + _rows([(k, "yes" if v else "no") for k, v in (audit.get("items") or {}).items()])
            + "</table>"
        )
        if item["media"]:
            parts.append(
                "<h3>Media</h3><table><tr><th>source</th><th>status</th><th>SHA-256</th>"
                "<th>file</th></tr>"
                + "".join(
                    f"<tr><td>{_e(x['source_url'])}</td><td>{_e(x['status'])}</td>"
                    f"<td><code>{_e(x['sha256'])}</code></td><td><code>{_e(x.get('original'))}"
                    "</code></td></tr>"
                    for x in item["media"]
                )
                + "</table>"
            )
        live = ctx.liveness.get(m.capture_id)
        parts.append(
            "<h3>Is the original still there?</h3><table>"
            + _rows(
                [
                    ("state", _e(live.get("state") if live else "not rechecked")),
                    ("last seen alive (UTC)", _e(live.get("last_seen_alive") if live else None)),
                    ("first seen gone (UTC)", _e(live.get("first_seen_gone") if live else None)),
                    ("checks", _e(live.get("checks") if live else 0)),
                ]
            )
            + "</table>"
        )
        parts.append(
            "<h3>Custody events</h3><table><tr><th>#</th><th>event</th><th>at (UTC)</th>"
            "<th>who</th><th>objects (SHA-256)</th></tr>"
            + "".join(
                f"<tr><td>{_e(c['index'])}</td><td>{_e(c['event'])}</td><td>{_e(c['at'])}</td>"
                f"<td>{_e(c['who'])}</td><td>"
                + "<br>".join(
                    f"{_e(o['key'])} <code>{_e(o['sha256'])}</code>" for o in c["objects"]
                )
                + "</td></tr>"
                for c in audit.get("custody", [])
            )
            + "</table>"
        )
        indices = item["entries"] + [i for x in item["media"] for i in x.get("entries", [])]
        parts.append(
            "<h3>Proofs</h3><table><tr><th>entry</th><th>inclusion proof</th>"
            "<th>signed head</th><th>time-stamps</th></tr>"
        )
        for index in sorted(set(indices)):
            entry = entries[index]
            head = heads.get(entry["head"] or "")
            tokens = "<br>".join(
                f"{_e(t['tsa'])}: <code>{_e(t['path'])}</code>, stamped {_e(t.get('stamped'))}"
                for t in (head or {}).get("tokens", [])
            )
            proof = ctx.proofs.get(index)
            shown = (
                (
                    f"<code>{_e(entry['proof'])}</code><br>leaf <code>{_e(proof['leaf_hash'])}"
                    f"</code><br>path "
                    + " ".join(f"<code>{_e(p)}</code>" for p in proof["audit_path"])
                    + f"<br>root <code>{_e(proof['root'])}</code>"
                )
                if proof
                else "not yet in a signed head"
            )
            stamps = sorted(
                t["stamped"] for t in (head or {}).get("tokens", []) if t.get("stamped")
            )
            signed = (
                (
                    f"<code>{_e(head['path'])}</code> size {_e(head['size'])}, key "
                    f"{_e(head['key_id'])}<br>proof of time: earliest TSA genTime "
                    f"<b>{_e(stamps[0] if stamps else 'none')}</b><br>signer's time "
                    f"{_e(head['timestamp'])} (its own claim, not the proof)"
                )
                if head
                else "-"
            )
            parts.append(
                f"<tr><td>{_e(index)} {_e(entry['event'])} <code>{_e(entry['path'])}</code></td>"
                f"<td>{shown}</td>"
                f"<td>{signed}</td><td>{tokens or '-'}</td></tr>"
            )
        parts.append("</table>")
    parts.append(
        "<h2>Keys</h2><table>"
        + _rows(
            [
                (
                    f"ledger key {k['key_id']}",
                    f"<code>{_e(k['path'])}</code> SHA-256 of the PEM "
                    f"<code>{_e(k['sha256'])}</code>",
                )
                for k in ctx.index["keys"]
            ]
            + [
                (f"TSA {t['name']}", "<br>".join(f"<code>{_e(p)}</code>" for p in t["paths"]))
                for t in ctx.index["tsa"]
            ]
        )
        + "</table></body></html>\n"
    )
    return "".join(parts)


def verify_md(ctx: Context) -> str:
    heads = ctx.index["heads"]
    if ctx.signature == "domain":
        key_commands = (
            "jq -r .signedData.domainCert datapackage-digest.json > domain-chain.pem\n"
            "openssl x509 -in domain-chain.pem -noout -subject   # CN= the signing domain\n"
            "openssl x509 -in domain-chain.pem -outform DER | sha256sum   # the certificate:\n"
            f"                                        # {ctx.export_key_sha256}\n"
            "openssl x509 -in domain-chain.pem -pubkey -noout > export-key.pem\n"
        )
    else:
        key_commands = (
            "jq -r .signedData.publicKey datapackage-digest.json | base64 -d > export-key.der\n"
            "openssl pkey -pubin -inform DER -in export-key.der -out export-key.pem\n"
            "sha256sum export-key.der                # the export key fingerprint:\n"
            f"                                        # {ctx.export_key_sha256}\n"
        )
    lines = [
        "# Verifying this package by hand\n",
        f"Package: {ctx.title}, exported {ctx.created} UTC by {ctx.software}.",
        "Everything below uses standard tools only (`unzip`, `sha256sum`, `openssl`, `jq`);",
        "`warcflow verify --trust trust.json FILE.wacz` runs the same checks and more in one go.\n",
        "## 0. Trust: get the archive's fingerprints from the archive, not from this file\n",
        "This package carries the keys and TSA certificates its proofs verify against. Anyone",
        "can re-sign a package end to end with keys and a TSA of their own, and every check",
        "below would still pass. What makes the proofs the archive's is that its ledger key and",
        "its TSAs' CA certificates are the ones the archive publishes: its operator prints them",
        "with `warcflow ledger key --json` and publishes that file at a well-known location",
        "(for example `https://ARCHIVE/.well-known/warcflow-trust.json`), or gives it to you by",
        "another path. Compare its `sha256` values with the `sha256sum` lines in steps 3 and 4,",
        "and pass it to `warcflow verify --trust trust.json`. Without pins, `warcflow verify`",
        "exits 6 (unpinned) even when every check holds.\n",
        "```sh\nunzip -q FILE.wacz -d package && cd package\n```\n",
        "## 1. Every file is the one the package lists\n",
        "```sh\nsha256sum -c warcflow/SHA256SUMS\n"
        'jq -r \'.resources[] | "\\(.hash | ltrimstr("sha256:"))  \\(.path)"\' datapackage.json'
        " | sha256sum -c\n```\n",
        "## 2. datapackage.json is the one that was signed\n",
        "The signature (ECDSA, SHA-256) is over the text of `hash`, as raw r||s (base64);",
        "openssl wants it DER-encoded, so it is re-encoded first.\n",
        "```sh\nsha256sum datapackage.json            # equals .hash in datapackage-digest.json\n"
        "jq -r .hash datapackage-digest.json\n"
        + key_commands
        + "jq -r .signedData.signature datapackage-digest.json | base64 -d > sig.raw  # r||s\n"
        "n=$(( $(wc -c < sig.raw) / 2 ))        # 48 bytes each for P-384, 32 for P-256\n"
        "r=$(head -c $n sig.raw | od -An -tx1 | tr -d ' \\n'); "
        "s=$(tail -c $n sig.raw | od -An -tx1 | tr -d ' \\n')\n"
        'printf \'asn1=SEQUENCE:sig\\n[sig]\\nr=INTEGER:0x%s\\ns=INTEGER:0x%s\\n\' "$r" "$s"'
        " > sig.cnf\nopenssl asn1parse -genconf sig.cnf -noout -out sig.der\n"
        "jq -j .signedData.hash datapackage-digest.json | "
        "openssl dgst -sha256 -verify export-key.pem -signature sig.der\n```\n",
        "When a TSA answered at export, `signedData` also holds an RFC 3161 time-stamp over",
        "the signature (`timeSignature`, with the certificates in `timestampCert`):\n",
        "```sh\njq -j .signedData.signature datapackage-digest.json > signature.txt\n"
        "jq -r .signedData.timeSignature datapackage-digest.json | base64 -d > signature.tsr\n"
        "jq -r .signedData.timestampCert datapackage-digest.json > tsa-chain.pem\n"
        "openssl ts -verify -data signature.txt -in signature.tsr -CAfile tsa-chain.pem\n"
        "openssl ts -reply -in signature.tsr -text | grep 'Time stamp'"
        "   # within 10 minutes of .signedData.created\n```\n",
        "## 3. The ledger heads are signed by the archive's key\n",
        "Compare the key's SHA-256 with the one the archive publishes; then, per head:\n",
        "```sh",
    ]
    for k in ctx.index["keys"]:
        lines.append(f"sha256sum {k['path']}   # {k['sha256']}")
    for h in heads:
        key = h.get("public_key") or "warcflow/ledger-key-<key_id>.pem"
        lines.append(
            f"cat {h['signed']}; echo    # the head's fields as canonical JSON "
            f"(compare with {h['path']})"
        )
        lines.append(
            f"openssl pkeyutl -verify -pubin -inkey {key} -rawin "
            f"-in {h['signed']} -sigfile {h['signature']}"
        )
    lines += [
        "```\n",
        "## 4. Each head was time-stamped (RFC 3161)\n",
        "Compare each CA's SHA-256 with the one the archive publishes; the `Time stamp` line",
        "is the TSA's genTime. The earliest genTime of a head is the proof of when it existed;",
        "the head's own `timestamp` is only its signer's claim, and must be within",
        "WARCFLOW_LEDGER_MAX_SKEW (default 300 s) of that genTime: a larger gap means the",
        "head was back-dated.\n",
        "```sh",
    ]
    for h in heads:
        for t in h["tokens"]:
            for ca in t["ca"][:1]:
                lines.append(f"sha256sum {ca}")
                lines.append(f"openssl ts -verify -data {h['path']} -in {t['path']} -CAfile {ca}")
                lines.append(f"openssl ts -reply -in {t['path']} -text | grep 'Time stamp'")
        lines.append(f"jq -r .timestamp {h['path']}   # the signer's time, to compare")
    lines += [
        "```\n",
        "## 5. Each custody entry is in its signed head (RFC 9162 inclusion proof)\n",
        "`warcflow/proof-<index>.json` gives `index`, `size`, `leaf_hash` and `audit_path`.",
        "The leaf hash is SHA-256 of one 0x00 byte followed by the entry file's bytes:\n",
        "```sh",
    ]
    for e in ctx.index["entries"]:
        lines.append(
            f"(printf '\\000'; cat {e['path']}) | sha256sum   # leaf_hash in "
            f"{e['proof'] or '(not yet in a signed head)'}"
        )
    lines += [
        "```\n",
        "Folding the audit path into the leaf hash (RFC 9162 section 2.1.3.2: node = SHA-256(0x01",
        "|| left || right)) must give the head's `root`. With Python's standard library:\n",
        "```sh",
        "python3 - warcflow/proof-INDEX.json <<'EOF'",
        "import hashlib, json, sys",
        "p = json.load(open(sys.argv[1])); h = lambda b: hashlib.sha256(b).digest()",
        "fn, sn, r = p['index'], p['size'] - 1, bytes.fromhex(p['leaf_hash'])",
        "for x in map(bytes.fromhex, p['audit_path']):",
        "    if fn & 1 or fn == sn:",
        "        r = h(b'\\1' + x + r)",
        "        while fn and not fn & 1: fn >>= 1; sn >>= 1",
        "    else: r = h(b'\\1' + r + x)",
        "    fn >>= 1; sn >>= 1",
        "print('ok' if sn == 0 and r.hex() == json.load(open(p['head']))['root'] else 'FAILED')",
        "EOF",
        "```\n",
        "## 6. The entries vouch for these very files\n",
        "Each `capture` and `media` entry lists the SHA-256 of every stored object (S3 key);",
        "`warcflow/custody.json` maps each key to its file here. For example:\n",
        "```sh",
        "jq -r '.objects[] | \"\\(.key) \\(.sha256)\"' warcflow/entry-*.json",
        "jq -r '.objects | to_entries[] | \"\\(.key) \\(.value)\"' warcflow/custody.json",
        "sha256sum archive/*.warc.gz warcflow/*.manifest.json",
        "```\n",
        "## 7. Dates\n",
        "`submitted_at` (manifest) ≤ every WARC-Date ≤ `stored_at` (manifest, whole seconds) ≤",
        "the earliest time-stamp token time (genTime) of the first head covering the entry.",
        "That genTime is the proof; the head's `timestamp` is shown beside it, not relied on.",
        "`zcat archive/*.warc.gz | grep -a '^WARC-Date'` lists the WARC-Dates.\n",
    ]
    return "\n".join(lines) + "\n"
