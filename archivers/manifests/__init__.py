"""What a capture attempt came to, written once, and read back.

manifest.py  Manifest and MediaManifest (JSON, documented in docs/formats.md)
outcome.py   the outcome class of a capture (ok, partial, login_wall, deleted …)
berkeley.py  the Berkeley Protocol para 155 items a capture holds
commit.py    the idempotent commit shared by page and media capture
listing.py   the manifests of a URL or of a page's media, from the store
"""
