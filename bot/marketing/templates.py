"""What a messenger's approved templates may stand for (WhatsApp's ``whatsapp.templates``):
a key is a trigger's name or ``broadcast``, and a template's parameters are values that
message carries. The app checks a channel's templates against this at start, so a key or a
parameter named wrongly is read in the log on the first day, not found weeks later as
failed sends."""

from __future__ import annotations

from bot.marketing.broadcasts import TEMPLATE, TEMPLATE_VALUES
from bot.marketing.triggers.registry import TRIGGERS


def catalogue() -> dict[str, tuple[str, ...]]:
    """Every template key and the values its message can fill a template with."""
    values = {trigger.name: trigger.template_parameters for trigger in TRIGGERS}
    values[TEMPLATE] = TEMPLATE_VALUES
    return values
