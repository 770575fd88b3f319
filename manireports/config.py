"""Configuration: defaults < TOML file < MANIREPORTS_* environment, read into typed `Settings`.

Every value remembers where it came from so `config show` can say so. Secrets are never taken from
flags (they would show in `ps`); they come from the file, the environment, or a `<key>_file` whose
content is the secret. Unknown keys and values of the wrong type are refused with the key and the
file named, because a typo in a cron host's config should fail loudly, not fall back to a default.
The library reads values as typed attributes (`config.settings.reports.max_rows`), so a
misspelt key in the code is a type error, not a KeyError at run time.
"""

# No `from __future__ import annotations`: the sections' annotations are then types already, and
# reading them costs nothing at start-up (typing.get_type_hints would evaluate each again).

import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal, NamedTuple, TypeVar

from manireports.documents import Key, check_value, keys_of, refuse_unknown_keys
from manireports.errors import ConfigError

T = TypeVar("T")

MysqlDriver = Literal["auto", "pymysql", "mysqlclient"]


class Bounds(NamedTuple):
    """The range a number must be in (None leaves that side open); `above`: more than `lowest`,
    not equal to it. A zero timeout or a negative row limit has no meaning, and would otherwise
    surface as a confusing error deep inside a run."""

    lowest: float | None
    highest: float | None = None
    above: bool = False


MASKED = "masked"
"""Marks a key that `config show` masks and that may also be read from `<key>_file`."""

Secret = Annotated[str | None, MASKED]
Positive = Annotated[int, Bounds(1)]
NotNegative = Annotated[int, Bounds(0)]


class MoodleSection(NamedTuple):
    url: Secret = None
    prefix: str = "mdl_"
    config_php: str | None = None
    mysql_driver: MysqlDriver = "auto"
    wwwroot: str | None = None


class StateSection(NamedTuple):
    url: Secret = None


class SiteSection(NamedTuple):
    timezone: str | None = None


class ReportsSection(NamedTuple):
    timeout_seconds: Positive = 300
    max_rows: Positive = 5_000_000
    pdf_max_rows: Positive = 50_000
    # How many of a dashboard's reports read the Moodle database at once (1: one after another).
    dashboard_parallel_reports: Annotated[int, Bounds(1, 8)] = 2
    denied_tables: tuple[str, ...] = (
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
    )
    denied_columns: tuple[str, ...] = (
        "user.password",
        "user.secret",
        "config.value",
        "registration_hubs.token",
    )
    allowed_tables: tuple[str, ...] = ()


class TimeTrackingSection(NamedTuple):
    session_timeout_minutes: Positive = 10
    single_event_seconds: NotNegative = 0
    include_site_events: bool = True
    origins: tuple[str, ...] = ("web",)
    heartbeat_extend_minutes: Positive = 5
    heartbeat_idle_minutes: Positive = 10


# [analytics.*] are checked, with the rules between the values, by manireports.analytics.
class EngagementSection(NamedTuple):
    time_weight: float = 0.3
    login_weight: float = 0.2
    completion_weight: float = 0.3
    interaction_weight: float = 0.2
    window_days: int = 30


class AtRiskSection(NamedTuple):
    min_time_minutes: int = 60
    max_days_since_access: int = 14
    min_completion_percent: float = 25.0
    min_engagement: float = 30.0
    at_risk_score: int = 50


class AnalyticsSection(NamedTuple):
    engagement: EngagementSection = EngagementSection()
    at_risk: AtRiskSection = AtRiskSection()


class ScheduleSection(NamedTuple):
    retries: NotNegative = 3
    retry_delay_seconds: NotNegative = 300
    max_concurrent: Positive = 1
    claim_timeout_seconds: Positive = 3600


class JobsSection(NamedTuple):
    lock_dir: str | None = None
    log_file: str | None = None


