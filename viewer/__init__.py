"""The viewer: find a post, see its timeline, replay a capture, check its evidence.

app.py       the FastAPI app: pages, the JSON API, /cdx for the replay server
files.py     evidence downloads (WARC, screenshot, media) with Range, as custody events
memento.py   Memento (RFC 7089) TimeGate and TimeMap
audits.py    audits of captures, one at a time per capture, cached
views.py     the capture objects the API and ``warcflow captures --json`` share
catalog.py   the SQLite catalog fed by the captures topic (and the merged CDXJ index)
replay.py    the pywb replay server, its own process and origin, reading WARCs from S3
server.py    runs the parts together (``warcflow viewer``)
settings.py  ``ViewerSettings``
"""
