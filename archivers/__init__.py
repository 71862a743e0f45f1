"""The capture side of warcflow: Kafka-free work functions, in wings by capability.

The folders follow a capture's route, bottom floor to top; a wing imports
only from the floors below it, never sideways on its own floor (the import
contracts in pyproject.toml hold this: ``make check``):

    floor 6  export/     the signed WACZ package of captures and their proofs, and its
                         offline verification (wacz, verify, report, signer)
    floor 5  capture/    page capture: the capture agent's work function (archiver),
                         static and browser modes, the site rules
             media/      media capture: the media agent's work function (archiver), the
                         fenced yt-dlp (the one module that knows yt-dlp), ffprobe/ffmpeg
             custody/    proof over time: the Merkle ledger, signed heads, RFC 3161 tokens,
                         fixity, liveness rechecks, the audit
    floor 4  warc/       the WARC writer and the CDXJ index
             manifests/  what an attempt came to (manifest, outcome, para 155 items),
                         reading manifests back (listing), the shared commit protocol
    floor 3  net/        the safe recording fetcher: address policy, resolver, connection
                         gate, recorded exchanges, TLS facts
             store/      object storage: the interface (base), S3 (s3), the fake
                         (memory), and the bucket layout (layout)
    floor 2  extract/    pure parsers over fetched text: requisites, media links, the
                         post's own identity (no I/O, no yt-dlp)
             urls.py     URL validation, canonical form, SURT
    floor 1  errors.py   the one exception tree (Retryable / Permanent) and the HTTP status rule
             clock.py    UTC-aware time and its one text form

The three work wings (capture, media, custody) never import one another: what
one needs of another (yt-dlp's verdict for a recheck, the media finder for a
page) is handed in by ``warcflow.wiring``. One heavy library lives in one
module: h11 in net/fetcher, boto3 in store/s3, playwright in capture/browser,
yt-dlp in media/ytdlp, ffmpeg in media/ffmpeg, openssl in custody/rfc3161.

Where a new thing goes: a new extractor of post metadata or media links is a
function in extract/ (media links) or extract/post.py (the post's identity),
or a yt-dlp extractor upstream; a new storage backend is one module in store/
implementing ``store.base.ObjectStore``, chosen in ``warcflow.wiring.store``;
a new watch kind is one parser module in ``streams/watchers/`` and one row of
``streams.watchers.kinds.KINDS``. See docs/architecture.md.
"""
