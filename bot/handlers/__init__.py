"""The handler registry: one module per feature, listed here in the order they apply."""

from __future__ import annotations

from bot.handlers import (
    balance,
    card,
    fallback,
    menu,
    rules,
    settings,
    signup,
    staff,
    status,
)
from bot.routing import Router

# Gates run in this order: staff invites and card scans work for anyone, sign-up comes
# before everything else, and unsupported input is answered once someone is a member.
MODULES = (staff, card, signup, fallback, menu, balance, status, rules, settings)


def build_router() -> Router:
    router = Router()
    for module in MODULES:
        router.include(module.router)
    return router
