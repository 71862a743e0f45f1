"""Logged-in sessions: the encrypted vault, and which session a capture uses.

vault.py   the sessions (cookies, public handle) encrypted at rest, and their state
pool.py    the session a capture of a URL uses (rotation), and marking one expired
login.py   `session login`: the operator logs in in a browser, its cookies become a session
"""
