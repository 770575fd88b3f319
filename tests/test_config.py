"""Configuration layering, secrets from files, masking and the errors that name the key."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from manireports.config import Settings, load_config, mask, sections
from manireports.errors import ConfigError

REPO = Path(__file__).resolve().parent.parent


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_without_any_file() -> None:
    config = load_config(environ={})
    assert config.path is None
    assert config.settings == Settings()
    assert config.settings.moodle.prefix == "mdl_"
    assert config.settings.reports.timeout_seconds == 300
    assert config.origin("moodle.prefix") == "default"


def test_file_then_environment(tmp_path: Path) -> None:
    path = write(
        tmp_path / "m.toml",
        '[moodle]\nprefix = "x_"\n[reports]\ntimeout_seconds = 60\n[email.smtp]\nport = 2525\n',
    )
    config = load_config(
        str(path),
        environ={"MANIREPORTS_REPORTS_TIMEOUT_SECONDS": "90", "MANIREPORTS_EMAIL_SMTP_HOST": "mx"},
    )
    assert config.settings.moodle.prefix == "x_"
    assert config.origin("moodle.prefix") == str(path)
    assert config.settings.reports.timeout_seconds == 90
    assert config.origin("reports.timeout_seconds") == "MANIREPORTS_REPORTS_TIMEOUT_SECONDS"
    assert config.settings.email.smtp.port == 2525
    assert config.settings.email.smtp.host == "mx"


def test_search_order_local_file_before_xdg(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    xdg = tmp_path / "xdg"
    (xdg / "manireports").mkdir(parents=True)
    write(xdg / "manireports" / "config.toml", '[moodle]\nprefix = "xdg_"\n')
    env = {"XDG_CONFIG_HOME": str(xdg)}
    assert load_config(environ=env).settings.moodle.prefix == "xdg_"
    write(tmp_path / "manireports.toml", '[moodle]\nprefix = "local_"\n')
    assert load_config(environ=env).settings.moodle.prefix == "local_"
    named = write(tmp_path / "named.toml", '[moodle]\nprefix = "named_"\n')
    env["MANIREPORTS_CONFIG"] = str(named)
    assert load_config(environ=env).settings.moodle.prefix == "named_"


def test_nested_sections_and_env_names(tmp_path: Path) -> None:
    path = write(tmp_path / "a.toml", "[analytics.at_risk]\nmin_time_minutes = 5\n")
    config = load_config(str(path), environ={"MANIREPORTS_ANALYTICS_ENGAGEMENT_WINDOW_DAYS": "7"})
    assert config.settings.analytics.at_risk.min_time_minutes == 5
    assert config.settings.analytics.engagement.window_days == 7


def test_secret_from_file_and_masking(tmp_path: Path) -> None:
    secret = write(tmp_path / "pw", "s3cr3t\n")
    path = write(
        tmp_path / "c.toml",
        f'[email.smtp]\npassword_file = "{secret}"\n'
        '[moodle]\nurl = "mysql+pymysql://rep:p%40ss@db/moodle"\n',
    )
    config = load_config(str(path), environ={})
    assert config.settings.email.smtp.password == "s3cr3t"
    assert "file" in config.origin("email.smtp.password")
    assert mask(config.settings.moodle.url) == "mysql+pymysql://rep:****@db/moodle"
    assert mask("s3cr3t") == "****"
    from_env = load_config(environ={"MANIREPORTS_CLOUD_AUTH_TOKEN_FILE": str(secret)})
    assert from_env.settings.cloud.auth_token == "s3cr3t"
    # A key whose own name ends in _file is a value, not a file to read.
    logged = load_config(environ={"MANIREPORTS_JOBS_LOG_FILE": str(secret)})
    assert logged.settings.jobs.log_file == str(secret)
    assert logged.origin("jobs.log_file") == "MANIREPORTS_JOBS_LOG_FILE"
    in_file = load_config(str(write(tmp_path / "j.toml", f'[jobs]\nlog_file = "{secret}"\n')))
    assert in_file.settings.jobs.log_file == str(secret)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[moodle]\nprefx = 'x'\n", "Unknown key 'moodle.prefx' in"),
        ("[modle]\nprefix = 'x'\n", "Unknown key 'modle' in"),
        ("[analytics]\nwindow_days = 7\n", "Unknown key 'analytics.window_days' in"),
        ("[email]\nsmtp = 'mx'\n", "email.smtp in"),
        ("[reports.max_rows]\nx = 1\n", "reports.max_rows in"),
        ("[reports]\ntimeout_seconds = 'ten'\n", "reports.timeout_seconds in"),
        ("[reports]\ndenied_tables = 'user'\n", "must be a list of text"),
        ("[cache]\nenabled = 1\n", "cache.enabled in"),
        ("[email.smtp]\nsecurity = 'ssl'\n", "email.smtp.security must be one of"),
        ("[moodle]\nprefix_file = '/x'\n", "only secrets can be read from files"),
        ("[moodle\n", "not valid TOML"),
    ],
)
def test_bad_files_name_the_key_and_file(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path / "bad.toml", text)
    with pytest.raises(ConfigError) as error:
        load_config(str(path), environ={})
    assert expected in str(error.value)
    assert error.value.exit_code == 2
    if "Unknown" in expected or "in" in expected.split()[-1]:
        assert str(path) in str(error.value)


def test_bad_environment_values() -> None:
    with pytest.raises(ConfigError, match="MANIREPORTS_REPORTS_MAX_ROWS"):
        load_config(environ={"MANIREPORTS_REPORTS_MAX_ROWS": "lots"})
    with pytest.raises(ConfigError, match="MANIREPORTS_MODLE_URL is not a manireports setting"):
        load_config(environ={"MANIREPORTS_MODLE_URL": "x"})
    # The test suite's own server URLs share the prefix and are not settings.
    served = load_config(environ={"MANIREPORTS_TEST_MARIADB": "mysql+pymysql://root@db/"})
    assert served.settings.moodle.url is None
    with pytest.raises(ConfigError, match="cannot be read"):
        load_config(environ={"MANIREPORTS_EMAIL_SMTP_PASSWORD_FILE": "/nonexistent/pw"})
    assert load_config(environ={"MANIREPORTS_CACHE_ENABLED": "no"}).settings.cache.enabled is False
    listed = load_config(environ={"MANIREPORTS_REPORTS_ALLOWED_TABLES": "user, course"})
    assert listed.settings.reports.allowed_tables == ("user", "course")


def test_an_unknown_key_is_named_with_the_keys_there_are(tmp_path: Path) -> None:
    path = write(tmp_path / "m.toml", "[email.smtp]\nhots = 'mx'\n")
    with pytest.raises(ConfigError) as refused:
        load_config(str(path), environ={})
    assert str(refused.value) == (
        f"Unknown key 'email.smtp.hots' in {path} (the keys are: host, port, security, username, "
        "password, timeout_seconds, password_file)."
    )


def test_named_file_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(str(tmp_path / "missing.toml"), environ={})


def test_example_file_documents_every_key_with_its_default() -> None:
    text = (REPO / "config.example.toml").read_text(encoding="utf-8")
    config = load_config(str(REPO / "config.example.toml"), environ={})
    document = tomllib.loads(text)
    defaults = dict(load_config(environ={}).items())
    for section, keys in sections().items():
        assert f"[{section}]" in text, section
        for key in keys:
            assert f"{key} = " in text, f"{section}.{key} is not documented"
            default = defaults[f"{section}.{key}"].value
            if default is not None:
                assert dict(config.items())[f"{section}.{key}"].value == default, key
    assert document["moodle"]["prefix"] == "mdl_"


# Values that make no sense, each with the words the refusal must contain.
NONSENSE = [
    ("reports", "timeout_seconds", 0, "at least 1"),
    ("reports", "max_rows", -1, "at least 1"),
    ("reports", "pdf_max_rows", 0, "at least 1"),
    ("email.smtp", "port", 0, "between 1 and 65535"),
    ("email.smtp", "port", 65536, "between 1 and 65535"),
    ("email.smtp", "timeout_seconds", -5, "at least 1"),
    ("retention", "runs_days", -1, "at least 0"),
    ("retention", "audit_days", -30, "at least 0"),
    ("schedule", "claim_timeout_seconds", 0, "at least 1"),
    ("cache", "ttl_trends_seconds", 0, "at least 1"),
    ("time_tracking", "heartbeat_idle_minutes", 0, "at least 1"),
    ("cloud", "batch_size", 0, "at least 1"),
    ("email", "max_attachment_mb", 0, "more than 0"),
]


@pytest.mark.parametrize(("section", "key", "value", "wanted"), NONSENSE)
def test_nonsense_numbers_are_refused_naming_the_key(
    tmp_path: Path, section: str, key: str, value: int, wanted: str
) -> None:
    path = write(tmp_path / "m.toml", f"[{section}]\n{key} = {value}\n")
    with pytest.raises(ConfigError) as refused:
        load_config(str(path), environ={})
    message = str(refused.value)
    assert f"{section}.{key}" in message and wanted in message and str(path) in message
    # The same value from the environment names the variable.
    variable = "MANIREPORTS_" + f"{section}_{key}".replace(".", "_").upper()
    with pytest.raises(ConfigError, match=variable):
        load_config(environ={variable: str(value)})


def test_edge_values_that_make_sense_are_kept() -> None:
    environ = {
        "MANIREPORTS_EMAIL_SMTP_PORT": "65535",
        "MANIREPORTS_REPORTS_MAX_ROWS": "1",
        "MANIREPORTS_RETENTION_RUNS_DAYS": "0",  # 0 keeps runs for ever
        "MANIREPORTS_SCHEDULE_RETRY_DELAY_SECONDS": "0",
        "MANIREPORTS_EMAIL_MAX_ATTACHMENT_MB": "0.0001",
    }
    config = load_config(environ=environ)
    assert config.settings.email.smtp.port == 65535
    assert config.settings.reports.max_rows == 1
    assert config.settings.retention.runs_days == 0


def test_cli_refuses_a_negative_max_rows_with_exit_2(tmp_path: Path) -> None:
    from tests.cli_runner import invoke

    path = write(tmp_path / "manireports.toml", "[reports]\nmax_rows = -1\n")
    result = invoke("--config", str(path), "run-report", "course_completion")
    assert result.returncode == 2
    message = result.stderr.decode()
    assert "reports.max_rows must be at least 1, not -1" in message
    assert "unexpected" not in message and "Traceback" not in message


@pytest.mark.parametrize(
    ("expression", "wanted"),
    [
        ("0 0 30 2 *", "never fires"),
        ("0 0 31 4 *", "never fires"),
        ("0 0 * * * *", "five-field"),
        ("0 0 * *", "five-field"),
    ],
)
def test_schedule_add_refuses_cron_that_never_fires_or_has_six_fields(
    tmp_path: Path, expression: str, wanted: str
) -> None:
    from tests.cli_runner import invoke

    result = invoke(
        "schedule", "add", "--report", "course_completion", "--name", "x",
        "--frequency", "cron", "--cron", expression, "--recipient", "a@example.org", "-f", "csv",
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    message = result.stderr.decode()
    assert "--cron" in message and wanted in message and "Traceback" not in message
