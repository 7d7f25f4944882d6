from __future__ import annotations

import pytest

from helpdesk.config import ConfigError, load_settings


def test_defaults_put_database_and_secret_in_instance_dir(tmp_path):
    settings = load_settings({"HELPDESK_INSTANCE_DIR": str(tmp_path)})
    assert settings.database_url == f"sqlite:///{tmp_path / 'helpdesk.sqlite3'}"
    key = (tmp_path / "secret_key").read_text()
    assert len(key) > 40 and settings["HELPDESK_SECRET_KEY"] == key
    assert load_settings({"HELPDESK_INSTANCE_DIR": str(tmp_path)})["HELPDESK_SECRET_KEY"] == key
    assert str(settings.timezone) == "Asia/Shanghai"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("HELPDESK_IMAP_PORT", "imap"),
        ("HELPDESK_SMTP_PORT", "70000"),
        ("HELPDESK_TIMEZONE", "Mars/Olympus"),
        ("HELPDESK_IMAP_SSL", "maybe"),
        ("HELPDESK_DATABASE_URL", "mysql://x"),
        ("HELPDESK_SECURE_COOKIES", "perhaps"),
        ("HELPDESK_IMAP_POLL_SECONDS", "-5"),
    ],
)
def test_bad_value_names_the_variable(tmp_path, name, value):
    with pytest.raises(ConfigError) as info:
        load_settings({"HELPDESK_INSTANCE_DIR": str(tmp_path), name: value})
    assert name in str(info.value)


def test_plain_postgresql_url_uses_psycopg3(tmp_path):
    settings = load_settings(
        {"HELPDESK_INSTANCE_DIR": str(tmp_path), "HELPDESK_DATABASE_URL": "postgresql://u@h/d"}
    )
    assert settings.database_url == "postgresql+psycopg://u@h/d"


def test_readme_documents_every_variable():
    from pathlib import Path

    from helpdesk.config import VARIABLES

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    missing = [v.name for v in VARIABLES if f"`{v.name}`" not in readme]
    assert missing == []
