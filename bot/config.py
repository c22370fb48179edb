"""The one typed configuration object: a TOML file, overridden by environment variables.

Environment variables use the prefix ``LOYALTY_`` and ``__`` between sections, e.g.
``LOYALTY_TELEGRAM__TOKEN=123:abc`` or ``LOYALTY_DATABASE__URL=postgresql+asyncpg://...``.
"""

from __future__ import annotations

import os
import re
import string
from datetime import datetime, time
from ipaddress import ip_network
from pathlib import Path
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

DEFAULT_CONFIG_PATH = Path("config.toml")
CONFIG_ENV = "LOYALTY_CONFIG"


# Upper bounds of the rules an admin may also change in the chat: a number past them would
# not fit the ledger's columns, the calendar (a date that many days ahead) or the formatting
MAX_POINTS = 1_000_000  # points given at once (a bonus, a gift, a reward's price)
MAX_DAYS = 36_500  # a hundred years
MAX_COUNT = 1_000_000_000  # thresholds and caps: purchases, points a day, messages a day


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a typo in config.toml is an error, not a default


class ShopSettings(Section):
    name: str = "Our shop"
    policy_url: str = "https://example.com/privacy"
    timezone: str = "Europe/Moscow"
    currency: str = "RUB"
    phone_region: str = "RU"  # how to read numbers typed without a country code


class DatabaseSettings(Section):
    url: str = "sqlite+aiosqlite:///loyalty.db"
    echo: bool = False


class WebSettings(Section):
    host: str = "127.0.0.1"
    port: int = 8080
    public_url: str = ""  # how the outside world reaches this server; defaults to http://host:port
    chat_enabled: bool = True
    # reverse proxies in front of the web processes (addresses or networks): only a request
    # from one of them says who the client is (X-Forwarded-For); empty: nobody is trusted
    trusted_proxies: list[str] = Field(default_factory=list)

    @field_validator("trusted_proxies")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        for address in value:
            try:
                ip_network(address.strip(), strict=False)
            except ValueError:
                raise ValueError(f"web.trusted_proxies: {address!r} is not an address or a "
                                 "network (e.g. 10.0.0.5 or 10.0.0.0/8)") from None
        return value

    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")


class TelegramSettings(Section):
    token: SecretStr | None = None
    mode: Literal["polling", "webhook"] = "polling"
    webhook_url: str = ""  # public https URL ending in webhook_path; defaults to web.public_url + path
    webhook_path: str = "/telegram/webhook"
    webhook_secret: SecretStr | None = None
    api_base: str = "https://api.telegram.org"


class ViberSettings(Section):
    token: SecretStr | None = None  # the bot's authentication token; Viber is on when it is set
    name: str = ""  # the sender name on every message (at most 28 characters); default shop.name
    avatar: str = ""  # the sender avatar URL (optional)
    webhook_path: str = "/viber/webhook"
    api_base: str = "https://chatapi.viber.com/pa"
    marketing: bool = True  # false: triggers and broadcasts skip Viber (its bot messages are paid)
    media_ttl_minutes: int = Field(default=24 * 60, ge=1)  # how long a picture link works


