"""Submitting URLs to the ingest topic with kafka-python (CLI, viewer, scripts)."""

from __future__ import annotations

import socket
from dataclasses import dataclass

from streams.messages.capture import SubmitRequest
from streams.messages.seal import NO_KEYS, Seals
from streams.settings import KafkaAccess
from streams.topics import TopicNames


@dataclass(frozen=True)
class Submitted:
    request: SubmitRequest
    partition: int
    offset: int


class SubmitError(Exception):
    """The broker could not be reached or refused the messages."""


def _reachable(server: str) -> bool:
    host, _, port = server.strip().rpartition(":")
    try:
        with socket.create_connection((host.strip("[]") or "127.0.0.1", int(port)), timeout=3):
            return True
    except (OSError, ValueError):
        return False


class Submitter:
    """Produces ``SubmitRequest``s keyed by site (``TopicNames.key``); waits for the
    broker's acks (acks=all)."""

    def __init__(
        self,
        access: KafkaAccess,
        names: TopicNames,
        *,
        timeout: float = 30.0,
        seals: Seals = NO_KEYS,
    ) -> None:
        from kafka import KafkaProducer
        from kafka.errors import KafkaError

        self.names = names
        self.seals = seals
        self.timeout = timeout
        if not any(_reachable(server) for server in access.servers):
            # kafka-python would wait max_block_ms before saying so.
            raise SubmitError(f"cannot reach the Kafka broker at {access.bootstrap}")
        try:
            self._producer = KafkaProducer(
                **access.client_kwargs(),
                acks="all",
                linger_ms=5,
                client_id="warcflow-submit",
                max_block_ms=int(timeout * 1000),
                request_timeout_ms=int(timeout * 1000),
            )
        except KafkaError as exc:
            raise SubmitError(access.unreachable(exc)) from None

    def submit(self, requests: list[SubmitRequest]) -> list[Submitted]:
        from kafka.errors import KafkaError

        try:
            futures = [
                (
                    request,
                    self._producer.send(
                        self.names.ingest,
                        key=self.names.key(request.url),
                        value=request.to_json(),
                    ),
                )
                for request in requests
            ]
            self._producer.flush(self.timeout)
            done = []
            for request, future in futures:
                meta = future.get(self.timeout)
                done.append(Submitted(request, meta.partition, meta.offset))
            return done
        except KafkaError as exc:
            raise SubmitError(f"the broker did not accept the submission: {exc}") from None

    def resend(
        self, topic: str, key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes]]
    ) -> tuple[int, int]:
        """Produce one message as it is (a dead letter's original); (partition, offset)."""
        from kafka.errors import KafkaError

        try:
            future = self._producer.send(topic, key=key, value=value, headers=headers)
            self._producer.flush(self.timeout)
            meta = future.get(self.timeout)
            return meta.partition, meta.offset
        except KafkaError as exc:
            raise SubmitError(f"the broker did not accept the message: {exc}") from None

    def produce(self, topic: str, key: bytes | None, value: bytes) -> tuple[int, int]:
        """Produce one message this process made, sealed with its key if ``topic``
        is internal (``TopicNames.sealed``); (partition, offset)."""
        if topic in self.names.sealed():
            value = self.seals.seal(topic, value)
        return self.resend(topic, key, value, [])

    def close(self) -> None:
        self._producer.close(timeout=self.timeout)
