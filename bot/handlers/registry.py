"""The handler registry: one module per feature, listed here in the order they apply."""

from __future__ import annotations

from bot.core.routing import Router
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
    console,
    console_segments,
    console_stats,
    customers,
    desk,
    export,
    fallback,
    feedback,
    feedback_reply,
    menu,
    merges,
    outlets,
    phone_check,
    profile,
    program,
    program_rules,
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
    unsubscribe,
)

# Gates run in this order: staff invites and card scans work for anyone, an admin's /start
# and /help open the console (before a cashier's desk), the staff's own routes (checkout,
# refunds, the staff list, trigger reports, an admin's /settings) come before sign-up (a
# cashier need not be a customer; anyone else is refused there, and anyone else's /settings
# passes on to the customer's), sign-up comes before everything else, then a member's
# shared contact, and unsupported input is answered once someone is a member.
MODULES = (staff, card, console, desk, checkout, checkout_draft, checkout_points,
           checkout_confirm, checkout_reward, refund, team, blocks, merges, outlets, reports,
           broadcast, customers, feedback_reply, export, console_segments, console_stats, program,
           program_rules, signup, phone_check, fallback, menu, balance, status, rules, settings,
           unsubscribe, rewards, referral, feedback, profile)


def build_router() -> Router:
    router = Router()
    for module in MODULES:
        router.include(module.router)
    return router
