"""Reading Moodle's config.php as text, as the installer writes it and as admins edit it.

Each fixture is a whole config.php written to a temporary directory; the tests check the settings
read from it and the SQLAlchemy URL built from them, and that everything manireports cannot know
without running PHP is refused with a message that names the key and the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from manireports.errors import ConfigError
from manireports.moodle.config_php import MoodleSiteConfig, moodle_url, read_config_php

# What lib/installlib.php (install_generate_configphp) writes for a MySQL site.
INSTALLER_MYSQLI = r"""<?php  // Moodle configuration file

unset($CFG);
global $CFG;
$CFG = new stdClass();

$CFG->dbtype    = 'mysqli';
$CFG->dblibrary = 'native';
$CFG->dbhost    = 'localhost';
$CFG->dbname    = 'moodle';
$CFG->dbuser    = 'moodleuser';
$CFG->dbpass    = 'Sup3r\'s3cret\\';
$CFG->prefix    = 'mdl_';
$CFG->dboptions = array (
  'dbpersist' => 0,
  'dbport' => '',
  'dbsocket' => '',
  'dbcollation' => 'utf8mb4_unicode_ci',
);

$CFG->wwwroot   = 'https://moodle.example.org';
$CFG->dataroot  = '/var/moodledata';
$CFG->admin     = 'admin';

$CFG->directorypermissions = 02777;

require_once(__DIR__ . '/lib/setup.php');

// There is no php closing tag in this file,
// it is intentional because it prevents trailing whitespace problems!
"""

# The installer again, for PostgreSQL, with the port an admin later typed in as a number.
INSTALLER_PGSQL = r"""<?php  // Moodle configuration file

unset($CFG);
global $CFG;
$CFG = new stdClass();

$CFG->dbtype    = 'pgsql';
$CFG->dblibrary = 'native';
$CFG->dbhost    = 'db.internal';
$CFG->dbname    = 'moodle41';
$CFG->dbuser    = 'moodle';
$CFG->dbpass    = 'pw';
$CFG->prefix    = 'mdl_';
$CFG->dboptions = array (
  'dbpersist' => 0,
  'dbport' => 5433,
  'dbsocket' => '',
);

$CFG->wwwroot   = 'http://lms.example.edu';
$CFG->dataroot  = '/srv/moodledata';
$CFG->admin     = 'admin';

$CFG->directorypermissions = 0777;

require_once(__DIR__ . '/lib/setup.php');
"""

# Hand-edited: double quotes with escapes, short arrays, constants, odd spacing, trailing commas.
DOUBLE_QUOTES_AND_SHORT_ARRAYS = r"""<?php
$CFG = new stdClass;
$CFG->dbtype="mariadb";
$CFG ->   dbhost  =   "127.0.0.1"  ;
$CFG->dbname = "moodle";
$CFG->dbuser = "admin";
$CFG->dbpass = "a\tb\\c\$d\"e\x41\101\u{e9}\q{x}";
$CFG->prefix = "m_";
$CFG->dboptions = [
    "dbpersist" => false,
    "dbport"    => "3307",
    "dbsocket"  => null,
    "extra"     => [1, 2, 'three' => TRUE,],
];
$CFG->wwwroot = "https://example.org/moodle";
"""

# Comments of every kind, with the old settings left commented out; none of them may count.
COMMENTED_OUT = r"""<?php // Moodle configuration file, don't edit on Fridays
$CFG = new stdClass();
$CFG->dbtype = 'auroramysql';
// $CFG->dbhost = 'old-db.example.com';
$CFG->dbhost = 'aurora.cluster.example.com'; // the new cluster, moved in May
# $CFG->dbpass = 'old password';
$CFG->dbname = 'moodle'; # production
/*
$CFG->dbname = 'moodle_staging';
$CFG->dbuser = "staging";
*/
$CFG->dbuser = /* inline */ 'moodle';
$CFG->dbpass = 'new password';
$CFG->prefix = 'mdl_';
"""

# An admin who appended overrides at the bottom instead of editing the originals.
LAST_ASSIGNMENT_WINS = r"""<?php
$CFG = new stdClass();
$CFG->dbtype = 'pgsql';
$CFG->dbhost = 'localhost';
$CFG->dbname = 'moodle';
$CFG->dbuser = 'moodle';
$CFG->dbpass = 'first';
$CFG->prefix = 'mdl_';
$CFG->dboptions = array('dbport' => 5432);

