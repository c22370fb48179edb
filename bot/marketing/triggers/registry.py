"""Every automatic trigger, listed once, in the order the pass applies them: a customer due
for several on one day gets the first ones, up to the daily cap of marketing messages. The
pass, the scheduler, /triggers, the preview and the WhatsApp templates read this list, and
/settings each trigger's name, timing and message (its lines follow the config's sections,
which tests/test_trigger_registry.py keeps naming the same triggers); a new trigger is its
own module and one line here (and its config section)."""

from __future__ import annotations

from collections.abc import Callable

from bot.marketing.triggers import win_back
from bot.marketing.triggers.balance_digest import BalanceDigest
from bot.marketing.triggers.base import AutomaticTrigger
from bot.marketing.triggers.birthday import Birthday
from bot.marketing.triggers.expiry_warning import ExpiryWarning
from bot.marketing.triggers.holidays import Holidays
from bot.marketing.triggers.review_request import ReviewRequest
from bot.marketing.triggers.tier_nudge import TierNudge

TRIGGERS: tuple[AutomaticTrigger, ...] = (
    Birthday(),
    Holidays(),
    ExpiryWarning(),
    win_back.THIRD,
    win_back.SECOND,
    win_back.FIRST,
    ReviewRequest(),
    TierNudge(),
    BalanceDigest(),
)
ORDER = tuple(trigger.name for trigger in TRIGGERS)  # by priority, under the daily cap
HOURLY = tuple(trigger.name for trigger in TRIGGERS if trigger.hourly)
_BY_NAME = {trigger.name: trigger for trigger in TRIGGERS}


def named(name: str) -> AutomaticTrigger:
    """The trigger of this code (KeyError: none is registered under it)."""
    return _BY_NAME[name]


def trigger_name(name: str, translate: Callable[[str], str] = str) -> str:
    """The trigger's one name in the reader's language (``translate``: their gettext; left
    out, English): the owner's /triggers report, the program settings and the command line
    all say it the same way, never the trigger's code. A code no longer in the program (its
    old sends still in a report) is spelt out as words."""
    if name in _BY_NAME:
        return translate(_BY_NAME[name].title)
    return name.replace("_", " ").capitalize()
