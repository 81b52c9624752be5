"""Settings come from the environment, validated once; a missing one names itself."""

from __future__ import annotations

import pytest
from upload_api.settings import Settings, SettingsError


def test_settings_read_bucket_and_table_from_the_environment():
    # GIVEN both variables set
    environ = {"BUCKET_NAME": "uploads-bucket", "TABLE_NAME": "products"}
    # WHEN settings are read
    settings = Settings.from_env(environ)
    # THEN they hold the values
    assert settings == Settings(bucket_name="uploads-bucket", table_name="products")


def test_settings_strip_surrounding_whitespace():
    # GIVEN values with stray whitespace (a copy-paste into a console)
    environ = {"BUCKET_NAME": " uploads-bucket\n", "TABLE_NAME": "\tproducts "}
    # WHEN settings are read
    settings = Settings.from_env(environ)
    # THEN the names are clean
    assert (settings.bucket_name, settings.table_name) == ("uploads-bucket", "products")


@pytest.mark.parametrize(
    ("environ", "missing"),
    [
        pytest.param({"TABLE_NAME": "products"}, "BUCKET_NAME", id="no-bucket"),
        pytest.param({"BUCKET_NAME": "uploads-bucket"}, "TABLE_NAME", id="no-table"),
        pytest.param({"BUCKET_NAME": "   ", "TABLE_NAME": "products"}, "BUCKET_NAME", id="blank-bucket"),
        pytest.param({"BUCKET_NAME": "uploads-bucket", "TABLE_NAME": ""}, "TABLE_NAME", id="empty-table"),
    ],
)
def test_missing_or_blank_variable_is_a_settings_error_naming_it(environ, missing):
    # GIVEN an environment without one of the variables
    # WHEN settings are read
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(environ)
    # THEN the error names the variable
    assert missing in str(caught.value)


def test_settings_default_to_the_process_environment(monkeypatch):
    # GIVEN the variables in the process environment
    monkeypatch.setenv("BUCKET_NAME", "from-env-bucket")
    monkeypatch.setenv("TABLE_NAME", "from-env-table")
    # WHEN settings are read without an explicit mapping
    settings = Settings.from_env()
    # THEN the process environment is used
    assert settings == Settings(bucket_name="from-env-bucket", table_name="from-env-table")


BASE = {"BUCKET_NAME": "uploads-bucket", "TABLE_NAME": "products"}


def test_flags_default_to_false_when_unset():
    # GIVEN neither flag in the environment
    # WHEN settings are read
    settings = Settings.from_env(BASE)
    # THEN active content is refused and no scan status is written
    assert (settings.allow_active_content, settings.malware_scanning) == (False, False)


@pytest.mark.parametrize(("text", "value"), [("true", True), ("false", False), (" TRUE\n", True)])
def test_flags_read_true_and_false(text, value):
    # GIVEN the flags as the stack writes them (any case, stray whitespace)
    environ = {**BASE, "ALLOW_ACTIVE_CONTENT": text, "MALWARE_SCANNING": text}
    # WHEN settings are read
    settings = Settings.from_env(environ)
    # THEN both hold the value
    assert (settings.allow_active_content, settings.malware_scanning) == (value, value)


@pytest.mark.parametrize("name", ["ALLOW_ACTIVE_CONTENT", "MALWARE_SCANNING"])
@pytest.mark.parametrize("text", ["yes", "1", "", "on"])
def test_a_flag_that_is_not_true_or_false_is_a_settings_error_naming_it(name, text):
    # GIVEN a flag spelled some other way
    # WHEN settings are read
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({**BASE, name: text})
    # THEN the error names the variable instead of guessing
    assert name in str(caught.value)
