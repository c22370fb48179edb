"""The cashier at checkout, step one: find the customer by the card's QR code, the card
number or the phone (its verified owner; else whoever typed it, marked as not verified and
picked from a list when several people did), and show who it is. The next steps:
checkout_draft (amount, earn or pay with points), checkout_confirm (record it),
checkout_reward (give a reward).

States: ``checkout.find`` (typing a card number or a phone) → ``checkout.amount``
{customer_id} → ``checkout.draft`` / ``checkout.points`` {customer_id, outlet_id, amount,
receipt, spend}. The receipt id is made with the draft, so a confirmation tapped twice
records one purchase. Every button names what it acts on (the customer, the draft's receipt
or a key) and is refused once that is not what the checkout has open.
"""

from __future__ import annotations

from bot.config import Reward
from bot.core.context import Context
from bot.core.events import Event
from bot.core.keys import signed_payload, verified_payload
from bot.core.replies import Button, Reply, Text, keyboard
from bot.core.routing import Router
from bot.core.text import row_id
from bot.handlers.desk import STAFF, staff_only
from bot.loyalty.cards import CARD_DIGITS, format_card_number, normalize_card_number
from bot.loyalty.checkout import Checkout
from bot.loyalty.phones import normalize_phone
from bot.loyalty.tiers import current_tier, tier_label
from bot.storage.views import CustomerView
from bot.wallet.barcode import InvalidScan

router = Router()
router.gate(staff_only(router, STAFF))

SHOWN_MATCHES = 10  # customers who typed one phone, listed for the cashier to pick


def checkout_of(ctx: Context) -> Checkout:
    return Checkout(ctx.uow, ctx.services.clock, ctx.settings.program, ctx.services.timezone)


def money(ctx: Context, minor: int) -> str:
    return ctx.t.money(minor, ctx.settings.shop.currency)


def cancel_button(ctx: Context, customer_id: int, receipt: str = "") -> Button:
    return Button(ctx._("✖ Cancel"), f"co.cancel:{customer_id}:{receipt}")


def no_checkout(ctx: Context) -> list[Reply]:
    """For a button of a checkout that is no longer the open one."""
    return [Text(ctx._("This checkout is no longer open. Send /checkout to serve a customer."))]


def out_of_date(ctx: Context) -> list[Reply]:
    """For a button of another customer's screen than the one open now."""
    return [Text(ctx._("This screen is out of date: the checkout has moved on to another "
                       "customer. Nothing was done."))]


def not_serving(ctx: Context, customer_id: str) -> list[Reply] | None:
    """Why a button of this customer's screen can't act now; None when they are the one at
    the checkout (a button never acts on whoever happens to be open)."""
    if not (ctx.state.name or "").startswith("checkout."):
        return no_checkout(ctx)
    if str(ctx.state.data.get("customer_id")) != customer_id:
        return out_of_date(ctx)
    return None


def called(customer: CustomerView) -> str:
    """How a confirmation names the customer: the name, else the card number."""
    return customer.name or format_card_number(customer.card_number)


@router.command("checkout")
@router.button("co.start")
async def start_checkout(event: Event, ctx: Context) -> list[Reply]:
    ctx.state.go("checkout.find")
    return [Text(ctx._("Type the customer's card number or phone number (or scan the QR code "
                       "of their card with the phone camera)."))]


@router.state("checkout.find")
async def find_customer(event: Event, ctx: Context) -> list[Reply]:
    _ = ctx._
    digits = "".join(ch for ch in event.text if not ch.isspace() and ch != "-")
    phone = normalize_phone(event.text.strip(), ctx.settings.shop.phone_region)
    if digits.isdecimal() and len(digits) == CARD_DIGITS:
        number = normalize_card_number(digits)
        customer = await ctx.uow.customers.by_card_number(number) if number else None
        if customer is not None:
            return await customer_screen(ctx, customer)
        if number is not None and await ctx.uow.shared_phones.merged(card_number=number):
            return merged_card(ctx)
        if phone is not None:  # twelve digits may be a phone, too
            return await find_by_phone(ctx, phone)
        if number is None:
            return [Text(_("This card number has a typo: its last (check) digit does not match. "
                           "Please check the number and type it again."))]
        return nobody(ctx)
    if phone is not None:
        return await find_by_phone(ctx, phone)
    return [Text(ctx.t.ngettext(
        "That is neither a card number ({digits} digit) nor a phone number. Please type one "
        "of them.",
        "That is neither a card number ({digits} digits) nor a phone number. Please type one "
        "of them.", CARD_DIGITS).format(digits=CARD_DIGITS))]


def nobody(ctx: Context) -> list[Reply]:
    return [Text(ctx._("No customer has this card number or phone. Please check it, or ask the "
                       "customer to show the card in the bot."))]


