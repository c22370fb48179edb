"""The one name of each automatic trigger that people read: the owner's /triggers report,
the program settings and the command line all say it the same way, never the trigger's code."""

from __future__ import annotations

from collections.abc import Callable

from bot.core.i18n import N_

TRIGGER_NAMES = {
    "win_back_30": N_("Win-back, 1st stage"),
    "win_back_60": N_("Win-back, 2nd stage"),
    "win_back_90": N_("Win-back, 3rd stage"),
    "birthday": N_("Birthday"),
    "holidays": N_("Holidays"),
    "expiry_warning": N_("Points about to burn"),
    "balance_digest": N_("Balance digest"),
    "tier_nudge": N_("One purchase to the next tier"),
    "review_request": N_("Review request"),
}


def trigger_name(trigger: str, translate: Callable[[str], str] = str) -> str:
    """The trigger's name in the reader's language (``translate``: their gettext; left out,
    English). A code no longer in the program (its old sends still in a report) is spelt
    out as words."""
    if trigger in TRIGGER_NAMES:
        return translate(TRIGGER_NAMES[trigger])
    return trigger.replace("_", " ").capitalize()
