"""What the program counts for monitoring, as the places that count it see it: the core, the
outbox sender and the trigger pass call these, and the composition root gives them the
Prometheus implementation (bot/api/metrics.py); without one nothing is counted. Labels are
channel, outcome and trigger names only, never a person."""

from __future__ import annotations

from typing import Literal, Protocol

Outcome = Literal["answered", "duplicate", "failed"]


class Metrics(Protocol):
    def event_handled(self, channel: str, outcome: Outcome, seconds: float) -> None:
        """One inbound event: answered, skipped as a redelivery, or failed (apologised)."""

    def message_sent(self, channel: str) -> None:
        """The outbox delivered one message."""

    def retry_later(self, channel: str) -> None:
        """The platform asked the outbox to wait (Telegram's 429)."""

    def trigger_pass(self, seconds: float) -> None:
        """A trigger pass that sends (not a preview) took ``seconds``."""

    def trigger_queued(self, trigger: str, count: int) -> None:
        """A trigger pass committed ``count`` messages of ``trigger`` to the outbox."""


class NoMetrics:
    """Counts nothing (tests and tools that build a core without a web server)."""

    def event_handled(self, channel: str, outcome: Outcome, seconds: float) -> None:
        pass

    def message_sent(self, channel: str) -> None:
        pass

    def retry_later(self, channel: str) -> None:
        pass

    def trigger_pass(self, seconds: float) -> None:
        pass

    def trigger_queued(self, trigger: str, count: int) -> None:
        pass
