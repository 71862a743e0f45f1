"""The viewer: find a post, see its timeline, replay a capture, check its evidence.

app.py       the FastAPI app: pages, the JSON API, /cdx for the replay server, /login
accounts.py  the viewer's accounts: roles, salted hashes, the 0600 file
auth.py      who a request is (token, session, proxy), sessions, the same-origin rule
ratelimit.py token buckets per account and per address (submits, downloads, logins)
files.py     evidence downloads (WARC, screenshot, media) with Range, as custody events
memento.py   Memento (RFC 7089) TimeGate and TimeMap
audits.py    audits of captures in a bounded background pool, cached by ledger head
views.py     the capture objects the API and ``warcflow captures --json`` share
catalog.py   the SQLite catalog fed by the captures topic (and the merged CDXJ index)
replay.py    the pywb replay server, its own process and origin, reading WARCs from S3
server.py    runs the parts together (``warcflow viewer``)
settings.py  ``ViewerSettings``
"""
