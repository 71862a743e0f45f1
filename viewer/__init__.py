"""Replay, timeline and Memento API over the captures in S3 (not built yet; issue 4)."""