// Moved to the new server.
$CFG->dbhost = 'pg2.example.com';
$CFG->dbpass = 'second';
$CFG->dboptions['dbport'] = '6432';
require_once(__DIR__ . '/lib/setup.php');
"""

# Container-style: secrets from the environment, values built by concatenation.
ENVIRONMENT_AND_CONCATENATION = r"""<?php
unset($CFG);
global $CFG;
$CFG = new stdClass();
$CFG->dbtype    = getenv('MOODLE_DBTYPE');
$CFG->dbhost    = getenv("MOODLE_DBHOST") . ':' . '3308';
$CFG->dbname    = 'moodle' . '_' . "prod";
$CFG->dbuser    = $_ENV['MOODLE_DBUSER'];
$CFG->dbpass    = getenv('MOODLE_DBPASS');
$CFG->prefix    = 'mdl' . '_';
$CFG->dboptions = ['dbcollation' => 'utf8mb4_' . 'unicode_ci'];
$CFG->wwwroot   = 'http://' . $_SERVER['HTTP_HOST'];
$CFG->dataroot  = __DIR__ . '/../moodledata';
require_once(__DIR__ . '/lib/setup.php');
"""

# Only the settings the connection needs, and a PHP closing tag followed by stray output.
MINIMAL_WITH_CLOSING_TAG = r"""<?php
$CFG->dbtype = 'mysqli';
$CFG->dbname = 'moodle';
$CFG->dbuser = 'root';
?>
<!-- stray HTML after the closing tag -->
"""

# Sockets: a MySQL socket path, and PostgreSQL with a socket directory and with the default one.
MYSQL_SOCKET = r"""<?php
$CFG = new stdClass();
$CFG->dbtype = 'mysqli';
$CFG->dbhost = 'localhost';
$CFG->dbname = 'moodle';
$CFG->dbuser = 'moodle';
$CFG->dbpass = '';
$CFG->prefix = 'mdl_';
$CFG->dboptions = array('dbsocket' => '/var/run/mysqld/mysqld.sock', 'dbport' => '');
"""

PGSQL_SOCKET_DIRECTORY = r"""<?php
$CFG = new stdClass();
$CFG->dbtype = 'pgsql';
$CFG->dbhost = 'localhost';
$CFG->dbname = 'moodle';
$CFG->dbuser = 'www-data';
$CFG->dbpass = '';
$CFG->prefix = 'mdl_';
$CFG->dboptions = array('dbsocket' => '/var/run/postgresql', 'dbport' => 5432, 'dbschema' => 'lms');
"""

PGSQL_DEFAULT_SOCKET = r"""<?php
$CFG = new stdClass();
$CFG->dbtype = 'pgsql';
$CFG->dbhost = '127.0.0.1';
$CFG->dbname = 'moodle';
$CFG->dbuser = 'moodle';
$CFG->dbpass = 'x';
$CFG->prefix = 'mdl_';
$CFG->dboptions = array('dbsocket' => true, 'dbschema' => 'lms', 'dbhandlesoptions' => true);
"""

# A password with every character that breaks hand-built URLs, and an IPv6 host with a port.
SPECIAL_PASSWORD_IPV6 = r"""<?php
$CFG = new stdClass();
$CFG->dbtype = 'pgsql';
$CFG->dbhost = '[::1]:5440';
$CFG->dbname = 'moodle';
$CFG->dbuser = 'user@example';
$CFG->dbpass = 'p@ss:w/o%rd#?&=+ é';
$CFG->prefix = 'mdl_';
"""

# Assignments PHP may or may not run are ignored when manireports does not need the key.
CONDITIONAL_EXTRAS = r"""<?php
$CFG = new stdClass();
$CFG->dbtype = 'mysqli';
$CFG->dbhost = 'db';
$CFG->dbname = 'moodle';
$CFG->dbuser = 'moodle';
$CFG->dbpass = 'pw';
$CFG->prefix = 'mdl_';
if (isset($_SERVER['HTTPS'])) {
    $CFG->wwwroot = 'https://moodle.example.org';
} else {
    $CFG->wwwroot = 'http://moodle.example.org';
}
$CFG->debug = (E_ALL | E_STRICT);
$CFG->dataroot = dirname(__DIR__) . '/moodledata';
$CFG->theme = "{$CFG->theme}";
"""

ENVIRON = {
    "MOODLE_DBTYPE": "mysqli",
    "MOODLE_DBHOST": "mysql.svc",
    "MOODLE_DBUSER": "moodle_app",
    "MOODLE_DBPASS": "env/p@ss",
}

VARIANTS = [
    pytest.param(
        INSTALLER_MYSQLI,
        {},
        {
            "dbtype": "mysqli",
            "dbhost": "localhost",
            "dbname": "moodle",
            "dbuser": "moodleuser",
            "dbpass": "Sup3r's3cret\\",
            "prefix": "mdl_",
            "dboptions": {
                "dbpersist": 0,
                "dbport": "",
                "dbsocket": "",
                "dbcollation": "utf8mb4_unicode_ci",
            },
            "wwwroot": "https://moodle.example.org",
            "dataroot": "/var/moodledata",
        },
        ("mysql+pymysql", "localhost", None, "moodle", "moodleuser", "Sup3r's3cret\\"),
        {"charset": "utf8mb4"},
        id="installer-mysqli",
    ),
    pytest.param(
        INSTALLER_PGSQL,
        {},
        {"dbtype": "pgsql", "dboptions": {"dbpersist": 0, "dbport": 5433, "dbsocket": ""}},
        ("postgresql+psycopg", "db.internal", 5433, "moodle41", "moodle", "pw"),
        {},
        id="installer-pgsql-int-port",
    ),
    pytest.param(
        DOUBLE_QUOTES_AND_SHORT_ARRAYS,
        {},
        {
            "dbtype": "mariadb",
            "dbpass": 'a\tb\\c$d"eAAé\\q{x}',
            "prefix": "m_",
            "dboptions": {
                "dbpersist": False,
                "dbport": "3307",
                "dbsocket": None,
                "extra": {0: 1, 1: 2, "three": True},
            },
            "wwwroot": "https://example.org/moodle",
            "dataroot": None,
        },
        ("mysql+pymysql", "127.0.0.1", 3307, "moodle", "admin", 'a\tb\\c$d"eAAé\\q{x}'),
        {"charset": "utf8mb4"},
        id="double-quotes-short-arrays",
    ),
    pytest.param(
        COMMENTED_OUT,
        {},
        {"dbtype": "auroramysql", "dboptions": {}},
        ("mysql+pymysql", "aurora.cluster.example.com", None, "moodle", "moodle", "new password"),
        {"charset": "utf8mb4"},
        id="comments",
    ),
    pytest.param(
        LAST_ASSIGNMENT_WINS,
        {},
        {"dbhost": "pg2.example.com", "dbpass": "second", "dboptions": {"dbport": "6432"}},
        ("postgresql+psycopg", "pg2.example.com", 6432, "moodle", "moodle", "second"),
        {},
        id="last-assignment-wins",
    ),
    pytest.param(
        ENVIRONMENT_AND_CONCATENATION,
        ENVIRON,
        {
            "dbhost": "mysql.svc:3308",
            "dbname": "moodle_prod",
            "prefix": "mdl_",
            "dboptions": {"dbcollation": "utf8mb4_unicode_ci"},
            "wwwroot": None,
        },
        ("mysql+pymysql", "mysql.svc", 3308, "moodle_prod", "moodle_app", "env/p@ss"),
        {"charset": "utf8mb4"},
        id="getenv-and-concatenation",
    ),
    pytest.param(
        MINIMAL_WITH_CLOSING_TAG,
        {},
        {"dbhost": "", "dbpass": "", "prefix": "", "dboptions": {}, "wwwroot": None},
        ("mysql+pymysql", None, None, "moodle", "root", None),
        {"charset": "utf8mb4"},
        id="minimal-closing-tag",
    ),
    pytest.param(
        MYSQL_SOCKET,
        {},
        {"dbhost": "localhost"},
        ("mysql+pymysql", "localhost", None, "moodle", "moodle", None),
        {"charset": "utf8mb4", "unix_socket": "/var/run/mysqld/mysqld.sock"},
        id="mysql-socket",
    ),
    pytest.param(
        PGSQL_SOCKET_DIRECTORY,
        {},
        {"dbuser": "www-data"},
        ("postgresql+psycopg", None, 5432, "moodle", "www-data", None),
        {"host": "/var/run/postgresql", "options": "-c search_path=lms"},
        id="pgsql-socket-directory",
    ),
    pytest.param(
        PGSQL_DEFAULT_SOCKET,
        {},
        {"dbhost": "127.0.0.1"},
        ("postgresql+psycopg", None, None, "moodle", "moodle", "x"),
        {},
        id="pgsql-default-socket",
    ),
    pytest.param(
        SPECIAL_PASSWORD_IPV6,
        {},
        {"dbpass": "p@ss:w/o%rd#?&=+ é", "dbhost": "[::1]:5440"},
        ("postgresql+psycopg", "::1", 5440, "moodle", "user@example", "p@ss:w/o%rd#?&=+ é"),
        {},
        id="special-password-ipv6",
    ),
    pytest.param(
        CONDITIONAL_EXTRAS,
        {},
        {"dbhost": "db", "wwwroot": None, "dataroot": None},
        ("mysql+pymysql", "db", None, "moodle", "moodle", "pw"),
        {"charset": "utf8mb4"},
        id="conditional-extras",
    ),
]


def write_config(directory: Path, text: str | bytes) -> Path:
    path = directory / "config.php"
    if isinstance(text, str):
        path.write_text(text, encoding="utf-8", newline="")
    else:
        path.write_bytes(text)
    return path


@pytest.mark.parametrize(("php", "environ", "fields", "url_parts", "query"), VARIANTS)
def test_reads_settings_and_builds_url(
    tmp_path: Path,
    php: str,
    environ: dict[str, str],
    fields: dict[str, Any],
    url_parts: tuple[str, str | None, int | None, str, str, str | None],
    query: dict[str, str],
) -> None:
    path = write_config(tmp_path, php)
    cfg = read_config_php(path, environ=environ)
    assert cfg.path == path
    for name, expected in fields.items():
        assert getattr(cfg, name) == expected, name
    url = moodle_url(cfg)
    assert (
        url.drivername,
        url.host,
        url.port,
        url.database,
        url.username,
        url.password,
    ) == url_parts
    assert dict(url.query) == query


def test_crlf_line_endings_and_byte_order_mark(tmp_path: Path) -> None:
    data = b"\xef\xbb\xbf" + INSTALLER_MYSQLI.replace("\n", "\r\n").encode()
    cfg = read_config_php(write_config(tmp_path, data))
    assert (cfg.dbtype, cfg.dbname, cfg.dbpass) == ("mysqli", "moodle", "Sup3r's3cret\\")
    assert cfg.dboptions["dbcollation"] == "utf8mb4_unicode_ci"
    assert cfg.wwwroot == "https://moodle.example.org"


def test_dir_constant_names_the_real_directory(tmp_path: Path) -> None:
    site = tmp_path / "moodle"
    site.mkdir()
    cfg = read_config_php(write_config(site, ENVIRONMENT_AND_CONCATENATION), environ=ENVIRON)
    assert cfg.dataroot == f"{site.resolve()}/../moodledata"


def test_statements_before_new_stdclass_are_discarded(tmp_path: Path) -> None:
    php = INSTALLER_MYSQLI.replace("unset($CFG);", "$CFG->dbname = 'stale'; $CFG->debug = 1;")
    assert read_config_php(write_config(tmp_path, php)).dbname == "moodle"


def test_environment_defaults_to_the_process_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in ENVIRON.items():
        monkeypatch.setenv(name, value)
    cfg = read_config_php(write_config(tmp_path, ENVIRONMENT_AND_CONCATENATION))
    assert (cfg.dbuser, cfg.dbpass) == ("moodle_app", "env/p@ss")


def test_dboptions_port_wins_over_host_port(tmp_path: Path) -> None:
    php = INSTALLER_PGSQL.replace("'db.internal'", "'db.internal:6000'")
    url = moodle_url(read_config_php(write_config(tmp_path, php)))
    assert (url.host, url.port) == ("db.internal", 5433)


def test_mysql_socket_is_ignored_for_a_tcp_host(tmp_path: Path) -> None:
    php = MYSQL_SOCKET.replace("'localhost'", "'127.0.0.1'")
    url = moodle_url(read_config_php(write_config(tmp_path, php)))
    assert (url.host, dict(url.query)) == ("127.0.0.1", {"charset": "utf8mb4"})


def test_password_survives_the_url_as_text(tmp_path: Path) -> None:
    url = moodle_url(read_config_php(write_config(tmp_path, SPECIAL_PASSWORD_IPV6)))
    again = sa.make_url(url.render_as_string(hide_password=False))
    assert (again.username, again.password, again.host) == (
        "user@example",
        "p@ss:w/o%rd#?&=+ é",
        "::1",
    )


def test_password_is_kept_out_of_repr(tmp_path: Path) -> None:
    cfg = read_config_php(write_config(tmp_path, SPECIAL_PASSWORD_IPV6))
    assert isinstance(cfg, MoodleSiteConfig)
    assert "p@ss" not in repr(cfg)


def php_literal(value: str | None) -> str:
    """Quote text the way the installer's var_export() does."""
    return "'" + (value or "").replace("\\", "\\\\").replace("'", "\\'") + "'"


