"""Automatic triggers: win-back 30/60/90, a greeting before a birthday and on holidays, a
warning before points burn, the balance digest, a nudge one purchase short of the next tier
and a request to rate a purchase. Each is one module declaring what it is (code, name,
episode, selection query, timing, built-in message: ``base.AutomaticTrigger``);
``registry`` lists them once, by priority; ``runner`` is the pass that sends them."""

from __future__ import annotations

from bot.marketing.triggers.registry import ORDER, TRIGGERS, named, trigger_name
from bot.marketing.triggers.runner import (
    Planned,
    held_out,
    run_pass,
    scheduled_hourly_pass,
    scheduled_pass,
)

__all__ = ["ORDER", "TRIGGERS", "Planned", "held_out", "named", "run_pass", "scheduled_hourly_pass",
           "scheduled_pass", "trigger_name"]
