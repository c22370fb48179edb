"""The web chat in a real browser: headless Chromium, driven by Selenium, against the real
server listening on 127.0.0.1; a desktop window, and a phone's screen (375 × 667) for the
owner's console: charts as thumbnails that open full size, the settings, the command menu.

The server runs in the test's event loop; Selenium's blocking calls run in a worker thread
(``asyncio.to_thread``) so that the loop keeps serving the page and the WebSocket meanwhile.
Debian's Chromium and ChromeDriver are used directly, so Selenium Manager never downloads
anything.
"""

from __future__ import annotations

import asyncio
import base64
import os
import subprocess
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait
from sqlalchemy import select

from bot.loyalty.cards import format_card_number
from bot.storage.models import Customer

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
WAIT_SECONDS = 20
PNG_PREFIX = "data:image/png;base64,"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
NAME = "Anna <i>Smith</i>"  # markup in a name must show up as typed, never as markup
BIRTHDAY = "14.03.1990"
CHROMIUM_FLAGS = (
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
    "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-proxy-server",
    "--window-size=600,1000", "--lang=ru-RU",
)


@pytest.fixture
def chromium() -> None:
    """Skip where there is no browser; in CI a missing browser is a failure."""
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not path.is_file()]
    if missing:
        reason = (f"browser test needs {' and '.join(missing)} "
                  "(Debian: apt-get install chromium chromium-driver)")
        if os.environ.get("CI"):
            pytest.fail(f"CI is set but the {reason}")
        pytest.skip(reason)


@pytest.fixture
async def live_url(app) -> AsyncIterator[str]:  # type: ignore[no-untyped-def]
    """The real app on 127.0.0.1, on a port the OS picks."""
    runner = web.AppRunner(app.web, shutdown_timeout=2)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}/"
    finally:
        await app.channel("web").stop()  # close the browser's socket rather than wait for it
        await runner.cleanup()


PHONE = {"width": 375, "height": 667, "pixelRatio": 2}  # an iPhone SE's screen, in CSS pixels


def open_browser(profile: Path, phone: bool = False) -> WebDriver:
    options = Options()
    options.binary_location = str(CHROMIUM)
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.add_experimental_option("prefs", {"intl.accept_languages": "ru-RU,ru"})
    if phone:  # the viewport, touch and a mobile user agent, as Chrome's device mode has them
        options.add_experimental_option("mobileEmulation", {"deviceMetrics": PHONE})
    service = Service(str(CHROMEDRIVER), log_output=subprocess.DEVNULL)
    return webdriver.Chrome(service=service, options=options)


class ChatPage:
    """The chat as a person sees it; elements are found by their data-testid."""

    def __init__(self, driver: WebDriver) -> None:
        self.driver = driver
        self.wait = WebDriverWait(driver, WAIT_SECONDS)

    def until(self, condition: Callable[[WebDriver], Any], what: str) -> Any:
        return self.wait.until(condition, f"waited {WAIT_SECONDS}s for {what}")

    @property
    def input(self) -> WebElement:
        return self.driver.find_element(By.CSS_SELECTOR, '[data-testid="chat-input"]')

    def bot_says(self, text: str) -> WebElement:
        """The latest bot message containing ``text`` (waiting for it to arrive)."""
        def find(driver: WebDriver) -> WebElement | bool:
            for message in reversed(driver.find_elements(By.CSS_SELECTOR, '[data-testid="bot-message"]')):
                if text in message.text:
                    return message
            return False
        return self.until(find, f"a bot message with {text!r}")

    def press(self, payload: str) -> None:
        """Click the latest button sending ``payload``."""
        def clickable(driver: WebDriver) -> WebElement | bool:
            buttons = driver.find_elements(By.CSS_SELECTOR,
                                           f'[data-testid="chat-button"][data-payload="{payload}"]')
            last = buttons[-1] if buttons else None
            return last if last and last.is_displayed() and last.is_enabled() else False
        self.until(clickable, f"a {payload!r} button").click()

    def type(self, text: str) -> None:
        self.input.send_keys(text, Keys.ENTER)
        self.until(lambda d: self.input.get_attribute("value") == "", f"{text!r} to be sent")

    def my_messages(self) -> list[str]:
        return [m.text for m in self.driver.find_elements(By.CSS_SELECTOR, '[data-testid="my-message"]')]

    def element(self, testid: str) -> WebElement:
        return self.driver.find_element(By.CSS_SELECTOR, f'[data-testid="{testid}"]')

    def open_menu(self) -> dict[str, str]:
        """Tap the menu button: the commands it lists, with their descriptions."""
        self.until(lambda d: self.element("menu-button").is_displayed(), "the menu button")
        self.element("menu-button").click()
        self.until(lambda d: self.element("command-menu").is_displayed(), "the command menu")
        return {item.get_attribute("data-command"): item.text.split("\n", 1)[-1].strip()
                for item in self.driver.find_elements(By.CSS_SELECTOR, '[data-testid="menu-command"]')}

    def pick_command(self, command: str) -> None:
        self.driver.find_element(
            By.CSS_SELECTOR, f'[data-testid="menu-command"][data-command="{command}"]').click()
        self.until(lambda d: not self.element("command-menu").is_displayed(), "the menu to close")

    def js(self, script: str, *args: Any) -> Any:
        return self.driver.execute_script(script, *args)

    def no_sideways_scrolling(self) -> bool:
        return self.js("return document.documentElement.scrollWidth <= window.innerWidth"
                       " && document.body.scrollWidth <= window.innerWidth")


