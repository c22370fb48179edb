"""HTTP APIs for machines (till software), beside the chat channels."""

from bot.api.pos import install

__all__ = ["install"]