def config_for(url: str, dbtype: str) -> str:
    """A config.php that points Moodle at the database behind an SQLAlchemy URL."""
    target = sa.make_url(url)
    return f"""<?php  // Moodle configuration file
unset($CFG);
global $CFG;
$CFG = new stdClass();
$CFG->dbtype    = {php_literal(dbtype)};
$CFG->dblibrary = 'native';
$CFG->dbhost    = {php_literal(target.host)};
$CFG->dbname    = {php_literal(target.database)};
$CFG->dbuser    = {php_literal(target.username)};
$CFG->dbpass    = {php_literal(target.password)};
$CFG->prefix    = 'mdl_';
$CFG->dboptions = array (
  'dbpersist' => 0,
  'dbport' => {target.port or "''"},
  'dbsocket' => '',
);
"""


@pytest.mark.mariadb
def test_connects_to_mariadb(tmp_path: Path, mariadb_url: str) -> None:
    cfg = read_config_php(write_config(tmp_path, config_for(mariadb_url, "mariadb")))
    engine = sa.create_engine(moodle_url(cfg))
    with engine.connect() as connection:
        assert connection.execute(sa.text("SELECT DATABASE()")).scalar() == cfg.dbname
    engine.dispose()


@pytest.mark.postgresql
def test_connects_to_postgresql(tmp_path: Path, postgres_url: str) -> None:
    cfg = read_config_php(write_config(tmp_path, config_for(postgres_url, "pgsql")))
    engine = sa.create_engine(moodle_url(cfg))
    with engine.connect() as connection:
        assert connection.execute(sa.text("SELECT current_database()")).scalar() == cfg.dbname
    engine.dispose()


