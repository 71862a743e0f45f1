"""Every schema on the topics (docs/formats.md).

base.py     the envelope: schema and version, SourceMessage, Undecodable
capture.py  ingest, media, retry, captures and dead-letter messages
custody.py  custody, head-request, recheck and liveness messages
seal.py     the seals on internal messages: which role made one (HMAC-SHA256),
            and which role may make which message
"""
