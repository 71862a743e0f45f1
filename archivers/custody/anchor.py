"""Which clock a signed head's time rests on: its TSAs', never its signer's alone.

A tree head carries two kinds of time. ``timestamp`` is what the ledger's
signer says; whoever holds the signing key (the operator, or anyone who takes
a worker over) can write any time there. Each RFC 3161 token over the head
file carries the TSA's ``genTime``: a third party's statement that the head
existed then. So:

- the **proof** of a head's time is the earliest ``genTime`` among the tokens
  that verify against a *trusted* CA (a TSA that answered later, after an
  outage, only adds a later bound; an unverified token counts for nothing);
- everything a head covers existed no later than that time: a capture's
  upper bound is the proof time of the *first* head covering its entry;
- the signer's time must agree with the proof within ``max_skew``
  (``WARCFLOW_LEDGER_MAX_SKEW``): the ledger stamps a head the moment it signs
  it and publishes no head that no TSA stamped, so a larger gap means the
  signer's clock was set elsewhere — back-dating — and the head fails with
  the reason ``skew``.

Invariant: ``HeadTime.problem`` is None only when at least one trusted token
verified and the signer's time is within ``max_skew`` of the earliest one.
Times are compared to the second (genTime as OpenSSL prints it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

DEFAULT_MAX_SKEW = 300.0
"""Seconds a head's signer time may differ from its earliest TSA time (the
setting's default): stamping follows signing at once, but a TSA that times out
(30 s each) delays the ones after it."""


def _second(t: datetime) -> datetime:
    return t.replace(microsecond=0)


def _iso(t: datetime) -> str:
    return f"{t:%Y-%m-%dT%H:%M:%SZ}"


@dataclass(frozen=True)
class HeadTime:
    """A head's signer time and the verified genTime of each TSA that stamped it."""

    signed: datetime
    stamped: dict[str, datetime] = field(default_factory=dict)
    max_skew: float = DEFAULT_MAX_SKEW

    @property
    def proof(self) -> tuple[str, datetime] | None:
        """(TSA name, genTime) of the earliest verified token, or None."""
        if not self.stamped:
            return None
        name = min(self.stamped, key=lambda n: (self.stamped[n], n))
        return name, self.stamped[name]

    @property
    def anchor(self) -> datetime | None:
        """The time the head is proven to have existed by (None: not proven)."""
        proof = self.proof
        return proof[1] if proof else None

    @property
    def skew(self) -> float | None:
        """Seconds from the signer's time to the proof (positive: the TSA is later)."""
        anchor = self.anchor
        if anchor is None:
            return None
        return (_second(anchor) - _second(self.signed)).total_seconds()

    @property
    def problem(self) -> str | None:
        skew = self.skew
        if skew is None:
            return (
                f"no trusted TSA token verifies: the head's time {_iso(self.signed)} is only "
                "its signer's claim, which proves nothing"
            )
        if abs(skew) > self.max_skew:
            name, anchor = self.proof or ("?", self.signed)
            direction = "before" if skew > 0 else "after"
            return (
                f"skew: the signer's time {_iso(self.signed)} is {abs(skew):.0f} s {direction} "
                f"the earliest TSA time {_iso(anchor)} ({name}), more than the "
                f"{self.max_skew:g} s allowed (WARCFLOW_LEDGER_MAX_SKEW): the head was "
                "back-dated or its signer's clock is wrong"
            )
        return None

    def describe(self) -> str:
        """Both times, and which one is the proof."""
        proof = self.proof
        if proof is None:
            return f"signer's time {_iso(self.signed)} (no proof: no trusted TSA token)"
        name, anchor = proof
        others = len(self.stamped) - 1
        return (
            f"proof: TSA {name} genTime {_iso(anchor)}"
            + (f" (earliest of {others + 1} TSAs)" if others else "")
            + f"; signer's time {_iso(self.signed)} (skew {self.skew:+.0f} s, "
            f"allowed ±{self.max_skew:g} s)"
        )
