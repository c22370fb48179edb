"""The handler registry: one module per feature, listed here in the order they apply."""

from __future__ import annotations

from bot.handlers import (
    balance,
    blocks,
    broadcast,
    card,
    checkout,
    checkout_confirm,
    checkout_draft,
    checkout_points,
    checkout_reward,
    console_segments,
    console_stats,
    customers,
    desk,
    export,
    fallback,
    feedback,
    menu,
    merges,
    outlets,
    phone_check,
    profile,
    program,
    referral,
    refund,
    reports,
    rewards,
    rules,
    settings,
    signup,
    staff,
    status,
    team,
)
from bot.routing import Router

# Gates run in this order: staff invites and card scans work for anyone, the staff's own
# routes (checkout, refunds, the staff list, trigger reports, an admin's /settings) come
# before sign-up (a cashier need not be a customer; anyone else is refused there, and
# anyone else's /settings passes on to the customer's), sign-up comes before everything
# else, then a member's shared contact, and unsupported input is answered once someone is
# a member.
MODULES = (staff, card, desk, checkout, checkout_draft, checkout_points, checkout_confirm,
           checkout_reward, refund, team, blocks, merges, outlets, reports, broadcast, customers,
           export, console_segments, console_stats, program, signup, phone_check, fallback, menu,
           balance, status, rules, settings, rewards, referral, feedback, profile)


def build_router() -> Router:
    router = Router()
    for module in MODULES:
        router.include(module.router)
    return router