# --- errors -------------------------------------------------------------------------------------


def error_of(path: Path, environ: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as caught:
        moodle_url(read_config_php(path, environ=environ or {}))
    assert caught.value.exit_code == 2
    return str(caught.value)


def test_missing_file(tmp_path: Path) -> None:
    message = error_of(tmp_path / "nowhere" / "config.php")
    assert message == f"Moodle's config.php was not found at {tmp_path / 'nowhere' / 'config.php'}."


def test_unreadable_file(tmp_path: Path) -> None:
    message = error_of(tmp_path)  # a directory cannot be read as a file
    assert str(tmp_path) in message
    assert "cannot be read" in message


def test_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = write_config(tmp_path, INSTALLER_MYSQLI.encode().replace(b"Sup3r", b"Sup\xe93r"))
    assert error_of(path) == f"{path} is not UTF-8 text, so it cannot be read as config.php."


@pytest.mark.parametrize(
    ("php", "expected"),
    [
        ("<?php\n$CFG->dbname = 'moodle';\n", "does not set $CFG->dbtype"),
        ("<html>no PHP here</html>\n", "does not set $CFG->dbtype"),
        (
            "<?php\n$CFG->dbtype = 'pgsql';\n// $CFG->dbname = 'moodle';\n",
            "does not set $CFG->dbname",
        ),
        ("<?php\n$CFG->dbtype = 'pgsql';\n$CFG->dbname = '';\n", "does not set $CFG->dbname"),
    ],
    ids=["no-dbtype", "not-php", "dbname-commented-out", "dbname-empty"],
)
def test_missing_required_setting(tmp_path: Path, php: str, expected: str) -> None:
    path = write_config(tmp_path, php)
    message = error_of(path)
    assert message.startswith(f"{path} {expected}")


def test_unsupported_dbtype(tmp_path: Path) -> None:
    path = write_config(tmp_path, INSTALLER_MYSQLI.replace("'mysqli'", "'sqlsrv'"))
    assert error_of(path) == (
        f"$CFG->dbtype in {path} is 'sqlsrv', which manireports cannot read; "
        "supported: mysqli, mariadb, auroramysql, pgsql."
    )


def test_unset_environment_variable_is_named(tmp_path: Path) -> None:
    path = write_config(tmp_path, ENVIRONMENT_AND_CONCATENATION)
    environ = {name: value for name, value in ENVIRON.items() if name != "MOODLE_DBPASS"}
    assert error_of(path, environ) == (
        f"$CFG->dbpass in {path} (line 9) reads the environment variable MOODLE_DBPASS, which is "
        "not set; set it for manireports too, or set [moodle] url instead."
    )


@pytest.mark.parametrize(
    "assignment",
    [
        "$CFG->dbpass = trim(file_get_contents('/etc/moodle/dbpass'));",
        "$CFG->dbpass = $password;",
        '$CFG->dbpass = "pw-$suffix";',
        "$CFG->dbpass = 'pw' . PHP_EOL;",
        "$CFG->dbpass = 'pw' ?: 'fallback';",
        "$CFG->dbpass .= '!';",
        "if (file_exists('/etc/moodle/prod')) $CFG->dbpass = 'prod';",
        "if (getenv('PROD')) {\n    $CFG->dbpass = 'prod';\n}",
        "$CFG->dbpass = <<<EOT\n  secret\n  EOT;",
    ],
    ids=[
        "function-call",
        "variable",
        "interpolation",
        "unknown-constant",
        "ternary",
        "compound-assignment",
        "condition",
        "block",
        "heredoc",
    ],
)
def test_computed_setting_is_refused(tmp_path: Path, assignment: str) -> None:
    path = write_config(
        tmp_path, INSTALLER_MYSQLI.replace("$CFG->prefix ", f"{assignment}\n$CFG->prefix ")
    )
    message = error_of(path)
    assert message.startswith(f"$CFG->dbpass in {path} (line ")
    assert message.endswith(
        "is computed by PHP code manireports does not run; set [moodle] url instead."
    )


def test_alternative_syntax_makes_every_setting_unknown(tmp_path: Path) -> None:
    """`if (...): ... endif;` hides where blocks end from a token scan, so nothing is trusted."""
    php = INSTALLER_MYSQLI.replace(
        "$CFG->prefix ", "if (getenv('PROD')):\n  $CFG->dbhost = 'prod';\nendif;\n$CFG->prefix "
    )
    path = write_config(tmp_path, php)
    assert error_of(path).startswith(f"$CFG->dbtype in {path} (line 7) is computed by PHP code")


def test_computed_dboptions_element_is_refused(tmp_path: Path) -> None:
    php = INSTALLER_PGSQL.replace(
        "require_once", "$CFG->dboptions['dbport'] = $port;\nrequire_once"
    )
    path = write_config(tmp_path, php)
    assert error_of(path).startswith(f"$CFG->dboptions in {path} (line 26) is computed by PHP code")


def test_later_plain_assignment_replaces_a_computed_one(tmp_path: Path) -> None:
    php = INSTALLER_MYSQLI.replace(
        "$CFG->prefix ", "if ($x) { $CFG->dbpass = 'a'; }\n$CFG->dbpass = 'final';\n$CFG->prefix "
    )
    assert read_config_php(write_config(tmp_path, php)).dbpass == "final"


def test_unterminated_string(tmp_path: Path) -> None:
    path = write_config(tmp_path, "<?php\n$CFG->dbtype = 'mysqli';\n$CFG->dbpass = 'oops;\n")
    assert error_of(path) == (
        f"{path} cannot be read as PHP: a string or comment on line 3 never ends."
    )


@pytest.mark.parametrize("port", ["'abc'", "'0x10'", "70000", "true"])
def test_port_that_is_not_a_number(tmp_path: Path, port: str) -> None:
    path = write_config(tmp_path, INSTALLER_PGSQL.replace("5433", port))
    assert error_of(path).startswith(f"$CFG->dboptions['dbport'] in {path} is ")


@pytest.mark.parametrize(
    ("assignment", "expected"),
    [
        ("$CFG->dboptions = 'dbport=3306';", "$CFG->dboptions in {path} must be an array."),
        ("$CFG->dbpass = ['secret'];", "$CFG->dbpass in {path} must be a string."),
    ],
    ids=["dboptions-not-array", "dbpass-not-string"],
)
def test_setting_of_the_wrong_type(tmp_path: Path, assignment: str, expected: str) -> None:
    php = f"<?php\n$CFG->dbtype = 'mysqli';\n$CFG->dbname = 'moodle';\n{assignment}\n"
    path = write_config(tmp_path, php)
    assert error_of(path) == expected.format(path=path)