class SmtpSection(NamedTuple):
    host: str = "localhost"
    port: Annotated[int, Bounds(1, 65535)] = 25
    security: Literal["none", "starttls", "tls"] = "none"
    username: str | None = None
    password: Secret = None
    timeout_seconds: Positive = 30


class EmailSection(NamedTuple):
    transport: Literal["smtp", "cloud"] = "smtp"
    from_: str = "manireports@localhost"
    max_attachment_mb: Annotated[float, Bounds(0, above=True)] = 10.0
    templates_dir: str | None = None
    smtp: SmtpSection = SmtpSection()


class CloudSection(NamedTuple):
    enabled: bool = False
    mode: Literal["api_gateway", "sqs"] = "api_gateway"
    endpoint: str | None = None
    auth_token: Secret = None
    callback_secret: Secret = None
    callback_url: str | None = None
    batch_size: Positive = 200
    email_provider: str = "ses"
    queue_url: str | None = None
    region: str | None = None
    submit_retries: NotNegative = 3
    submit_retry_delay_seconds: Annotated[float, Bounds(0)] = 1.0
    # `cloud serve-callbacks`: how long a client may take to send one request, and how many
    # may be connected at once.
    callback_read_timeout_seconds: float = 10.0
    callback_max_connections: int = 50


class CacheSection(NamedTuple):
    enabled: bool = True
    ttl_dashboard_seconds: Positive = 3600
    ttl_trends_seconds: Positive = 21600
    ttl_historical_seconds: Positive = 86400


class RetentionSection(NamedTuple):
    """Days to keep each kind of data; 0 keeps it for ever."""

    sessions_days: NotNegative = 365
    daily_days: NotNegative = 730
    runs_days: NotNegative = 90
    cache_days: NotNegative = 7
    audit_days: NotNegative = 0
    cloud_jobs_days: NotNegative = 180


class StorageSection(NamedTuple):
    dir: str | None = None
    # Octal permission bits of the report files and the SQLite state database it creates.
    file_mode: str = "0600"


class HealthSection(NamedTuple):
    """`manireports health`: how many minutes may pass between runs of each cron job (0: the job
    is not deployed here, so its age is not checked), and the free-space and lag thresholds."""

    aggregate_time_minutes: int = 120
    run_due_minutes: int = 45
    build_cache_minutes: int = 720
    scorm_summary_minutes: int = 120
    cleanup_minutes: int = 2880
    free_space_warning_mb: int = 1024
    free_space_critical_mb: int = 100
    time_lag_warning_minutes: int = 180
    time_lag_critical_minutes: int = 1440


class AlertsSection(NamedTuple):
    recipients: tuple[str, ...] = ()
    after_failures: int = 3


class ExportSection(NamedTuple):
    csv_formula_guard: bool = True
    pdf_fonts: tuple[str, ...] = ()


class Settings(NamedTuple):
    """The whole configuration, one NamedTuple per [section] (see manireports.documents) in the
    order `config show` lists them; the tables of manireports.toml are read into it."""

    moodle: MoodleSection = MoodleSection()
    state: StateSection = StateSection()
    site: SiteSection = SiteSection()
    reports: ReportsSection = ReportsSection()
    time_tracking: TimeTrackingSection = TimeTrackingSection()
    analytics: AnalyticsSection = AnalyticsSection()
    schedule: ScheduleSection = ScheduleSection()
    jobs: JobsSection = JobsSection()
    email: EmailSection = EmailSection()
    cloud: CloudSection = CloudSection()
    cache: CacheSection = CacheSection()
    retention: RetentionSection = RetentionSection()
    storage: StorageSection = StorageSection()
    health: HealthSection = HealthSection()
    alerts: AlertsSection = AlertsSection()
    export: ExportSection = ExportSection()


