"""The safe recording fetcher: every byte a capture fetches goes through here.

fetcher.py     Fetcher and FetchSettings: resolve once, check, pin, record, limit
recording.py   RecordedResponse and Exchange (the exact bytes), body decoding
addresses.py   the address policy (no loopback, private, metadata …) and the allow-list
resolver.py    name resolution (system, and a static one for tests)
politeness.py  HostGate: connection bounds per host and in all
tlsinfo.py     the TLS facts of a connection
"""