def sign_up_in_browser(driver: WebDriver, url: str) -> None:
    driver.get(url)
    chat = ChatPage(driver)
    assert driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == "ru"
    assert chat.input.get_attribute("placeholder") == "Напишите сообщение"
    greeting = chat.bot_says("Здравствуйте! Это программа лояльности «Coffee Point».")
    policy = greeting.find_element(By.CSS_SELECTOR, '[data-testid="link-button"]')
    assert policy.get_attribute("href") == "https://example.com/privacy"
    assert policy.get_attribute("rel") == "noopener noreferrer"

    chat.press("consent:yes")
    chat.bot_says("Введите номер телефона")
    chat.until(lambda d: chat.input.get_attribute("type") == "tel", "a phone field")
    assert chat.input.get_attribute("placeholder") == "Ваш номер телефона"
    chat.type("+7 900 123-45-67")

    chat.bot_says("Как к вам обращаться?")  # the web has no profile name to offer
    chat.until(lambda d: chat.input.get_attribute("type") == "text", "a text field again")
    chat.type(NAME)

    chat.bot_says("день рождения")
    chat.type(BIRTHDAY)

    welcome = chat.bot_says(f"Добро пожаловать в программу, {NAME}!")
    assert "+100 баллов" in welcome.text
    assert not driver.find_elements(By.CSS_SELECTOR, '[data-testid="chat-log"] i')
    assert chat.my_messages() == ["✅ Даю согласие", "+7 900 123-45-67", NAME, BIRTHDAY]
    assert not driver.find_element(By.CSS_SELECTOR, '[data-testid="status"]').is_displayed()


def show_card_in_browser(driver: WebDriver, card_number: str) -> None:
    chat = ChatPage(driver)
    chat.press("card")
    image = chat.until(EC.visibility_of_element_located((By.CSS_SELECTOR, '[data-testid="picture"]')),
                       "the card's QR code")
    chat.until(lambda d: d.execute_script("return arguments[0].complete && arguments[0].naturalWidth", image),
               "the QR code to be decoded")
    source = image.get_attribute("src")
    assert source.startswith(PNG_PREFIX)
    assert base64.b64decode(source.removeprefix(PNG_PREFIX), validate=True).startswith(PNG_SIGNATURE)
    assert image.size["width"] > 100 and image.size["height"] > 100

    caption = image.find_element(By.XPATH, "following-sibling::*[@data-testid='message-text']")
    assert f"Карта № {card_number}" in caption.text
    assert caption.location["y"] >= image.location["y"] + image.size["height"]  # under the QR code
    assert caption.is_displayed()


def close_browser(driver: WebDriver, screenshot: Path) -> None:
    try:
        driver.save_screenshot(str(screenshot))
    finally:
        driver.quit()


async def the_customer(app) -> Customer:  # type: ignore[no-untyped-def]
    async with app.core.unit_of_work() as uow:
        [customer] = (await uow.session.execute(select(Customer))).scalars().all()
        return customer


async def test_sign_up_and_show_the_card_in_a_real_browser(chromium, live_url, app, tmp_path):
    driver = await asyncio.to_thread(open_browser, tmp_path / "chromium-profile")
    try:
        await asyncio.to_thread(sign_up_in_browser, driver, live_url)
        customer = await the_customer(app)
        assert customer.name == NAME and customer.phone == "+79001234567"
        assert not customer.phone_verified
        await asyncio.to_thread(show_card_in_browser, driver, format_card_number(customer.card_number))
    finally:
        await asyncio.to_thread(close_browser, driver, tmp_path / "web-chat.png")
    assert (tmp_path / "web-chat.png").stat().st_size > 0


