"""Evidence that leaves the system: a signed WACZ, and its check with nothing but the file.

wacz.py    the package: WARCs, indexes, manifests, ledger entries and proofs, heads, tokens
verify.py  ``warcflow verify``: every check offline
report.py  the package's report.html and VERIFY.md
signer.py  the package signature
"""