@cache
def sections(cls: type = Settings, prefix: str = "") -> dict[str, dict[str, Key]]:
    """Every [section] (dotted when nested) with its keys, in the order of the fields; a table
    with only nested tables, like [analytics], is not a section of its own."""
    found: dict[str, dict[str, Key]] = {}
    plain = {name: key for name, key in keys_of(cls).items() if key.kind != "table"}
    if plain and prefix:
        found[prefix] = plain
    for name, key in keys_of(cls).items():
        if key.kind == "table":
            assert key.table is not None
            found |= sections(key.table, f"{prefix}.{name}" if prefix else name)
    return found


ENV_PREFIX = "MANIREPORTS_"
# Variables that are not configuration keys but steer where the configuration is found.
_ENV_NOT_KEYS = {"MANIREPORTS_CONFIG"}
# The test suite's server URLs share the prefix; they configure the tests, not manireports.
_ENV_TEST_PREFIX = "MANIREPORTS_TEST_"


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


def _secret_key(key: Key) -> bool:
    return MASKED in key.metadata


def _bounds(key: Key) -> Bounds | None:
    return next((item for item in key.metadata if isinstance(item, Bounds)), None)


def _env_name(section: str, key: str) -> str:
    return ENV_PREFIX + f"{section}_{key}".replace(".", "_").upper()


def _env_index() -> dict[str, tuple[str, str]]:
    index: dict[str, tuple[str, str]] = {}
    for section, keys in sections().items():
        for name, key in keys.items():
            index[_env_name(section, name)] = (section, name)
            if _secret_key(key):
                index[_env_name(section, name) + "_FILE"] = (section, name + "_file")
    return index


def _parse_env(key: Key, raw: str, where: str) -> Any:
    """Environment values are text; read them the way an operator would write them."""
    try:
        if key.kind == "int":
            return int(raw)
        if key.kind == "float":
            return float(raw)
        if key.kind == "bool":
            lowered = raw.strip().lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
        if key.kind == "list":
            return tuple(part.strip() for part in raw.split(",") if part.strip())
    except ValueError:
        raise ConfigError(f"{where} must be {key.kind}, not {raw!r}.") from None
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
    """The effective configuration: the typed `settings`, and where each value came from."""

    def __init__(self, values: dict[str, Setting], path: Path | None) -> None:
        self._values = values
        self.path = path
        self.settings: Settings = _build(Settings, "", values)

    def origin(self, key: str) -> str:
        """Where the value of `key` ("section.key") came from, for messages that name it."""
        return self._values[key].origin

    def items(self) -> Iterator[tuple[str, Setting]]:
        """Every key with its value (a list as a list) and origin, in the order of the file."""
        for key, setting in self._values.items():
            if isinstance(setting.value, tuple):
                setting = Setting(list(setting.value), setting.origin, setting.secret)
            yield key, setting

    def storage_dir(self) -> Path:
        configured = self.settings.storage.dir
        return Path(configured).expanduser() if configured else data_dir() / "files"

    def file_mode(self) -> int:
        """`[storage] file_mode` as permission bits: read and write bits only, owner included."""
        text = self.settings.storage.file_mode
        mode = int(text, 8) if re.fullmatch(r"0?[0-7]{3}", text) else -1
        if mode < 0 or mode & 0o111 or (mode & 0o600) != 0o600:
            raise ConfigError(
                f"storage.file_mode must be octal permissions like 0600 or 0640 that let the "
                f"owner read and write and nobody execute, not {text!r} "
                f"(from {self.origin('storage.file_mode')})."
            )
        return mode

    def lock_dir(self) -> Path:
        configured = self.settings.jobs.lock_dir
        return Path(configured).expanduser() if configured else data_dir() / "locks"


def _build(cls: type[T], section: str, values: Mapping[str, Setting]) -> T:
    arguments: dict[str, Any] = {}
    for name, key in keys_of(cls).items():
        path = f"{section}.{name}" if section else name
        if key.kind == "table":
            assert key.table is not None
            arguments[key.attr] = _build(key.table, path, values)
        else:
            arguments[key.attr] = values[path].value
    return cls(**arguments)


