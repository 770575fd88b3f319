"""Configuration: defaults < TOML file < MANIREPORTS_* environment < command-line flags.

Every value remembers where it came from so `config show` can say so. Secrets are never taken from
flags (they would show in `ps`); they come from the file, the environment, or a `<key>_file` whose
content is the secret. Unknown keys and values of the wrong type are refused with the key and the
file named, because a typo in a cron host's config should fail loudly, not fall back to a default.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from manireports.errors import ConfigError

# (type, default, secret). Types: str, int, float, bool, list (of str); "str?" is optional text.
_Spec = tuple[str, Any, bool]

SCHEMA: dict[str, dict[str, _Spec]] = {
    "moodle": {
        "url": ("str?", None, True),
        "prefix": ("str", "mdl_", False),
        "config_php": ("str?", None, False),
        "mysql_driver": ("str", "auto", False),
        "wwwroot": ("str?", None, False),
    },
    "state": {
        "url": ("str?", None, True),
    },
    "site": {
        "timezone": ("str?", None, False),
    },
    "reports": {
        "timeout_seconds": ("int", 300, False),
        "max_rows": ("int", 5_000_000, False),
        "pdf_max_rows": ("int", 50_000, False),
        "denied_tables": (
            "list",
            [
                "sessions",
                "external_tokens",
                "external_services_users",
                "user_private_key",
                "user_password_history",
                "user_password_resets",
                "oauth2_access_token",
                "oauth2_refresh_token",
                "oauth2_issuer",
                "auth_oauth2_linked_login",
                "config_plugins",
                "messageinbound_datakeys",
                "tool_mfa",
                "tool_mfa_secrets",
            ],
            False,
        ),
        "denied_columns": (
            "list",
            ["user.password", "user.secret", "config.value", "registration_hubs.token"],
            False,
        ),
        "allowed_tables": ("list", [], False),
    },
    "time_tracking": {
        "session_timeout_minutes": ("int", 10, False),
        "single_event_seconds": ("int", 0, False),
        "include_site_events": ("bool", True, False),
        "origins": ("list", ["web"], False),
        "heartbeat_extend_minutes": ("int", 5, False),
        "heartbeat_idle_minutes": ("int", 10, False),
    },
    # Checked, with the rules between the values, by manireports.analytics.
    "analytics.engagement": {
        "time_weight": ("float", 0.3, False),
        "login_weight": ("float", 0.2, False),
        "completion_weight": ("float", 0.3, False),
        "interaction_weight": ("float", 0.2, False),
        "window_days": ("int", 30, False),
    },
    "analytics.at_risk": {
        "min_time_minutes": ("int", 60, False),
        "max_days_since_access": ("int", 14, False),
        "min_completion_percent": ("float", 25.0, False),
        "min_engagement": ("float", 30.0, False),
        "at_risk_score": ("int", 50, False),
    },
    "schedule": {
        "retries": ("int", 3, False),
        "retry_delay_seconds": ("int", 300, False),
        "max_concurrent": ("int", 1, False),
        "claim_timeout_seconds": ("int", 3600, False),
    },
    "jobs": {
        "lock_dir": ("str?", None, False),
        "log_file": ("str?", None, False),
    },
    "email": {
        "transport": ("str", "smtp", False),
        "from": ("str", "manireports@localhost", False),
        "max_attachment_mb": ("float", 10.0, False),
        "templates_dir": ("str?", None, False),
    },
    "email.smtp": {
        "host": ("str", "localhost", False),
        "port": ("int", 25, False),
        "security": ("str", "none", False),
        "username": ("str?", None, False),
        "password": ("str?", None, True),
        "timeout_seconds": ("int", 30, False),
    },
    "cloud": {
        "enabled": ("bool", False, False),
        "mode": ("str", "api_gateway", False),
        "endpoint": ("str?", None, False),
        "auth_token": ("str?", None, True),
        "callback_secret": ("str?", None, True),
        "callback_url": ("str?", None, False),
        "batch_size": ("int", 200, False),
        "email_provider": ("str", "ses", False),
        "queue_url": ("str?", None, False),
        "region": ("str?", None, False),
        "submit_retries": ("int", 3, False),
        "submit_retry_delay_seconds": ("float", 1.0, False),
        # `cloud serve-callbacks`: how long a client may take to send one request, and how many
        # may be connected at once.
        "callback_read_timeout_seconds": ("float", 10.0, False),
        "callback_max_connections": ("int", 50, False),
    },
    "cache": {
        "enabled": ("bool", True, False),
        "ttl_dashboard_seconds": ("int", 3600, False),
        "ttl_trends_seconds": ("int", 21600, False),
        "ttl_historical_seconds": ("int", 86400, False),
    },
    "retention": {
        "sessions_days": ("int", 365, False),
        "daily_days": ("int", 730, False),
        "runs_days": ("int", 90, False),
        "cache_days": ("int", 7, False),
        "audit_days": ("int", 0, False),
        "cloud_jobs_days": ("int", 180, False),
    },
    "storage": {
        "dir": ("str?", None, False),
        # Octal permission bits of the report files and the SQLite state database it creates.
        "file_mode": ("str", "0600", False),
    },
    # `manireports health`: how many minutes may pass between runs of each cron job (0: the job
    # is not deployed here, so its age is not checked), and the free-space and lag thresholds.
    "health": {
        "aggregate_time_minutes": ("int", 120, False),
        "run_due_minutes": ("int", 45, False),
        "build_cache_minutes": ("int", 720, False),
        "scorm_summary_minutes": ("int", 120, False),
        "cleanup_minutes": ("int", 2880, False),
        "free_space_warning_mb": ("int", 1024, False),
        "free_space_critical_mb": ("int", 100, False),
        "time_lag_warning_minutes": ("int", 180, False),
        "time_lag_critical_minutes": ("int", 1440, False),
    },
    "alerts": {
        "recipients": ("list", [], False),
        "after_failures": ("int", 3, False),
    },
    "export": {
        "csv_formula_guard": ("bool", True, False),
        "pdf_fonts": ("list", [], False),
    },
}

CHOICES: dict[str, tuple[str, ...]] = {
    "email.transport": ("smtp", "cloud"),
    "email.smtp.security": ("none", "starttls", "tls"),
    "cloud.mode": ("api_gateway", "sqs"),
    "moodle.mysql_driver": ("auto", "pymysql", "mysqlclient"),
}

# (lowest, highest) a number may take; None leaves that side open. A zero timeout or a negative
# row limit has no meaning, and would otherwise surface as a confusing error deep inside a run.
BOUNDS: dict[str, tuple[float | None, float | None]] = {
    "reports.timeout_seconds": (1, None),
    "reports.max_rows": (1, None),
    "reports.pdf_max_rows": (1, None),
    "time_tracking.session_timeout_minutes": (1, None),
    "time_tracking.single_event_seconds": (0, None),
    "time_tracking.heartbeat_extend_minutes": (1, None),
    "time_tracking.heartbeat_idle_minutes": (1, None),
    "schedule.retries": (0, None),
    "schedule.retry_delay_seconds": (0, None),
    "schedule.max_concurrent": (1, None),
    "schedule.claim_timeout_seconds": (1, None),
    "email.max_attachment_mb": (0, None),  # and not 0 itself (below)
    "email.smtp.port": (1, 65535),
    "email.smtp.timeout_seconds": (1, None),
    "cloud.batch_size": (1, None),
    "cloud.submit_retries": (0, None),
    "cloud.submit_retry_delay_seconds": (0, None),
    "cache.ttl_dashboard_seconds": (1, None),
    "cache.ttl_trends_seconds": (1, None),
    "cache.ttl_historical_seconds": (1, None),
    # 0 keeps the data for ever.
    "retention.sessions_days": (0, None),
    "retention.daily_days": (0, None),
    "retention.runs_days": (0, None),
    "retention.cache_days": (0, None),
    "retention.audit_days": (0, None),
    "retention.cloud_jobs_days": (0, None),
}

# Numbers that must be more than their lowest bound, not equal to it.
_ABOVE_LOWEST = frozenset({"email.max_attachment_mb"})

ENV_PREFIX = "MANIREPORTS_"
# Variables that are not configuration keys but steer where the configuration is found.
_ENV_NOT_KEYS = {"MANIREPORTS_CONFIG"}


@dataclass(frozen=True)
class Setting:
    """One effective value and the place it came from ("default", a file path, or a variable)."""

    value: Any
    origin: str
    secret: bool


def data_dir() -> Path:
    """Where manireports keeps the demo database, the default state database and stored files."""
    import platformdirs

    return Path(platformdirs.user_data_dir("manireports", appauthor=False))


def _env_name(section: str, key: str) -> str:
    return ENV_PREFIX + f"{section}_{key}".replace(".", "_").upper()


def _env_index() -> dict[str, tuple[str, str]]:
    index: dict[str, tuple[str, str]] = {}
    for section, keys in SCHEMA.items():
        for key, (_type, _default, secret) in keys.items():
            index[_env_name(section, key)] = (section, key)
            if secret:
                index[_env_name(section, key) + "_FILE"] = (section, key + "_file")
    return index


def _coerce(kind: str, value: Any, where: str) -> Any:
    """Check a value from TOML against its declared type; the error names key and place."""
    ok: bool
    if kind in ("str", "str?"):
        ok = isinstance(value, str)
    elif kind == "int":
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif kind == "float":
        if isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        ok = isinstance(value, float)
    elif kind == "bool":
        ok = isinstance(value, bool)
    elif kind == "list":
        ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
    else:  # pragma: no cover - the schema above only uses the kinds listed
        raise AssertionError(kind)
    if not ok:
        wanted = {"str": "text", "str?": "text", "list": "a list of text"}.get(kind, f"{kind}")
        raise ConfigError(f"{where} must be {wanted}, not {value!r}.")
    return value


def _parse_env(kind: str, raw: str, where: str) -> Any:
    """Environment values are text; read them the way an operator would write them."""
    try:
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
        if kind == "bool":
            lowered = raw.strip().lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
        if kind == "list":
            return [part.strip() for part in raw.split(",") if part.strip()]
    except ValueError:
        raise ConfigError(f"{where} must be {kind}, not {raw!r}.") from None
    return raw


def find_config_file(explicit: str | None, environ: Mapping[str, str]) -> Path | None:
    """--config, else MANIREPORTS_CONFIG (either must exist), else ./manireports.toml, else
    $XDG_CONFIG_HOME/manireports/config.toml (~/.config when unset)."""
    named = explicit or environ.get("MANIREPORTS_CONFIG")
    if named:
        path = Path(named).expanduser()
        if not path.is_file():
            source = "--config" if explicit else "MANIREPORTS_CONFIG"
            raise ConfigError(f"The configuration file {path} named by {source} does not exist.")
        return path
    candidates = [Path("manireports.toml")]
    xdg = environ.get("XDG_CONFIG_HOME")
    base = Path(xdg) if xdg else Path.home() / ".config"
    candidates.append(base / "manireports" / "config.toml")
    return next((c for c in candidates if c.is_file()), None)


class Config:
    """The effective configuration: typed getters and the origin of every key."""

    def __init__(self, settings: dict[str, Setting], path: Path | None) -> None:
        self._settings = settings
        self.path = path

    def get(self, key: str) -> Any:
        try:
            return self._settings[key].value
        except KeyError:
            raise KeyError(f"unknown configuration key {key}") from None

    def get_str(self, key: str) -> str:
        value = self.get(key)
        assert isinstance(value, str), key
        return value

    def get_opt_str(self, key: str) -> str | None:
        value = self.get(key)
        assert value is None or isinstance(value, str), key
        return value

    def get_int(self, key: str) -> int:
        value = self.get(key)
        assert isinstance(value, int), key
        return value

    def get_float(self, key: str) -> float:
        value = self.get(key)
        assert isinstance(value, (int, float)), key
        return float(value)

    def get_bool(self, key: str) -> bool:
        value = self.get(key)
        assert isinstance(value, bool), key
        return value

    def get_list(self, key: str) -> list[str]:
        value = self.get(key)
        assert isinstance(value, list), key
        return [str(v) for v in value]

    def origin(self, key: str) -> str:
        return self._settings[key].origin

    def items(self) -> Iterator[tuple[str, Setting]]:
        yield from self._settings.items()

    def with_overrides(self, overrides: Mapping[str, Any], origin: str = "flag") -> Config:
        """Flags win over everything else; used by the CLI for --url style options."""
        settings = dict(self._settings)
        for key, value in overrides.items():
            if value is not None:
                settings[key] = Setting(value, origin, settings[key].secret)
        return Config(settings, self.path)

    def state_dir(self) -> Path:
        return data_dir()

    def storage_dir(self) -> Path:
        configured = self.get_opt_str("storage.dir")
        return Path(configured).expanduser() if configured else data_dir() / "files"

    def file_mode(self) -> int:
        """`[storage] file_mode` as permission bits: read and write bits only, owner included."""
        text = self.get_str("storage.file_mode")
        mode = int(text, 8) if re.fullmatch(r"0?[0-7]{3}", text) else -1
        if mode < 0 or mode & 0o111 or (mode & 0o600) != 0o600:
            raise ConfigError(
                f"storage.file_mode must be octal permissions like 0600 or 0640 that let the "
                f"owner read and write and nobody execute, not {text!r} "
                f"(from {self.origin('storage.file_mode')})."
            )
        return mode

    def lock_dir(self) -> Path:
        configured = self.get_opt_str("jobs.lock_dir")
        return Path(configured).expanduser() if configured else data_dir() / "locks"


def _read_secret_file(path_text: str, where: str) -> str:
    path = Path(path_text).expanduser()
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"{where} names {path}, which cannot be read ({exc.strerror}).") from None


def _flatten(table: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, str, Any]]:
    """Yield (section, key, value) from a TOML document, sections joined with dots."""
    for name, value in table.items():
        section = f"{prefix}.{name}" if prefix else name
        if isinstance(value, dict):
            nested_sections = [k for k in value if isinstance(value[k], dict)]
            plain = {k: v for k, v in value.items() if k not in nested_sections}
            for key, item in plain.items():
                yield section, key, item
            for child in nested_sections:
                yield from _flatten({child: value[child]}, section)
        else:
            yield prefix, name, value


def load_config(
    explicit_path: str | None = None, environ: Mapping[str, str] | None = None
) -> Config:
    """Build the effective configuration from defaults, the TOML file and the environment."""
    env = os.environ if environ is None else environ
    settings: dict[str, Setting] = {}
    for section, keys in SCHEMA.items():
        for key, (_kind, default, secret) in keys.items():
            settings[f"{section}.{key}"] = Setting(default, "default", secret)

    path = find_config_file(explicit_path, env)
    if path is not None:
        import tomllib

        try:
            document = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path} is not valid TOML: {exc}.") from None
        except OSError as exc:
            raise ConfigError(f"{path} cannot be read ({exc.strerror}).") from None
        for section, key, value in _flatten(document):
            _apply(settings, section, key, value, f"{section}.{key} in {path}", str(path), False)

    index = _env_index()
    for name, raw in env.items():
        if not name.startswith(ENV_PREFIX) or name in _ENV_NOT_KEYS:
            continue
        if name not in index:
            raise ConfigError(
                f"The environment variable {name} is not a manireports setting; "
                "check its spelling against config.example.toml."
            )
        section, key = index[name]
        _apply(settings, section, key, raw, f"the environment variable {name}", name, True)

    config = Config(settings, path)
    for key, choices in CHOICES.items():
        if config.get(key) not in choices:
            raise ConfigError(
                f"{key} must be one of {', '.join(choices)}, not {config.get(key)!r} "
                f"(from {config.origin(key)})."
            )
    config.file_mode()
    for key in BOUNDS:
        check_bounds(key, config.get(key), config.origin(key))
    return config


def check_bounds(key: str, value: float, origin: str) -> None:
    """Refuse a number outside the range that makes sense for `key`, naming the key."""
    lowest, highest = BOUNDS[key]
    above = key in _ABOVE_LOWEST
    too_low = lowest is not None and (value <= lowest if above else value < lowest)
    too_high = highest is not None and value > highest
    if not (too_low or too_high or value != value):  # value != value: NaN from the environment
        return
    if lowest is not None and highest is not None:
        wanted = f"between {lowest:g} and {highest:g}"
    elif lowest is not None:
        wanted = f"more than {lowest:g}" if above else f"at least {lowest:g}"
    else:
        wanted = f"at most {highest:g}"
    raise ConfigError(f"{key} must be {wanted}, not {value!r} (from {origin}).")


def _apply(
    settings: dict[str, Setting],
    section: str,
    key: str,
    value: Any,
    where: str,
    origin: str,
    from_env: bool,
) -> None:
    keys = SCHEMA.get(section)
    file_key = key.endswith("_file") and keys is not None and key[: -len("_file")] in keys
    if keys is None or (key not in keys and not file_key):
        if keys is None:
            raise ConfigError(f"Unknown section [{section}] ({where}).")
        raise ConfigError(f"Unknown key {section}.{key} ({where}).")
    if file_key:
        base = key[: -len("_file")]
        if not SCHEMA[section][base][2]:
            raise ConfigError(
                f"{section}.{key} is not allowed: only secrets can be read from files."
            )
        if not isinstance(value, str):
            raise ConfigError(f"{where} must be a file path.")
        settings[f"{section}.{base}"] = Setting(
            _read_secret_file(value, where), f"{origin} (file {value})", True
        )
        return
    kind, _default, secret = keys[key]
    parsed = _parse_env(kind, value, where) if from_env else _coerce(kind, value, where)
    settings[f"{section}.{key}"] = Setting(parsed, origin, secret)


def mask(value: Any) -> str:
    """Render a secret for display: a URL keeps its shape with only the password hidden."""
    if value is None:
        return ""
    text = str(value)
    if "://" in text:
        scheme, rest = text.split("://", 1)
        if "@" not in rest:
            return text
        credentials, host = rest.rsplit("@", 1)
        user = credentials.split(":", 1)[0]
        return f"{scheme}://{user}:****@{host}" if ":" in credentials else text
    return "****" if text else ""