def merged_card(ctx: Context) -> list[Reply]:
    return [Text(ctx._("This card no longer works: it was joined with another card of the same "
                       "customer. Please ask the customer to open the card in the bot and scan "
                       "its QR code."))]


async def find_by_phone(ctx: Context, phone: str) -> list[Reply]:
    """The customer whose verified phone it is; else whoever typed it, picked from a list
    when several people did."""
    found = await ctx.uow.customers.with_phone(phone, SHOWN_MATCHES)
    if not found:
        return nobody(ctx)
    if found[0].phone_verified or len(found) == 1:
        return await customer_screen(ctx, found[0])
    rows = [[Button(ctx._("{name} · {card} · phone not verified").format(
        name=called(customer), card=format_card_number(customer.card_number)),
        signed_payload(ctx.services.secret, ctx.identity.id, f"co.customer:{customer.id}"))]
        for customer in found]
    return [Text(ctx._("Several customers typed this phone number, and none of them has "
                       "verified it. Ask the customer's name, or better their card, and pick:"),
                 keyboard(*rows))]


async def serve_scanned_card(ctx: Context, scanned: str) -> list[Reply]:
    """A staff member opened a card's link (``card-<token>`` of the chat's QR code,
    ``pass-<token>`` of a wallet card's barcode): the checkout screen for that customer."""
    try:
        scan = ctx.services.scanner.verify(scanned, ctx.now)
    except InvalidScan as invalid:
        return code_not_valid(ctx, invalid.from_wallet)
    customer = await ctx.uow.customers.get(scan.card.customer_id)
    if customer is None and await ctx.uow.shared_phones.merged(customer_id=scan.card.customer_id):
        return merged_card(ctx)
    if customer is None:
        return code_not_valid(ctx, scan.from_wallet)
    return await customer_screen(ctx, customer)


def code_not_valid(ctx: Context, from_wallet: bool) -> list[Reply]:
    if from_wallet:  # the customer can't refresh a wallet card's code at the till
        return [Text(ctx._("The code of this wallet card is not valid any more. Please type the "
                           "card number under the code, or ask the customer to open the card in "
                           "the bot."))]
    return [Text(ctx._("This QR code is not valid any more. Please ask the customer to open "
                       "the card in the bot again and scan the new code."))]


@router.button("co.customer")
async def customer_again(event: Event, ctx: Context) -> list[Reply]:
    """``co.customer:<id>`` signed for this staff member (a made-up id is nobody's)."""
    payload = verified_payload(ctx.services.secret, ctx.identity.id, event.payload or "")
    if payload is None:
        return no_checkout(ctx)
    customer_id = row_id(payload.partition(":")[2])
    customer = await ctx.uow.customers.get(customer_id) if customer_id is not None else None
    if customer is None:
        return [Text(ctx._("This customer is no longer in the program."))]
    return await customer_screen(ctx, customer)


def customer_lines(ctx: Context, customer: CustomerView, balance: int) -> list[str]:
    tier = current_tier(customer.purchase_count, ctx.settings.program, customer.total_spent)
    return [
        ctx._("Customer: {name}").format(name=customer.name or "—"),
        ctx._("Card № {number}").format(number=format_card_number(customer.card_number)),
        ctx._("Tier: {tier} · Balance: {points}").format(
            tier=tier_label(tier, ctx._), points=ctx.t.points(balance)),
    ]


def affordable_rewards(ctx: Context, balance: int) -> list[Reward]:
    return [reward for reward in ctx.settings.program.rewards if reward.points <= balance]


def reward_button(ctx: Context, customer_id: int, balance: int) -> list[Button]:
    if not affordable_rewards(ctx, balance):
        return []
    return [Button(ctx._("🎁 Give a reward"), f"co.gifts:{customer_id}")]


def blocked_card(ctx: Context) -> Text:
    return Text(ctx._("⛔ An administrator blocked this card: it neither earns nor spends points "
                      "for now. Serve the purchase without the card."))


async def customer_screen(ctx: Context, customer: CustomerView) -> list[Reply]:
    balance = await ctx.ledger.balance(customer.id)
    lines = customer_lines(ctx, customer, balance)
    if customer.phone and not customer.phone_verified:
        lines.append(ctx._("⚠️ Phone not verified: the customer typed it. Check the name."))
    if customer.blocked_at is not None:
        ctx.state.clear()
        return [Text("\n".join(lines)), blocked_card(ctx)]
    ctx.state.go("checkout.amount", customer_id=customer.id)
    lines += ["", ctx._("Type the purchase amount, for example 1500 or 1500,50.")]
    buttons = keyboard(reward_button(ctx, customer.id, balance), [cancel_button(ctx, customer.id)])
    return [Text("\n".join(lines), buttons)]