def close_the_chat_tab(driver: WebDriver) -> None:
    chat_tab = driver.current_window_handle
    driver.switch_to.new_window("tab")
    blank = driver.current_window_handle
    driver.switch_to.window(chat_tab)
    driver.close()
    driver.switch_to.window(blank)


def reopen_and_read(driver: WebDriver, url: str) -> list[str]:
    driver.get(url)
    chat = ChatPage(driver)
    chat.bot_says("Спасибо за покупку")
    return [m.text for m in driver.find_elements(By.CSS_SELECTOR, '[data-testid="bot-message"]')]


async def test_a_notice_sent_while_the_tab_was_closed_is_there_when_it_opens_again(
        chromium, live_url, app, tmp_path):
    from bot.handlers.notices import purchase_notifications
    from bot.loyalty.checkout import Checkout
    from bot.storage.models import OutboxMessage

    driver = await asyncio.to_thread(open_browser, tmp_path / "chromium-profile")
    try:
        await asyncio.to_thread(sign_up_in_browser, driver, live_url)
        await asyncio.to_thread(close_the_chat_tab, driver)
        await asyncio.sleep(0.5)  # the server sees the socket close
        customer = await the_customer(app)
        now = app.core.services.clock.now()
        async with app.core.unit_of_work() as uow:  # a purchase at the till meanwhile
            result = await Checkout(uow, app.core.services.clock, app.settings.program).purchase(
                customer_id=customer.id, outlet_id=(await uow.outlets.default()).id,
                receipt_id="R-1", amount=1_000_00)
            await app.core.notifier.enqueue(uow, purchase_notifications(result, app.settings), now)
            await uow.commit()
        assert await app.outbox.send_due() == 0  # nobody to show it to: kept for the visitor
        async with app.core.unit_of_work() as uow:
            assert (await uow.session.execute(select(OutboxMessage.status))).scalar_one() == "waiting"

        messages = await asyncio.to_thread(reopen_and_read, driver, live_url)
        assert any("Добро пожаловать в программу" in text for text in messages)  # the history
        assert "Спасибо за покупку на 1 000,00 ₽!" in messages[-1].replace("\xa0", " ")
        assert not any("Здравствуйте! Это программа" in text for text in messages[-2:])  # no restart
        async with app.core.unit_of_work() as uow:
            assert (await uow.session.execute(select(OutboxMessage.status))).scalar_one() == "sent"
    finally:
        await asyncio.to_thread(close_browser, driver, tmp_path / "web-chat-returned.png")


# --- the owner on a phone ----------------------------------------------------------------

def make_admin_in_browser(driver: WebDriver, url: str, payload: str) -> None:
    """Open the invite link as the person it was sent to would."""
    driver.get(f"{url}?start={payload}")
    ChatPage(driver).bot_says("Теперь вы администратор в «Coffee Point»")


def check_the_menu_lists_the_admins_commands(driver: WebDriver) -> None:
    chat = ChatPage(driver)
    commands = chat.until(lambda d: (menu := chat.open_menu()).get("stats") and menu,
                          "the admin's commands in the menu")
    assert commands["stats"] == "Статистика программы"
    assert commands["settings"] == "Настройки программы"
    assert {"segments", "broadcast", "customer", "staff", "export", "checkout", "card"} <= set(commands)
    assert chat.element("command-menu").rect["width"] <= chat.js("return window.innerWidth")
    chat.element("menu-button").click()  # a second tap closes it
    assert not chat.element("command-menu").is_displayed()


