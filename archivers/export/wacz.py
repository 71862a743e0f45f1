"""The export package: one or more captures as a signed WACZ 1.1.1 file, with their proofs.

A WACZ is a ZIP (WARCs and media stored, not deflated, so replay tools can
seek in them) that any WACZ tool replays, plus a ``warcflow/`` folder with
everything needed to check the evidence offline (docs/formats.md, "Export
package (WACZ)"):

    archive/<id>.warc.gz            the page WARC and each media WARC (exact stored bytes);
                                    for a clip stored before (a revisit), also the first
                                    capture's media WARC the revisit points at; for
                                    requisites stored before (revisits), the earlier
                                    page captures' WARCs holding them
    indexes/index.cdxj              CDXJ of every WARC, ``filename`` relative to archive/
                                    (``<id>.warc.gz``: WACZ readers prepend ``archive/``)
    pages/pages.jsonl               json-pages-1.0: one line per captured page
    datapackage.json                every other file's path, sha256 and size; the title
                                    also under ``metadata`` (where ReplayWeb.page reads it)
    datapackage-digest.json         SHA-256 of datapackage.json, signed and time-stamped
                                    (archivers.export.signer)
    warcflow/custody.json           the map the verifier follows: captures, S3 key → file,
                                    entries, proofs, heads, tokens, keys
    warcflow/<id>.manifest.json     page manifest; <media_id>.media-manifest.json each media's
    warcflow/<id>.cdxj              the CDXJ index as stored (it is in the ledger entry)
    warcflow/<sha256>.<ext>         media originals (and .poster.jpg, .derived.mp4)
    warcflow/entry-<index>.json     the capture's ledger entries, exact stored bytes
    warcflow/proof-<index>.json     RFC 9162 inclusion proof of the entry in its covering head
    warcflow/head-<size>.json       that signed head; .signed.bin / .sig: its Ed25519
                                    signing input and raw signature, for openssl
    warcflow/token-<size>-<n>-<tsa>.tsr   RFC 3161 tokens over SHA-256 of the head file
    warcflow/tsa-<name>-<fp>.pem    the certificate each TSA's tokens verify against
    warcflow/ledger-key-<key_id>.pem      the head-signing public key
    warcflow/<id>.liveness.json, <id>.audit.json, report.html, VERIFY.md, SHA256SUMS

Every file sits exactly one folder deep: WACZ validators (py-wacz) name files
by their last two path parts. Objects are streamed from the store into the
ZIP and hashed on the way (a WARC goes through a spooled temporary file,
since it is read three times: copied, indexed, and searched for the title).

Invariant: every file in the ZIP except the two datapackage files is listed
in datapackage.json with its SHA-256 and size; the digest file signs that.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import os
import re
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, cast

from archivers.clock import iso_seconds, utc_now
from archivers.custody import merkle
from archivers.custody.audit import LeafCache, Trust, audit_capture
from archivers.custody.ledger import (
    Entry,
    Stamper,
    capture_entries,
    covering_head_key,
    entry_key,
    public_key_key,
    token_tsa,
    tokens_prefix,
    tsa_cert_keys,
    tsa_cert_prefix,
)
from archivers.custody.liveness import state_key
from archivers.custody.rfc3161 import TokenInvalid, token_time
from archivers.custody.treehead import TreeHead
from archivers.export.signer import DomainSigner, ExportSigner, time_stamped
from archivers.manifests.listing import list_media
from archivers.manifests.manifest import STORED, Manifest, MediaManifest
from archivers.store import layout
from archivers.store.base import ObjectStore
from archivers.warc.cdxj import cdxj_from_warc

WACZ_VERSION = "1.1.1"
SCHEMA = "warcflow.export"
VERSION = 1
DIR = "warcflow/"
INDEX = DIR + "custody.json"
CHUNK = 1024 * 1024
SPOOL = 8 * CHUNK
TITLE_SCAN = 256 * 1024
PAGES_FORMAT = "json-pages-1.0"


def resource_name(path: str) -> str:
    """A Frictionless resource name (lower-case, ``-._`` only) for a package path."""
    return re.sub(r"[^a-z0-9._-]", "-", path.rsplit("/", 1)[-1].lower())


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class PackageWriter:
    """A ZIP being written: every file added is hashed and listed as a resource."""

    def __init__(self, path: Path, created: datetime) -> None:
        self.path = path
        self.tmp = path.with_name(path.name + ".part")
        self.zip = zipfile.ZipFile(self.tmp, "w", allowZip64=True)
        self.date_time = created.astimezone(UTC).timetuple()[:6]
        self.resources: list[dict[str, Any]] = []

    def _info(self, path: str, compress: bool) -> zipfile.ZipInfo:
        if any(r["path"] == path for r in self.resources):
            raise ValueError(f"{path} is already in the package")
        info = zipfile.ZipInfo(path, self.date_time)
        info.compress_type = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
        info.external_attr = 0o644 << 16
        return info

    def add_bytes(
        self, path: str, data: bytes, *, compress: bool = True, listed: bool = True
    ) -> str:
        self.zip.writestr(self._info(path, compress), data)
        digest = sha256_hex(data)
        if listed:
            self.resources.append(
                {
                    "name": resource_name(path),
                    "path": path,
                    "hash": f"sha256:{digest}",
                    "bytes": len(data),
                }
            )
        return digest

    def add_stream(
        self, path: str, stream: BinaryIO, size: int | None, *, compress: bool = False
    ) -> str:
        """Copy ``stream`` in chunks (bounded memory); the SHA-256 of what was copied.

        With its ``size`` known beforehand, an entry under 2 GiB gets no ZIP64
        extra field in its local header: wabac.js (ReplayWeb.page) takes a file's
        data to start 30 + name bytes after its local header whenever the central
        directory entry has no extra field, so a local-only ZIP64 field (what
        ``force_zip64`` writes) would shift every record it reads by 20 bytes.
        """
        info = self._info(path, compress)
        if size is not None:
            info.file_size = size
        digest, copied = hashlib.sha256(), 0
        with self.zip.open(info, "w", force_zip64=size is None) as out:
            while chunk := stream.read(CHUNK):
                digest.update(chunk)
                out.write(chunk)
                copied += len(chunk)
        if size is not None and copied != size:
            raise ValueError(f"{path}: copied {copied} bytes, expected {size}")
        size = copied
        self.resources.append(
            {
                "name": resource_name(path),
                "path": path,
                "hash": f"sha256:{digest.hexdigest()}",
                "bytes": size,
            }
        )
        return digest.hexdigest()

    def close(self, ok: bool) -> None:
        self.zip.close()
        if ok:
            os.replace(self.tmp, self.path)
        else:
            self.tmp.unlink(missing_ok=True)


def page_title(stream: BinaryIO, url: str) -> str | None:
    """The <title> of the first HTML response for ``url`` in a WARC (first 256 KiB)."""
    from warcio.archiveiterator import ArchiveIterator

    for record in ArchiveIterator(stream):
        if (
            record.rec_type == "response"
            and record.http_headers
            and record.rec_headers.get_header("WARC-Target-URI") == url
            and "html" in (record.http_headers.get_header("Content-Type") or "")
        ):
            text = record.content_stream().read(TITLE_SCAN).decode("utf-8", "replace")
            match = re.search(r"<title[^>]*>(.*?)</title>", text, re.IGNORECASE | re.DOTALL)
            return html.unescape(" ".join(match.group(1).split())) if match else None
    return None


@dataclass
class Collected:
    """What goes into warcflow/custody.json, gathered while writing."""

    captures: list[dict[str, Any]] = field(default_factory=list)
    objects: dict[str, str] = field(default_factory=dict)  # S3 key -> package path
    entries: dict[int, dict[str, Any]] = field(default_factory=dict)
    heads: dict[int, dict[str, Any]] = field(default_factory=dict)
    keys: dict[str, dict[str, Any]] = field(default_factory=dict)
    tsa: dict[str, dict[str, Any]] = field(default_factory=dict)
    cdxj: list[str] = field(default_factory=list)
    pages: list[dict[str, Any]] = field(default_factory=list)
    audits: dict[str, dict[str, Any]] = field(default_factory=dict)
    liveness: dict[str, Any] = field(default_factory=dict)
    proofs: dict[int, dict[str, Any]] = field(default_factory=dict)

    def doc(self, created: str, software: str) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "version": VERSION,
            "created": created,
            "software": software,
            "captures": self.captures,
            "objects": self.objects,
            "entries": [self.entries[i] for i in sorted(self.entries)],
            "heads": [self.heads[s] for s in sorted(self.heads)],
            "keys": list(self.keys.values()),
            "tsa": list(self.tsa.values()),
        }


@dataclass(frozen=True)
class Exported:
    path: Path
    sha256: str  # of the whole package file
    size: int
    datapackage_sha256: str
    export_key_sha256: str
    captures: tuple[str, ...]
    files: int
    uncovered: tuple[int, ...]  # entries not in a signed head yet
    signature: str = "anonymous"  # or "domain"
    time_stamped_by: str | None = None  # the TSA whose token is in signedData
    stamp_problems: tuple[str, ...] = ()  # TSAs that did not answer


class NoTimestamp(Exception):
    """A domain-signed package needs an RFC 3161 time-stamp and no TSA gave one."""


def _wrapped(kind: str, of: str, doc: dict[str, Any]) -> bytes:
    """A record under one key: Frictionless validators would take a top-level
    ``checks`` field (audit results, liveness records) for a checklist."""
    return json.dumps(
        {"schema": f"warcflow.export.{kind}", "of": of, kind: doc}, indent=1, ensure_ascii=False
    ).encode()


class _Builder:
    def __init__(self, store: ObjectStore, writer: PackageWriter, trust: Trust) -> None:
        self.store = store
        self.w = writer
        self.trust = trust
        self.leaves = LeafCache(store)
        self.c = Collected()
        self.titles: dict[str, str | None] = {}
        """A page WARC's title by its key (a WARC packed first as another capture's
        original keeps the title it has when its own capture is packed)."""

    def object(self, key: str, path: str) -> str:
        """Stream stored object ``key`` into the package at ``path``."""
        if key in self.c.objects:
            return self.c.objects[key]
        found = self.store.head(key)
        stream = self.store.open(key)
        try:
            compress = path.endswith((".json", ".cdxj", ".html"))
            self.w.add_stream(path, stream, found.size if found else None, compress=compress)
        finally:
            stream.close()
        self.c.objects[key] = path
        return path

    def warc(self, key: str, name: str, page_url: str | None = None) -> tuple[str, str | None]:
        """A WARC into archive/: copied, indexed and (for a page) its title found."""
        if key in self.c.objects:
            return self.c.objects[key], self.titles.get(key)
        path = f"archive/{name}.warc.gz"
        with tempfile.SpooledTemporaryFile(max_size=SPOOL) as spool:
            source = self.store.open(key)
            try:
                while chunk := source.read(CHUNK):
                    spool.write(chunk)
            finally:
                source.close()
            spool.seek(0)
            stream = cast(BinaryIO, spool)
            index = cdxj_from_warc(stream, path.removeprefix("archive/"))
            self.c.cdxj += index.decode("utf-8").splitlines()
            title = None
            if page_url:
                spool.seek(0)
                title = page_title(stream, page_url)
            size = spool.seek(0, os.SEEK_END)
            spool.seek(0)
            self.w.add_stream(path, stream, size)
        self.c.objects[key] = path
        self.titles[key] = title
        return path, title

    def vouched_manifest(self, work_id: str, event: str, prefix: str) -> str | None:
        """The manifest key (under ``prefix``) that ``work_id``'s ``event`` ledger entry
        records, or None: then nothing in the ledger would vouch for packing it."""
        return next(
            (
                o.key
                for e in capture_entries(self.store, work_id)
                if e.event.event == event
                for o in e.event.objects
                if o.key.startswith(prefix)
            ),
            None,
        )

    def originals(self, manifest: Manifest) -> list[dict[str, Any]]:
        """The earlier captures whose records this capture's ``revisit`` records
        point at (requisites stored once, ``archivers.warc.payloads``): each
        one's WARC, manifest and ledger entries come too, so the package replays
        on its own and every packed WARC has a ledger entry vouching for it."""
        out = []
        for capture_id, warc_key in sorted(manifest.originals().items()):
            manifest_key = self.vouched_manifest(capture_id, "capture", "manifests/")
            if manifest_key is None:
                continue  # nothing would vouch for it: verify names the revisit unresolved
            doc = json.loads(self.store.get_bytes(manifest_key))
            first: dict[str, Any] = {
                "capture_id": capture_id,
                "manifest": self.object(manifest_key, f"{DIR}{capture_id}.manifest.json"),
                "warc": self.warc(warc_key, capture_id, doc.get("final_url") or doc.get("url"))[0],
            }
            # what else its capture entry vouches for comes too (the verifier holds
            # every packed entry to all its objects): its index and screenshot; of
            # its entries only that one (never its notes, downloads or exports)
            self.optional(layout.index_key(capture_id), f"{DIR}{capture_id}.cdxj")
            shot = doc.get("screenshot_key")
            if shot:
                self.optional(shot, f"{DIR}{capture_id}.screenshot.{shot.rsplit('.', 1)[-1]}")
            first["entries"] = self.ledger(capture_id, only="capture")
            out.append(first)
        return out

    def replays_from(self, media: MediaManifest) -> dict[str, Any] | None:
        """A clip stored before is a ``revisit`` record in this capture's media WARC,
        pointing at the response of the capture that stored it first: that WARC
        comes too (with its manifest and ledger entries), so the package replays
        the clip on its own. None when the media was not deduplicated."""
        if not media.deduplicated or not media.sha256:
            return None
        try:
            first = json.loads(self.store.get_bytes(layout.first_seen_key(media.sha256)))
        except (KeyError, ValueError):
            return None
        first_id, warc_key = first.get("media_id"), first.get("warc_key")
        if not first_id or not warc_key or first_id == media.media_id:
            return None
        manifest_key = self.vouched_manifest(first_id, "media", "media-manifests/")
        if manifest_key is None:
            return None  # nothing would vouch for it
        return {
            "media_id": first_id,
            "manifest": self.object(manifest_key, f"{DIR}{first_id}.media-manifest.json"),
            "warc": self.warc(warc_key, first_id)[0],
            "entries": self.ledger(first_id),
        }

    def optional(self, key: str | None, path: str) -> str | None:
        if not key or self.store.head(key) is None:
            return None
        return self.object(key, path)

    def ledger(self, work_id: str, only: str | None = None) -> list[int]:
        """The entries of ``work_id`` (only its ``only`` events, if given), each with
        its proof against its covering head."""
        out = []
        for entry in capture_entries(self.store, work_id):
            if only is not None and entry.event.event != only:
                continue
            index = entry.index
            out.append(index)
            if index in self.c.entries:
                continue
            data = self.store.get_bytes(entry_key(index))
            Entry.from_data(data)  # refuses an entry that is not canonical
            path = f"{DIR}entry-{index:012d}.json"
            self.w.add_bytes(path, data)
            record: dict[str, Any] = {
                "index": index,
                "work_id": work_id,
                "event": entry.event.event,
                "path": path,
                "proof": None,
                "head": None,
            }
            head_key = covering_head_key(self.store, index)
            if head_key is not None:
                head = self.head(head_key)
                if head is not None:
                    hashes = self.leaves.hashes
                    proof = {
                        "index": index,
                        "size": head.size,
                        "leaf_hash": merkle.leaf_hash(data).hex(),
                        "audit_path": [
                            p.hex() for p in merkle.inclusion_proof(hashes, index, head.size)
                        ],
                        "root": head.root,
                        "head": self.c.heads[head.size]["path"],
                    }
                    record["proof"] = f"{DIR}proof-{index:012d}.json"
                    record["head"] = proof["head"]
                    self.w.add_bytes(record["proof"], json.dumps(proof, indent=1).encode())
                    self.c.proofs[index] = proof
            self.c.entries[index] = record
        return out

    def head(self, key: str) -> TreeHead | None:
        data = self.store.get_bytes(key)
        head = TreeHead.from_json(data)
        if head.size > len(self.leaves.hashes):
            return None  # entries are missing from the log: the audit says so
        if head.size in self.c.heads:
            return head
        path = f"{DIR}head-{head.size:012d}.json"
        self.w.add_bytes(path, data)
        self.w.add_bytes(f"{DIR}head-{head.size:012d}.signed.bin", head.signing_input())
        self.w.add_bytes(f"{DIR}head-{head.size:012d}.sig", base64.b64decode(head.signature))
        tokens = []
        for token_key in self.store.list_keys(tokens_prefix(head.size)):
            base = token_key.rsplit("/", 1)[1]
            tsa = token_tsa(token_key)
            token_path = f"{DIR}token-{head.size:012d}-{base}"
            self.w.add_bytes(token_path, self.store.get_bytes(token_key), compress=False)
            token = self.store.get_bytes(token_key)
            try:
                stamped = iso_seconds(token_time(token))
            except TokenInvalid:
                stamped = None
            tokens.append(
                {"path": token_path, "tsa": tsa, "ca": self.tsa_cas(tsa), "stamped": stamped}
            )
        self.c.heads[head.size] = {
            "size": head.size,
            "path": path,
            "key_id": head.key_id,
            "timestamp": head.timestamp,
            "signed": f"{DIR}head-{head.size:012d}.signed.bin",
            "signature": f"{DIR}head-{head.size:012d}.sig",
            "tokens": tokens,
            "public_key": self.public_key(head.key_id),
        }
        return head

    def tsa_cas(self, name: str) -> list[str]:
        if name not in self.c.tsa:
            paths = []
            found = [(k, self.store.get_bytes(k)) for k in tsa_cert_keys(self.store, name)]
            if not found and name in self.trust.tsa_cas:
                found = [(f"{tsa_cert_prefix(name)}configured.pem", self.trust.tsa_cas[name])]
            for key, pem in found:
                path = f"{DIR}tsa-{key.rsplit('/', 1)[1]}"
                self.w.add_bytes(path, pem)
                paths.append(path)
            self.c.tsa[name] = {"name": name, "paths": paths}
        return self.c.tsa[name]["paths"]

    def public_key(self, key_id: str) -> str | None:
        if key_id not in self.c.keys:
            try:
                pem = self.store.get_bytes(public_key_key(key_id))
            except KeyError:
                return None
            path = f"{DIR}ledger-key-{key_id}.pem"
            self.w.add_bytes(path, pem)
            self.c.keys[key_id] = {"key_id": key_id, "path": path, "sha256": sha256_hex(pem)}
        return self.c.keys[key_id]["path"]

    def capture(self, manifest: Manifest) -> dict[str, Any]:
        cid = manifest.capture_id
        mkey = layout.manifest_key(manifest.url, cid)
        raw = json.loads(self.store.get_bytes(mkey))
        item: dict[str, Any] = {
            "capture_id": cid,
            "url": manifest.url,
            "manifest": self.object(mkey, f"{DIR}{cid}.manifest.json"),
            "warc": None,
            "title": None,
            "screenshot": None,
            "media": [],
        }
        if manifest.status == STORED and manifest.warc_key:
            item["warc"], item["title"] = self.warc(
                manifest.warc_key, cid, manifest.final_url or manifest.url
            )
            self.optional(layout.index_key(cid), f"{DIR}{cid}.cdxj")
        item["replays_from"] = self.originals(manifest)
        shot = raw.get("screenshot_key")
        if shot:
            ext = shot.rsplit(".", 1)[-1] if "." in shot.rsplit("/", 1)[-1] else "png"
            item["screenshot"] = self.optional(shot, f"{DIR}{cid}.screenshot.{ext}")
        for media in list_media(self.store, cid):
            mm = layout.media_manifest_key(cid, media.media_id)
            one: dict[str, Any] = {
                "media_id": media.media_id,
                "source_url": media.source_url,
                "status": media.status,
                "sha256": media.sha256,
                "manifest": self.object(mm, f"{DIR}{media.media_id}.media-manifest.json"),
                "warc": None,
                "original": None,
                "replays_from": None,
            }
            if media.status == STORED:
                if media.warc_key:
                    one["warc"], _ = self.warc(media.warc_key, media.media_id)
                    one["replays_from"] = self.replays_from(media)
                if media.key:
                    one["original"] = self.object(media.key, DIR + media.key.rsplit("/", 1)[1])
                for extra in (media.poster_key, (media.derived or {}).get("key")):
                    if extra:
                        self.optional(extra, DIR + extra.rsplit("/", 1)[1])
            one["entries"] = self.ledger(media.media_id)
            item["media"].append(one)
        item["entries"] = self.ledger(cid)
        try:
            liveness = json.loads(self.store.get_bytes(state_key(manifest.url)))
            item["liveness"] = f"{DIR}{cid}.liveness.json"
            self.w.add_bytes(
                item["liveness"], _wrapped("liveness", state_key(manifest.url), liveness)
            )
            self.c.liveness[cid] = liveness
        except KeyError:
            item["liveness"] = None
        audit = audit_capture(self.store, manifest, trust=self.trust, leaves=self.leaves).to_dict()
        item["audit"] = f"{DIR}{cid}.audit.json"
        self.w.add_bytes(item["audit"], _wrapped("audit", cid, audit))
        self.c.audits[cid] = audit
        self.c.pages.append(
            {
                "id": cid,
                "url": manifest.final_url or manifest.url,
                "ts": manifest.fetched_at or manifest.submitted_at,
                "title": item["title"] or manifest.url,
            }
        )
        self.c.captures.append(item)
        return item


def export(
    store: ObjectStore,
    manifests: list[Manifest],
    out: Path,
    signer: ExportSigner | DomainSigner,
    *,
    software: str,
    version: str,
    created: datetime,
    trust: Trust | None = None,
    title: str | None = None,
    stampers: list[Stamper] | None = None,
    clock: Callable[[], datetime] = utc_now,
) -> Exported:
    """Write the captures ``manifests`` (newest first) to ``out`` as a signed WACZ.

    ``created`` is when the export began (the files' times, custody.json, the
    report); datapackage.json's ``created`` is when it was signed, which
    ``signedData.created`` repeats and the time-stamp of the first answering TSA
    of ``stampers`` vouches for. A domain signature without a time-stamp raises
    ``NoTimestamp``. The file appears at ``out`` only when complete (written
    beside it, then renamed).
    """
    from archivers.export import report

    if not manifests:
        raise ValueError("nothing to export")
    created_text = _seconds(created)
    writer = PackageWriter(out, created)
    done = False
    try:
        builder = _Builder(store, writer, trust or Trust())
        for manifest in manifests:
            builder.capture(manifest)
        c = builder.c
        main = manifests[0]
        title = title or f"{main.url} ({len(manifests)} capture{'s' if len(manifests) > 1 else ''})"
        index = c.doc(created_text, software)
        context = report.Context(
            title=title,
            created=created_text,
            software=software,
            index=index,
            audits=c.audits,
            liveness=c.liveness,
            manifests=manifests,
            export_key_sha256=signer.fingerprint,
            proofs=c.proofs,
            signature=signer.mode,
        )
        writer.add_bytes(f"{DIR}report.html", report.html_report(context).encode())
        writer.add_bytes(f"{DIR}VERIFY.md", report.verify_md(context).encode())
        writer.add_bytes(INDEX, json.dumps(index, indent=1, ensure_ascii=False).encode())
        writer.add_bytes("indexes/index.cdxj", ("\n".join(sorted(c.cdxj)) + "\n").encode())
        pages = [{"format": PAGES_FORMAT, "id": "pages", "title": title}, *c.pages]
        writer.add_bytes(
            "pages/pages.jsonl",
            "".join(json.dumps(p, ensure_ascii=False) + "\n" for p in pages).encode(),
        )
        sums = "".join(
            f"{r['hash'].removeprefix('sha256:')}  {r['path']}\n" for r in writer.resources
        )
        writer.add_bytes(f"{DIR}SHA256SUMS", sums.encode())
        signed_at = _seconds(clock())
        description = "warcflow evidence export"
        package = {
            "profile": "data-package",
            "wacz_version": WACZ_VERSION,
            "title": title,
            "description": description,
            "created": signed_at,
            "modified": signed_at,
            "software": software,
            "mainPageURL": main.final_url or main.url,
            "mainPageDate": main.fetched_at or main.submitted_at,
            "metadata": {"title": title, "desc": description},
            "resources": list(writer.resources),
        }
        package_bytes = json.dumps(package, indent=2, ensure_ascii=False).encode()
        package_sha = sha256_hex(package_bytes)
        writer.add_bytes("datapackage.json", package_bytes, listed=False)
        hash_text = f"sha256:{package_sha}"
        signed, stamped_by, problems = time_stamped(
            signer.signed_data(hash_text, signed_at, software, version), stampers or []
        )
        if signer.mode == "domain" and stamped_by is None:
            raise NoTimestamp(
                "a domain-signed package needs an RFC 3161 time-stamp over its signature "
                "and no TSA gave one (WARCFLOW_TSA): " + ("; ".join(problems) or "none configured")
            )
        digest = {"path": "datapackage.json", "hash": hash_text, "signedData": signed}
        writer.add_bytes(
            "datapackage-digest.json", json.dumps(digest, indent=2).encode(), listed=False
        )
        files = len(writer.resources) + 2
        done = True
    finally:
        writer.close(done)
    whole = hashlib.sha256()
    with open(out, "rb") as handle:
        while chunk := handle.read(CHUNK):
            whole.update(chunk)
    uncovered = tuple(i for i, e in sorted(c.entries.items()) if e["proof"] is None)
    return Exported(
        out,
        whole.hexdigest(),
        out.stat().st_size,
        package_sha,
        signer.fingerprint,
        tuple(m.capture_id for m in manifests),
        files,
        uncovered,
        signer.mode,
        stamped_by,
        tuple(problems),
    )


def _seconds(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
