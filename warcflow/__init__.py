"""warcflow: event-stream web archiving for evidence.

This package is the entry point only: the CLI, the typed settings and the
wiring of the parts (``streams``, ``archivers``, ``viewer``, ``infra``). No
part imports it.
"""

__version__ = "0.1.0"
