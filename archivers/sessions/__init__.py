"""Logged-in sessions: the encrypted vault, and which session a capture uses.

vault.py    the sessions (cookies, public handle) encrypted at rest, and their state
state.py    the plain state file beside the vault: states and public facts (what the viewer reads)
pool.py     the session a capture of a URL uses (rotation), and marking one expired
notices.py  the event a marked session is, for its outputs (log, metrics, webhook)
webhook.py  the event POSTed to the operator's URL, in the background
login.py    `session login`: the operator logs in in a browser, its cookies become a session
"""