def _read_secret_file(path_text: str, where: str) -> str:
    path = Path(path_text).expanduser()
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"{where} names {path}, which cannot be read ({exc.strerror}).") from None


def _read_file(
    cls: type, table: Mapping[str, Any], section: str, path: Path, values: dict[str, Setting]
) -> None:
    """The values of one table of the file (and of the tables inside it), checked."""
    keys = keys_of(cls)
    prefix = f"{section}." if section else ""
    for name in table:
        base = name.removesuffix("_file")
        plain = name != base and base in keys and keys[base].kind != "table"
        if plain and not _secret_key(keys[base]):
            raise ConfigError(
                f"{prefix}{name} is not allowed: only secrets can be read from files."
            )
    allowed = [*keys, *(f"{name}_file" for name, key in keys.items() if _secret_key(key))]
    refuse_unknown_keys(table, allowed, str(path), prefix=prefix, error=ConfigError)
    for name, value in table.items():
        where = f"{prefix}{name} in {path}"
        base = name.removesuffix("_file")
        if name not in keys:
            if not isinstance(value, str):
                raise ConfigError(f"{where} must be a file path.")
            secret = _read_secret_file(value, where)
            values[prefix + base] = Setting(secret, f"{path} (file {value})", True)
            continue
        key = keys[name]
        checked = check_value(key, value, where, ConfigError)
        if key.kind == "table":
            assert key.table is not None
            _read_file(key.table, checked, prefix + name, path, values)
        else:
            values[prefix + name] = Setting(checked, str(path), _secret_key(key))


def load_config(
    explicit_path: str | None = None, environ: Mapping[str, str] | None = None
) -> Config:
    """Build the effective configuration from defaults, the TOML file and the environment."""
    env = os.environ if environ is None else environ
    values: dict[str, Setting] = {}
    for section, keys in sections().items():
        for name, key in keys.items():
            values[f"{section}.{name}"] = Setting(key.default, "default", _secret_key(key))

    path = find_config_file(explicit_path, env)
    if path is not None:
        import tomllib

        try:
            document = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path} is not valid TOML: {exc}.") from None
        except OSError as exc:
            raise ConfigError(f"{path} cannot be read ({exc.strerror}).") from None
        _read_file(Settings, document, "", path, values)

    index = _env_index()
    for name, raw in env.items():
        if not name.startswith(ENV_PREFIX) or name in _ENV_NOT_KEYS:
            continue
        if name.startswith(_ENV_TEST_PREFIX):
            continue
        if name not in index:
            raise ConfigError(
                f"The environment variable {name} is not a manireports setting; "
                "check its spelling against config.example.toml."
            )
        section, key_name = index[name]
        where = f"the environment variable {name}"
        known = sections()[section].get(key_name)
        if known is None:  # <secret>_file
            values[f"{section}.{key_name.removesuffix('_file')}"] = Setting(
                _read_secret_file(raw, where), f"{name} (file {raw})", True
            )
        else:
            parsed = _parse_env(known, raw, where)
            values[f"{section}.{key_name}"] = Setting(parsed, name, _secret_key(known))

    for section, keys in sections().items():
        for name, key in keys.items():
            setting = values[f"{section}.{name}"]
            if key.choices and setting.value not in key.choices:
                raise ConfigError(
                    f"{section}.{name} must be one of {', '.join(key.choices)}, not "
                    f"{setting.value!r} (from {setting.origin})."
                )
            bounds = _bounds(key)
            if bounds is not None:
                _check_bounds(f"{section}.{name}", bounds, setting)
    config = Config(values, path)
    config.file_mode()
    return config


def _check_bounds(name: str, bounds: Bounds, setting: Setting) -> None:
    """Refuse a number outside the range that makes sense for the key, naming it."""
    lowest, highest, above = bounds
    value = setting.value
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
    raise ConfigError(f"{name} must be {wanted}, not {value!r} (from {setting.origin}).")


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