def show_the_charts_on_a_phone(driver: WebDriver) -> None:
    """/stats from the menu: two charts, each a thumbnail within the screen that opens full
    size on a tap and closes with a tap, Escape or Back."""
    chat = ChatPage(driver)
    chat.open_menu()
    chat.pick_command("stats")
    assert chat.my_messages()[-1] == "/stats"
    chat.bot_says("📊 За последние 30 дней")

    def decoded_charts(d: WebDriver) -> list[WebElement] | bool:
        pictures = d.find_elements(By.CSS_SELECTOR, '[data-testid="picture"]')
        done = len(pictures) == 2 and all(
            chat.js("return arguments[0].complete && arguments[0].naturalWidth", p) for p in pictures)
        return pictures if done else False

    weekly, cohort = chat.until(decoded_charts, "the two charts")
    viewport = chat.js("return window.innerWidth")
    assert viewport == PHONE["width"]
    for chart in (weekly, cohort):
        box = chat.js("const r = arguments[0].getBoundingClientRect();"
                      "return {left: r.left, right: r.right, width: r.width};", chart)
        assert 200 < box["width"] < viewport and box["left"] >= 0 and box["right"] <= viewport
        assert chat.js("return arguments[0].naturalWidth", chart) > box["width"]  # a thumbnail
    assert cohort.get_attribute("alt").startswith("Удержание по когортам")  # its caption
    assert chat.no_sideways_scrolling()

    thumbnail_width = cohort.rect["width"]
    viewer, full = chat.element("picture-viewer"), chat.element("picture-full")

    def open_full_size() -> None:
        chat.js("arguments[0].scrollIntoView()", cohort)
        cohort.click()
        chat.until(lambda d: viewer.is_displayed() and full.is_displayed(), "the full-size chart")
        assert full.get_attribute("src") == cohort.get_attribute("src")
        assert full.rect["width"] == 900 > thumbnail_width  # its own size, over the chat
        assert chat.element("picture-close").is_displayed()

    def closed(how: str) -> None:
        chat.until(lambda d: not viewer.is_displayed(), f"the viewer to close with {how}")
        assert cohort.is_displayed()  # back in the chat (Back did not leave the page)

    open_full_size()
    full.click()  # a tap anywhere
    closed("a tap")
    open_full_size()
    chat.element("picture-close").click()
    closed("the close button")
    open_full_size()
    driver.switch_to.active_element.send_keys(Keys.ESCAPE)
    closed("Escape")
    open_full_size()
    driver.back()
    closed("Back")
    assert chat.no_sideways_scrolling()


def show_the_program_settings_on_a_phone(driver: WebDriver) -> None:
    chat = ChatPage(driver)
    chat.type("/settings")
    screen = chat.bot_says("⚙️ Настройки программы")
    assert "Действующие правила (чтобы изменить, выберите раздел ниже):" in screen.text
    payloads = [b.get_attribute("data-payload")
                for b in screen.find_elements(By.CSS_SELECTOR, '[data-testid="chat-button"]')]
    assert any(p.startswith(("ps.on:", "ps.off:")) for p in payloads)
    assert {"pr.s:bonuses", "pr.s:tiers", "pr.s:rewards", "pr.s:history"} <= set(payloads)
    assert "ps.x" in payloads and "settings" in payloads  # edit a text; my customer settings
    viewport = chat.js("return window.innerWidth")
    for button in screen.find_elements(By.CSS_SELECTOR, '[data-testid="chat-button"]'):
        assert button.rect["x"] >= 0 and button.rect["x"] + button.rect["width"] <= viewport
    assert chat.no_sideways_scrolling()


def switch_to_english(driver: WebDriver) -> None:
    """Language is a customer setting: «My customer settings», then English. The page's own
    words and the menu follow at once, without a reload."""
    chat = ChatPage(driver)
    chat.press("settings")
    chat.bot_says("Настройки. Нажмите на тип сообщений")
    chat.press("settings:lang:en")
    chat.bot_says("Language: English")
    chat.until(lambda d: chat.input.get_attribute("placeholder") == "Type a message",
               "the English placeholder")
    assert chat.element("send").text == "Send"
    assert driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en"
    commands = chat.open_menu()
    assert commands["stats"] == "Program statistics" and commands["settings"] == "Program settings"
    chat.pick_command("settings")
    chat.bot_says("⚙️ Program settings")


async def test_the_owner_on_a_phone_sees_the_charts_full_size_the_settings_and_the_menu(
        chromium, live_url, app, tmp_path):
    from bot.console.invites import create_invite
    from bot.loyalty.checkout import Checkout

    driver = await asyncio.to_thread(open_browser, tmp_path / "chromium-profile", True)
    try:
        await asyncio.to_thread(sign_up_in_browser, driver, live_url)
        customer = await the_customer(app)
        async with app.core.unit_of_work() as uow:  # the invite, and purchases for the charts
            payload = await create_invite(uow, "admin", None, app.core.services.clock.now())
            checkout = Checkout(uow, app.core.services.clock, app.settings.program)
            outlet = (await uow.outlets.default()).id
            for receipt, amount in (("R-1", 450_00), ("R-2", 1_200_00)):
                await checkout.purchase(customer_id=customer.id, outlet_id=outlet,
                                        receipt_id=receipt, amount=amount)
            await uow.commit()
        await asyncio.to_thread(make_admin_in_browser, driver, live_url, payload)
        await asyncio.to_thread(check_the_menu_lists_the_admins_commands, driver)
        await asyncio.to_thread(show_the_charts_on_a_phone, driver)
        await asyncio.to_thread(show_the_program_settings_on_a_phone, driver)
        await asyncio.to_thread(switch_to_english, driver)
    finally:
        await asyncio.to_thread(close_browser, driver, tmp_path / "web-chat-phone.png")
