"""Page capture: the capture agent's work function.

archiver.py  PageArchiver: request in, WARC + manifest in the store, idempotently
static.py    the static mode: the page and its requisites through the fetcher
browser.py   the browser mode: Chromium renders, every request through the fetcher
modes.py     static, browser or auto, and the site rules that choose
"""