class MaxSettings(Section):
    """The MAX Bot API; the channel is on when the token is set."""

    token: SecretStr | None = None  # from the bot's page on the MAX platform (business.max.ru)
    mode: Literal["polling", "webhook"] = "polling"
    webhook_url: str = ""  # public https URL ending in webhook_path; defaults to web.public_url + path
    webhook_path: str = "/max/webhook"
    # sent back by MAX in X-Max-Bot-Api-Secret; default: one derived from the token
    webhook_secret: SecretStr | None = None
    api_base: str = "https://platform-api2.max.ru"
    username: str = ""  # the bot's name in max.ru/<name> links; read from the platform when empty
    poll_timeout: int = Field(default=30, ge=0, le=90)  # seconds a long poll waits for updates
    # a PEM file of CAs trusted besides the system's: the API's certificate is issued by the
    # Russian Trusted Root CA (Минцифры), which many systems do not carry
    ca_file: str = ""

    @field_validator("webhook_secret")
    @classmethod
    def _secret_as_max_takes_it(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not re.fullmatch(r"[A-Za-z0-9-]{5,256}", value.get_secret_value()):
            raise ValueError("max.webhook_secret: 5 to 256 characters, only A-Z, a-z, 0-9 and -")
        return value


class WhatsAppTemplate(Section):
    name: str  # the approved template's name in WhatsApp Manager
    language: str = "ru"  # the language it was approved in
    parameters: list[str] = Field(default_factory=list)  # the values for {{1}}, {{2}}, ...


class WhatsAppSettings(Section):
    """The WhatsApp Cloud API; the channel is on when the [whatsapp] section is present."""

    phone_id: str  # the business phone number's id (not the number)
    token: SecretStr  # a system user's permanent access token
    app_secret: SecretStr  # signs every webhook request (X-Hub-Signature-256)
    verify_token: SecretStr  # the token you type in the webhook set-up
    number: str = ""  # the business number, e.g. +79001234567: wa.me links in invitations
    webhook_path: str = "/whatsapp/webhook"
    api_base: str = "https://graph.facebook.com"
    api_version: str = "23.0"
    # per trigger name and "broadcast": what to send outside the 24-hour window
    templates: dict[str, WhatsAppTemplate] = Field(default_factory=dict)


class CardSettings(Section):
    secret: SecretStr = SecretStr("")  # HMAC key for QR tokens; generated into the database if empty
    token_ttl_minutes: int = Field(default=10, ge=1, le=24 * 60)


class AppleWalletSettings(Section):
    """Apple Wallet: the shop's own pass type (developer.apple.com → Identifiers → Pass Type
    IDs) and its certificate; the section's presence turns the «Add to Apple Wallet» button on."""

    pass_type_id: str = Field(min_length=1)  # pass.com.example.loyalty
    team_id: str = Field(min_length=1)  # the developer account's team id (10 characters)
    certificate: Path  # the pass type certificate, PEM
    key: Path  # its private key, PEM
    key_password: SecretStr | None = None
    wwdr_certificate: Path  # Apple's WWDR intermediate certificate (G4), PEM
    web_service_url: str = ""  # the pass web service for devices; default web.public_url + /wallet/apple
    push_url: str = "https://api.push.apple.com"  # APNs (HTTP/2 with the pass certificate)
    push_ca_file: Path | None = None  # trust this CA for push_url instead of the system's (tests)


class GoogleWalletSettings(Section):
    """Google Wallet: the shop's issuer account (pay.google.com/business/console) and a
    service account allowed to edit it; the section's presence turns «Add to Google Wallet» on."""

    issuer_id: str = Field(min_length=1, pattern=r"^\d+$")
    service_account_key: Path  # the service account's JSON key file
    class_id: str = Field(default="loyalty", pattern=r"^[\w.-]+$")  # after "<issuer_id>."
    api_base: str = "https://walletobjects.googleapis.com/walletobjects/v1"
    logo_url: str = ""  # the program logo (public https); default: one the app serves
    requests_per_second: float = Field(default=10, gt=0)  # the Wallet API's quota is per project


class WalletSettings(Section):
    """The card in the phone's wallet, as well as in the chat (bot/wallet/)."""

    barcode_days: int = Field(default=90, ge=1, le=730)  # how long a wallet barcode is accepted
    link_hours: int = Field(default=24, ge=1)  # how long an «Add to … Wallet» link works
    background_color: str = Field(default="#1F2937", pattern=r"^#[0-9A-Fa-f]{6}$")
    foreground_color: str = Field(default="#FFFFFF", pattern=r"^#[0-9A-Fa-f]{6}$")
    label_color: str = Field(default="#D1D5DB", pattern=r"^#[0-9A-Fa-f]{6}$")
    logo: Path | None = None  # a square PNG (at least 660×660 for Google); default: a plain square
    apple: AppleWalletSettings | None = None
    google: GoogleWalletSettings | None = None


class Tier(Section):
    code: str
    name: str = Field(default="", max_length=32)  # shown to customers (translated when a default name)
    min_purchases: int = Field(ge=0, le=MAX_COUNT)
    # in currency units; used when program.tier_basis = "spend"
    min_spend: int = Field(default=0, ge=0, le=MAX_COUNT)
    cashback_percent: int = Field(ge=0, le=100)
    spend_share_percent: int = Field(ge=0, le=100)


def _default_tiers() -> list[Tier]:
    return [
        Tier(code="silver", name="Silver", min_purchases=1, cashback_percent=3, spend_share_percent=25),
        Tier(code="gold", name="Gold", min_purchases=5, cashback_percent=5, spend_share_percent=75),
        Tier(code="platinum", name="Platinum", min_purchases=7, cashback_percent=7, spend_share_percent=100),
    ]


class Reward(Section):
    code: str
    name: str = Field(min_length=1, max_length=64)
    points: int = Field(ge=1, le=1_000_000)


def _default_rewards() -> list[Reward]:
    return [
        Reward(code="coffee", name="A cup of coffee", points=150),
        Reward(code="dessert", name="A dessert", points=250),
    ]


class ProgramSettings(Section):
    welcome_bonus: int = Field(default=100, ge=0, le=MAX_POINTS)
    welcome_bonus_days: int = Field(default=90, ge=1, le=MAX_DAYS)
    purchase_points_days: int = Field(default=365, ge=1, le=MAX_DAYS)
    purchase_points_hold_days: int = Field(default=0, ge=0, le=MAX_DAYS)  # before they can be spent
    max_discount_percent: int = Field(default=15, ge=0, le=100)
    tier_basis: Literal["purchases", "spend"] = "purchases"
    tiers: list[Tier] = Field(default_factory=_default_tiers)
    profile_bonus: int = Field(default=50, ge=0, le=MAX_POINTS)
    profile_bonus_days: int = Field(default=365, ge=1, le=MAX_DAYS)
    review_bonus: int = Field(default=20, ge=0, le=MAX_POINTS)
    review_bonus_days: int = Field(default=90, ge=1, le=MAX_DAYS)
    low_rating_alert: int = Field(default=3, ge=1, le=5)  # this rating or lower alerts admins
    referral_bonus: int = Field(default=200, ge=0, le=MAX_POINTS)
    referral_bonus_days: int = Field(default=180, ge=1, le=MAX_DAYS)
    referral_daily_cap: int = Field(default=5, ge=0, le=MAX_COUNT)  # bonuses one referrer may earn a day
    refund_points_min_days: int = Field(default=30, ge=1, le=MAX_DAYS)  # returned points live at least this
    # velocity flags (0 = off): more purchases on one card, or more points given by one
    # cashier, in a shop-local day alert every admin
    velocity_card_purchases: int = Field(default=5, ge=0, le=MAX_COUNT)
    velocity_cashier_points: int = Field(default=5000, ge=0, le=MAX_COUNT)
    rewards: list[Reward] = Field(default_factory=_default_rewards)

    @model_validator(mode="after")
    def _distinct(self) -> ProgramSettings:
        """Tiers and rewards are told apart by code, tiers also by threshold."""
        for kind, codes in (("tier", [t.code for t in self.tiers]),
                            ("reward", [r.code for r in self.rewards])):
            if len(set(codes)) != len(codes):
                raise ValueError(f"two {kind}s have the same code")
        basis = [t.min_spend if self.tier_basis == "spend" else t.min_purchases for t in self.tiers]
        if len(set(basis)) != len(basis):
            raise ValueError("two tiers start at the same threshold")
        return self


class MetricsSettings(Section):
    # /metrics (Prometheus) answers only with this as a bearer token; unset: no /metrics
    token: SecretStr | None = None


class LocaleSettings(Section):
    default: str = "ru"
    available: list[str] = Field(default_factory=lambda: ["ru", "en"])


class OutboxSettings(Section):
    telegram_per_second: float = Field(default=30, gt=0)  # messages a second, all chats together
    telegram_per_chat_per_second: float = Field(default=1, gt=0)  # to one chat
    viber_per_second: float = Field(default=30, gt=0)
    viber_per_chat_per_second: float = Field(default=1, gt=0)
    whatsapp_per_second: float = Field(default=80, gt=0)  # Cloud API default throughput
    whatsapp_per_chat_per_second: float = Field(default=1, gt=0)
    max_per_second: float = Field(default=30, gt=0)  # MAX's documented limit: 30 requests a second
    max_per_chat_per_second: float = Field(default=1, gt=0)
    # of each channel's limit, kept for replies to people who just wrote (the outbox uses the rest)
    reply_share_percent: int = Field(default=10, ge=0, le=90)
    poll_seconds: float = Field(default=1, gt=0)  # how often the sender looks for due messages
    claim_lease_seconds: float = Field(default=120, gt=0)  # a claim older than this was cut short

    @property
    def outbox_share(self) -> float:
        """The part of each channel's limit the outbox uses (the rest is for replies)."""
        return 1 - self.reply_share_percent / 100


class SchedulerSettings(Section):
    # PostgreSQL: how often a waiting process tries to take the scheduler (or a messenger's
    # long polling) over, and how often the holder checks it still holds it; a dead
    # leader's jobs, or a dead poller's polling, resume within this time
    takeover_seconds: float = Field(default=5, gt=0)


#: What a trigger's own text may say: {name}, {balance}, {points} (the gift, or the points
#: that burn), {expires_on}, and the extras of its section (``Trigger.placeholders``).
PLACEHOLDERS = frozenset({"name", "balance", "points", "expires_on"})


class Trigger(Section):
    """A trigger's section ``triggers.<name>``; the trigger itself is its module in
    bot/marketing/triggers/."""

    placeholders: ClassVar[frozenset[str]] = frozenset()  # its own text's, beyond PLACEHOLDERS
    enabled: bool = True
    days: int = Field(default=0, ge=0, le=MAX_DAYS)  # the timing: days without a purchase / before the date
    gift_points: int = Field(default=0, ge=0, le=MAX_POINTS)
    gift_days: int = Field(default=30, ge=1, le=MAX_DAYS)  # how long the gift points live
    text: dict[str, str] = Field(default_factory=dict)  # locale -> the shop's own message

    def own_text(self, locale: str) -> str | None:
        return self.text.get(locale)


def _unknown_placeholders(text: str, allowed: set[str] | frozenset[str]) -> list[str]:
    try:
        fields = [field for _, field, _, _ in string.Formatter().parse(text) if field is not None]
    except ValueError as error:  # an unpaired { or }
        raise ValueError(f"{error} in {text!r} (write {{{{ and }}}} for braces)") from None
    return sorted({field for field in fields if field not in allowed})


class WinBack30(Trigger):
    days: int = Field(default=31, ge=1, le=MAX_DAYS)  # days without a purchase


class WinBack60(Trigger):
    days: int = Field(default=61, ge=1, le=MAX_DAYS)
    gift_points: int = Field(default=300, ge=0, le=MAX_POINTS)
    gift_days: int = Field(default=60, ge=1, le=MAX_DAYS)


class WinBack90(Trigger):
    days: int = Field(default=91, ge=1, le=MAX_DAYS)
    gift_points: int = Field(default=300, ge=0, le=MAX_POINTS)
    gift_days: int = Field(default=14, ge=1, le=MAX_DAYS)


class BirthdayTrigger(Trigger):
    days: int = Field(default=3, ge=0, le=MAX_DAYS)  # days before the birthday
    gift_points: int = Field(default=500, ge=0, le=MAX_POINTS)


class ExpiryWarning(Trigger):
    days: int = Field(default=10, ge=0, le=MAX_DAYS)  # days before a lot burns


class BalanceDigest(Trigger):
    placeholders = frozenset({"tier"})
    days_of_month: list[int] = Field(default_factory=lambda: [1, 15])  # local dates it is sent on

    @field_validator("days_of_month")
    @classmethod
    def _valid_days(cls, value: list[int]) -> list[int]:
        if any(not 1 <= d <= 31 for d in value):
            raise ValueError("days_of_month are 1..31")
        return value


class Holiday(Section):
    date: str  # "MM-DD", every year
    name: str  # shown in the greeting (translated when the catalog has it)
    gift_points: int | None = Field(default=None, ge=0)  # default: triggers.holidays.gift_points

    @field_validator("date")
    @classmethod
    def _month_day(cls, value: str) -> str:
        try:
            datetime.strptime(f"2000-{value}", "%Y-%m-%d")  # a leap year, so 02-29 is allowed
        except ValueError:
            raise ValueError("a holiday date is MM-DD") from None
        return value


def _default_holidays() -> list[Holiday]:
    return [Holiday(date="01-01", name="New Year"), Holiday(date="03-08", name="International Women's Day")]


class Holidays(Trigger):
    placeholders = frozenset({"holiday"})
    days: int = Field(default=0, ge=0, le=MAX_DAYS)  # days before the holiday
    dates: list[Holiday] = Field(default_factory=_default_holidays)


class TierNudge(Trigger):
    placeholders = frozenset({"tier"})  # one purchase short of the next tier (by purchase count)


class ReviewRequest(Trigger):
    placeholders = frozenset({"date", "amount"})
    # after the purchase; purchases older than 2 days are left
    hours: int = Field(default=3, ge=0, le=MAX_DAYS * 24)


class TriggersSettings(Section):
    holdout_percent: int = Field(default=10, ge=0, le=100)  # eligible customers who get nothing
    quiet_start: time = time(21, 0)  # messages wait from here ... (shop time zone)
    quiet_end: time = time(10, 0)  # ... until here
    daily_marketing_cap: int = Field(default=1, ge=0, le=MAX_COUNT)  # marketing messages a customer a day
    run_at: time = time(10, 5)  # when the daily pass runs (shop time zone)
    win_back_30: WinBack30 = Field(default_factory=WinBack30)
    win_back_60: WinBack60 = Field(default_factory=WinBack60)
    win_back_90: WinBack90 = Field(default_factory=WinBack90)
    birthday: BirthdayTrigger = Field(default_factory=BirthdayTrigger)
    expiry_warning: ExpiryWarning = Field(default_factory=ExpiryWarning)
    balance_digest: BalanceDigest = Field(default_factory=BalanceDigest)
    holidays: Holidays = Field(default_factory=Holidays)
    tier_nudge: TierNudge = Field(default_factory=TierNudge)
    review_request: ReviewRequest = Field(default_factory=ReviewRequest)

    @model_validator(mode="after")
    def _known_placeholders(self) -> TriggersSettings:
        for name in type(self).model_fields:
            config = getattr(self, name)
            if not isinstance(config, Trigger):
                continue
            allowed = PLACEHOLDERS | config.placeholders
            for locale, text in config.text.items():
                if unknown := _unknown_placeholders(text, allowed):
                    raise ValueError(
                        f"triggers.{name}.text.{locale}: unknown placeholder(s) "
                        f"{', '.join('{' + u + '}' for u in unknown)}; "
                        f"use {', '.join('{' + a + '}' for a in sorted(allowed))}")
        return self


class ConsoleSettings(Section):
    """The owner's console: how its figures are counted."""

    # a customer counts while they bought within this
    customer_days: int = Field(default=90, ge=1, le=MAX_DAYS)
    retention_spend: dict[str, float] = Field(default_factory=dict)  # "YYYY-MM" -> money spent
    # a purchase this soon after a broadcast counts
    attribution_days: int = Field(default=14, ge=1, le=MAX_DAYS)

    @field_validator("retention_spend")
    @classmethod
    def _months(cls, value: dict[str, float]) -> dict[str, float]:
        for month, amount in value.items():
            try:
                datetime.strptime(month, "%Y-%m")
            except ValueError:
                raise ValueError(f"retention_spend keys are months, YYYY-MM (not {month!r})") from None
            if amount < 0:
                raise ValueError("retention_spend amounts are not negative")
        return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="LOYALTY_", env_nested_delimiter="__", extra="forbid"
    )

    admins: list[str] = Field(default_factory=list)  # "telegram:12345", "web:<id>"
    shop: ShopSettings = Field(default_factory=ShopSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    web: WebSettings = Field(default_factory=WebSettings)
    telegram: TelegramSettings = Field(default_factory=TelegramSettings)
    viber: ViberSettings = Field(default_factory=ViberSettings)
    whatsapp: WhatsAppSettings | None = None
    max: MaxSettings = Field(default_factory=MaxSettings)
    card: CardSettings = Field(default_factory=CardSettings)
    program: ProgramSettings = Field(default_factory=ProgramSettings)
    locale: LocaleSettings = Field(default_factory=LocaleSettings)
    outbox: OutboxSettings = Field(default_factory=OutboxSettings)
    scheduler: SchedulerSettings = Field(default_factory=SchedulerSettings)
    triggers: TriggersSettings = Field(default_factory=TriggersSettings)
    console: ConsoleSettings = Field(default_factory=ConsoleSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    wallet: WalletSettings = Field(default_factory=WalletSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))


def load_settings(path: str | os.PathLike[str] | None = None) -> Settings:
    """Read the config file (``path``, else ``$LOYALTY_CONFIG``, else ./config.toml if it
    exists; otherwise the embedded defaults) with environment overrides on top."""
    chosen = path or os.environ.get(CONFIG_ENV)
    if chosen and not Path(chosen).exists():
        raise FileNotFoundError(f"config file not found: {chosen}")
    toml_file = Path(chosen) if chosen else DEFAULT_CONFIG_PATH

    class FileSettings(Settings):
        model_config = SettingsConfigDict(toml_file=toml_file)

    return FileSettings()
