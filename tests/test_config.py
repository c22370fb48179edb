"""Configuration: the example file is complete and valid; the environment overrides it."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import Settings, load_settings

EXAMPLE = Path(__file__).resolve().parent.parent / "config.example.toml"


def test_example_config_loads_and_equals_the_embedded_defaults(monkeypatch):
    monkeypatch.delenv("LOYALTY_CONFIG", raising=False)
    assert load_settings(EXAMPLE).model_dump() == Settings().model_dump()


def test_environment_overrides_the_file(monkeypatch):
    monkeypatch.setenv("LOYALTY_TELEGRAM__TOKEN", "123:secret")
    monkeypatch.setenv("LOYALTY_WEB__PORT", "9000")
    settings = load_settings(EXAMPLE)
    assert settings.telegram.token is not None
    assert settings.telegram.token.get_secret_value() == "123:secret"
    assert "123:secret" not in repr(settings)
    assert settings.web.port == 9000


def test_a_missing_config_file_is_an_error():
    with pytest.raises(FileNotFoundError):
        load_settings("/nonexistent/config.toml")


def test_unknown_keys_are_refused(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text("[shop]\nnmae = 'typo'\n")
    with pytest.raises(ValueError):
        load_settings(path)


def test_trusted_proxies_are_addresses_or_networks(monkeypatch):
    monkeypatch.setenv("LOYALTY_WEB__TRUSTED_PROXIES", '["10.0.0.5", "10.1.0.0/16", "::1"]')
    assert load_settings(EXAMPLE).web.trusted_proxies == ["10.0.0.5", "10.1.0.0/16", "::1"]
    with pytest.raises(ValueError, match=r"'proxy\.local' is not an address or a network"):
        Settings(web={"trusted_proxies": ["proxy.local"]})
