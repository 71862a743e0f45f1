"""Exit codes of the ``warcflow`` command (docs/cli.md)."""

OK = 0
"""Success."""
FAILED = 1
"""The command ran but what it checked or did failed (e.g. a capture or health check)."""
USAGE = 2
"""Invalid input: bad arguments, a URL that cannot be captured, a bad setting."""
UNAVAILABLE = 3
"""A service (Kafka, S3) could not be reached or started."""
NOT_FOUND = 4
"""The capture or object asked for does not exist."""
PENDING = 5
"""Nothing failed, but what was asked cannot be answered yet: something expected
soon is still to come (``warcflow audit``: the next signed ledger head)."""
UNPINNED = 6
"""Every check held, but only against keys and certificates the checked thing
carries itself (``warcflow verify`` without --public-key/--tsa-ca/--trust or
--trust-embedded): a forger's own keys would pass the same way."""
