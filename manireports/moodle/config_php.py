"""Moodle's own config.php, read as text: the database settings without running PHP.

An operator already has a config.php that says how Moodle reaches its database; pointing
`[moodle] config_php` at it spares copying a password into a second file. The file is never
executed (it may do anything, and PHP need not be installed where manireports runs), so only what
is known without running it is taken: string and number literals, arrays, true/false/null,
`__DIR__`/`__FILE__`, `getenv()` / `$_ENV[...]`, and `.` concatenation of those, assigned by
straight-line statements. Any other assignment (under a condition, from a variable, a function
call, `.=`) leaves its key unknown, and a key manireports needs that is unknown is an error naming
the key and the line, never a guess: a wrong password or host is worse than a clear message.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeAlias

from sqlalchemy.engine import URL

from manireports.errors import ConfigError

PhpKey: TypeAlias = str | int
PhpValue: TypeAlias = "str | int | float | bool | dict[PhpKey, PhpValue] | None"

MYSQL_DBTYPES = ("mysqli", "mariadb", "auroramysql")
SUPPORTED_DBTYPES = (*MYSQL_DBTYPES, "pgsql")

_COMPUTED = "is computed by PHP code manireports does not run; set [moodle] url instead."


@dataclass(frozen=True)
class MoodleSiteConfig:
    """The database settings of one Moodle site, as its config.php states them.

    Text settings Moodle treats as optional are "" when unset, as Moodle's setup does; `wwwroot`
    and `dataroot` are None when unset or not statically known, since no database access needs
    them.
    """

    path: Path
    dbtype: str
    dbhost: str
    dbname: str
    dbuser: str
    dbpass: str = field(repr=False)  # kept out of reprs: tracebacks and logs must not carry it
    prefix: str
    dboptions: Mapping[PhpKey, PhpValue]
    wwwroot: str | None
    dataroot: str | None


def read_config_php(path: str | Path, environ: Mapping[str, str] | None = None) -> MoodleSiteConfig:
    """Read the database settings from a Moodle config.php without executing it.

    `environ` answers `getenv()` and `$_ENV` (default: this process's environment), so a
    config.php that takes its password from the environment works when manireports runs with the
    same environment as PHP.
    """
    file = Path(path)
    tokens = _tokenize(_read_text(file), file)
    values = _StatementReader(tokens, file, os.environ if environ is None else environ).collect()
    dbtype = _text(values, "dbtype", file)
    if not dbtype:
        raise ConfigError(
            f"{file} does not set $CFG->dbtype, so it is not a usable Moodle config.php."
        )
    dbname = _text(values, "dbname", file)
    if not dbname:
        raise ConfigError(f"{file} does not set $CFG->dbname, the name of Moodle's database.")
    dboptions = _known(values, "dboptions", file)
    if dboptions is None:
        dboptions = {}
    if not isinstance(dboptions, dict):
        raise ConfigError(f"$CFG->dboptions in {file} must be an array.")
    return MoodleSiteConfig(
        path=file,
        dbtype=dbtype,
        dbhost=_text(values, "dbhost", file),
        dbname=dbname,
        dbuser=_text(values, "dbuser", file),
        dbpass=_text(values, "dbpass", file),
        prefix=_text(values, "prefix", file),
        dboptions=dboptions,
        wwwroot=_optional_text(values, "wwwroot"),
        dataroot=_optional_text(values, "dataroot"),
    )


def moodle_url(cfg: MoodleSiteConfig) -> URL:
    """The SQLAlchemy URL that reaches the database the way Moodle's own driver does.

    Built with URL.create so a password with @, :, / or % needs no quoting by anyone.
    """
    options = cfg.dboptions
    host, port = _split_host(cfg.dbhost)
    if not _php_empty(options.get("dbport")):
        port = _port(options.get("dbport"), cfg.path)
    socket = options.get("dbsocket")
    socket_path = socket if isinstance(socket, str) and "/" in socket else None
    query: dict[str, str] = {}
    if cfg.dbtype in MYSQL_DBTYPES:
        drivername = "mysql+pymysql"
        query["charset"] = "utf8mb4"
        # mysqli uses a socket only for localhost. PHP's default socket path is not known here, so
        # without a path in dbsocket the connection goes over TCP to localhost instead.
        if socket_path is not None and host in ("", "localhost"):
            query["unix_socket"] = socket_path
    elif cfg.dbtype == "pgsql":
        drivername = "postgresql+psycopg"
        # Moodle's pgsql driver uses the socket only for these two hosts; a dbsocket without a
        # directory means libpq's default socket directory, which is what no host at all gives.
        if not _php_empty(socket) and host in ("localhost", "127.0.0.1"):
            host = ""
            if socket_path is not None:
                query["host"] = socket_path
        # As Moodle does, unless a pooler that cannot take startup options sits in between.
        schema = options.get("dbschema")
        if isinstance(schema, str) and schema and _php_empty(options.get("dbhandlesoptions")):
            query["options"] = f"-c search_path={schema}"
    else:
        raise ConfigError(
            f"$CFG->dbtype in {cfg.path} is {cfg.dbtype!r}, which manireports cannot read; "
            f"supported: {', '.join(SUPPORTED_DBTYPES)}."
        )
    return URL.create(
        drivername,
        username=cfg.dbuser or None,
        password=cfg.dbpass or None,
        host=host or None,
        port=port,
        database=cfg.dbname,
        query=query,
    )


# --- reading the file ---------------------------------------------------------------------------


def _read_text(file: Path) -> str:
    try:
        data = file.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"Moodle's config.php was not found at {file}.") from None
    except OSError as exc:
        raise ConfigError(
            f"Moodle's config.php at {file} cannot be read ({exc.strerror})."
        ) from None
    try:
        return data.decode("utf-8-sig")  # the -sig codec drops a byte-order mark some editors add
    except UnicodeDecodeError:
        raise ConfigError(
            f"{file} is not UTF-8 text, so it cannot be read as config.php."
        ) from None


# --- tokens -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Token:
    """One PHP token. `text` is the decoded value for strings and the source text otherwise."""

    kind: str  # string, number, name, variable, op, opaque (a literal only PHP can evaluate), end
    text: str
    line: int


_OPEN_TAG = re.compile(r"<\?(?:php|=)?", re.IGNORECASE)
_TOKEN = re.compile(
    r"""
      (?P<space>\s+)
    | (?P<comment>(?://|\#)(?:[^\n?]|\?(?!>))*|/\*.*?\*/)      # a line comment ends before ?>
    | (?P<close>\?>(?:.*?<\?(?:php|=)?|.*))                     # inline HTML up to the next tag
    | (?P<single>'(?:[^'\\]|\\.)*')
    | (?P<double>"(?:[^"\\]|\\.)*")
    | (?P<opaque><<<[ \t]*(?P<quote>["']?)(?P<label>\w+)(?P=quote)\r?\n.*?^[ \t]*(?P=label)\b
                 |`(?:[^`\\]|\\.)*`)                            # heredoc, nowdoc, shell command
    | (?P<number>0[xX][\da-fA-F_]+|0[bB][01_]+|\d[\d_]*(?:\.\d[\d_]*)?(?:[eE][+-]?\d+)?)
    | (?P<variable>\$[^\W\d]\w*)
    | (?P<name>\\?[^\W\d][\w\\]*)
    | (?P<unterminated>['"`]|/\*|<<<)
    | (?P<op>\*\*=|\?\?=|<<=|>>=|===|!==|->|=>|::|\?\?|\+\+|--|&&|\|\||[-+*/%.|&^!=<>]=|[^\s\w])
    """,
    re.VERBOSE | re.DOTALL | re.MULTILINE,
)
_SINGLE_QUOTED_ESCAPE = re.compile(r"\\([\\'])")
_DOUBLE_QUOTED_SPECIAL = re.compile(
    r"\\(?:[0-7]{1,3}|x[\da-fA-F]{1,2}|u\{[\da-fA-F]+\}|.)|\$(?:[^\W\d]|\{)|\{\$", re.DOTALL
)
_SIMPLE_ESCAPES = {
    "n": "\n", "t": "\t", "r": "\r", "v": "\v", "e": "\x1b", "f": "\f",
    "\\": "\\", "$": "$", '"': '"',
}  # fmt: skip


def _tokenize(text: str, file: Path) -> list[_Token]:
    """Split the PHP part of the file into tokens, dropping whitespace and comments."""
    opening = _OPEN_TAG.search(text)
    if opening is None:
        return []
    tokens: list[_Token] = []
    line = text.count("\n", 0, opening.end()) + 1
    for match in _TOKEN.finditer(text, opening.end()):
        kind, source = match.lastgroup, match.group()
        if kind == "unterminated":
            raise ConfigError(
                f"{file} cannot be read as PHP: a string or comment on line {line} never ends."
            )
        if kind == "close":
            tokens.append(_Token("op", ";", line))  # PHP ends the statement at ?> as at ;
        elif kind == "single":
            tokens.append(_Token("string", _SINGLE_QUOTED_ESCAPE.sub(r"\1", source[1:-1]), line))
        elif kind == "double":
            value = _double_quoted(source[1:-1])
            tokens.append(
                _Token("opaque", source, line) if value is None else _Token("string", value, line)
            )
        elif kind not in ("space", "comment"):
            tokens.append(_Token(str(kind), source, line))
        line += source.count("\n")
    return tokens


def _double_quoted(body: str) -> str | None:
    """Decode a "..." literal; None when it interpolates a variable, which only PHP can resolve.

    PHP strings are bytes, so escapes are decoded to bytes and the whole read back as UTF-8.
    """
    parts: list[bytes] = []
    position = 0
    try:
        for match in _DOUBLE_QUOTED_SPECIAL.finditer(body):
            piece = match.group()
            if not piece.startswith("\\"):
                return None
            parts += [body[position : match.start()].encode(), _escaped_bytes(piece)]
            position = match.end()
        parts.append(body[position:].encode())
        return b"".join(parts).decode()
    except ValueError:  # a code point PHP would reject, or bytes that are not UTF-8
        return None


def _escaped_bytes(escape: str) -> bytes:
    code = escape[1:]
    if code[0] in "01234567":
        return bytes([int(code, 8) & 0xFF])
    if code[0] == "x" and len(code) > 1:
        return bytes([int(code[1:], 16)])
    if code.startswith("u{"):
        return chr(int(code[2:-1], 16)).encode()
    return _SIMPLE_ESCAPES.get(code, escape).encode()  # PHP keeps unknown escapes as written


def _php_number(text: str) -> int | float:
    if re.fullmatch(r"0[0-7_]+", text):
        return int(text, 8)  # PHP's legacy octal, as in the installer's 02777
    try:
        return int(text, 0)
    except ValueError:
        return float(text)


# --- statements and expressions -----------------------------------------------------------------


@dataclass(frozen=True)
class _Unknown:
    """A setting that only running PHP could tell, with the line and the reason for the error."""

    line: int
    reason: str


class _NotStatic(Exception):
    """Raised inside an expression manireports cannot evaluate without running PHP."""

    def __init__(self, reason: str = _COMPUTED) -> None:
        super().__init__(reason)
        self.reason = reason


_ASSIGNMENT_OPERATORS = frozenset({
    "=", ".=", "+=", "-=", "*=", "/=", "%=", "**=", "??=",
    "|=", "&=", "^=", "<<=", ">>=", "++", "--",
})  # fmt: skip
# Alternative syntax (`if (...): ... endif;`) hides where its blocks begin from a token scan, so a
# file that uses it is read as if every assignment in it were conditional.
_ALTERNATIVE_SYNTAX_ENDS = frozenset(
    {"endif", "endforeach", "endfor", "endwhile", "endswitch", "enddeclare"}
)
_CONSTANTS: dict[str, PhpValue] = {"true": True, "false": False, "null": None}


class _StatementReader:
    """Finds the assignments to `$CFG->...` and evaluates those PHP would always run.

    An assignment counts only when it is a statement of its own at the top level of the file;
    inside a block, after `if (...)`, `else` or the like, it may or may not run, so its key
    becomes unknown. Later assignments win, as in PHP.
    """

    def __init__(self, tokens: list[_Token], file: Path, environ: Mapping[str, str]) -> None:
        self.tokens = tokens
        self.file = file
        self.environ = environ
        self.pos = 0

    def collect(self) -> dict[str, PhpValue | _Unknown]:
        values: dict[str, PhpValue | _Unknown] = {}
        straight_line = not any(
            token.kind == "name" and token.text.lower() in _ALTERNATIVE_SYNTAX_ENDS
            for token in self.tokens
        )
        depth = 0
        previous: _Token | None = None
        for index, token in enumerate(self.tokens):
            if token.kind == "op" and token.text in ("(", "[", "{"):
                depth += 1
            elif token.kind == "op" and token.text in (")", "]", "}"):
                depth -= 1
            elif token.kind == "variable" and token.text == "$CFG":
                statement_start = previous is None or (
                    previous.kind == "op" and previous.text in (";", "}")
                )
                self._assignment(index, straight_line and depth == 0 and statement_start, values)
            previous = token
        return values

    def _assignment(
        self, index: int, unconditional: bool, values: dict[str, PhpValue | _Unknown]
    ) -> None:
        """Record `$CFG->name = ...;` or `$CFG->name[key] = ...;` starting at `index`."""
        if self._is(index + 1, "=") and unconditional:
            values.clear()  # `$CFG = new stdClass();` starts over
            return
        if not (self._is(index + 1, "->") and self._token(index + 2).kind == "name"):
            return
        name, line = self.tokens[index + 2].text, self.tokens[index].line
        subscripts: list[int] = []
        operator = index + 3
        while self._is(operator, "["):
            subscripts.append(operator + 1)
            operator = self._after_brackets(operator)
        token = self._token(operator)
        if token.kind != "op" or token.text not in _ASSIGNMENT_OPERATORS:
            return  # `$CFG->name` read, not written
        try:
            if not unconditional or token.text != "=" or len(subscripts) > 1:
                raise _NotStatic()
            values[name] = self._assigned(values.get(name), subscripts, operator + 1)
        except _NotStatic as exc:
            values[name] = _Unknown(line, exc.reason)

    def _assigned(
        self, current: PhpValue | _Unknown, subscripts: list[int], start: int
    ) -> PhpValue | _Unknown:
        """The value after `$CFG->name = ...;` or `$CFG->name[key] = ...;` (right side at start)."""
        key: PhpValue = None
        if subscripts:
            self.pos = subscripts[0]
            key = self._expression()
            self._expect("]")
        self.pos = start
        value = self._expression()
        if not self._is(self.pos, ";"):
            raise _NotStatic()
        return _with_element(current, key, value) if subscripts else value

    def _expression(self) -> PhpValue:
        """A literal, or literals joined by `.` (PHP's string concatenation)."""
        value = self._operand()
        while self._is(self.pos, "."):
            self.pos += 1
            value = _concatenable(value) + _concatenable(self._operand())
        return value

    def _operand(self) -> PhpValue:
        token = self._token(self.pos)
        self.pos += 1
        if token.kind == "string":
            return token.text
        if token.kind == "number":
            return _php_number(token.text)
        if token.kind == "op" and token.text == "(":
            value = self._expression()
            self._expect(")")
            return value
        if token.kind == "op" and token.text == "[":
            return self._array("]")
        if token.kind == "op" and token.text == "-":
            number = self._operand()
            if isinstance(number, int | float) and not isinstance(number, bool):
                return -number
            raise _NotStatic()
        if token.kind == "variable" and token.text == "$_ENV" and self._is(self.pos, "["):
            self.pos += 1
            variable = self._expression()
            self._expect("]")
            return self._environment(variable)
        word = token.text.lower().lstrip("\\") if token.kind == "name" else ""
        if word in _CONSTANTS:
            return _CONSTANTS[word]
        if word in ("__dir__", "__file__"):
            real = self.file.resolve()  # PHP's magic constants name the file with links resolved
            return str(real.parent if word == "__dir__" else real)
        if word in ("array", "getenv") and self._is(self.pos, "("):
            self.pos += 1
            if word == "array":
                return self._array(")")
            variable = self._expression()
            self._expect(")")
            return self._environment(variable)
        raise _NotStatic()

    def _array(self, closing: str) -> dict[PhpKey, PhpValue]:
        """`array(...)` or `[...]` after its opening token, with or without `key =>`."""
        items: dict[PhpKey, PhpValue] = {}
        next_index = 0
        while not self._is(self.pos, closing):
            value = self._expression()
            key: PhpValue = next_index
            if self._is(self.pos, "=>"):
                self.pos += 1
                key, value = value, self._expression()
            if not isinstance(key, str | int):
                raise _NotStatic()
            items[key] = value
            if isinstance(key, int):
                next_index = max(next_index, key + 1)
            if not self._is(self.pos, closing):
                self._expect(",")
        self.pos += 1
        return items

    def _environment(self, variable: PhpValue) -> str:
        if not isinstance(variable, str):
            raise _NotStatic()
        value = self.environ.get(variable)
        if value is None:
            raise _NotStatic(
                f"reads the environment variable {variable}, which is not set; set it for "
                "manireports too, or set [moodle] url instead."
            )
        return value

    def _token(self, index: int) -> _Token:
        if index < len(self.tokens):
            return self.tokens[index]
        return _Token("end", "", 0)

    def _is(self, index: int, op: str) -> bool:
        token = self._token(index)
        return token.kind == "op" and token.text == op

    def _expect(self, op: str) -> None:
        if not self._is(self.pos, op):
            raise _NotStatic()
        self.pos += 1

    def _after_brackets(self, index: int) -> int:
        """The index just past the bracket that closes the one at `index`."""
        depth = 0
        for position in range(index, len(self.tokens)):
            if self._is(position, "["):
                depth += 1
            elif self._is(position, "]"):
                depth -= 1
                if depth == 0:
                    return position + 1
        return len(self.tokens)


def _with_element(
    current: PhpValue | _Unknown, key: PhpValue, value: PhpValue
) -> PhpValue | _Unknown:
    """`$CFG->name[key] = value` on what `$CFG->name` held before (PHP creates a missing array)."""
    if isinstance(current, _Unknown):
        return current
    if current is None:
        current = {}
    if not isinstance(current, dict) or not isinstance(key, str | int):
        raise _NotStatic()
    return {**current, key: value}


def _php_string(value: PhpValue) -> str | None:
    """PHP's conversion to string, for the values where it is unambiguous; None otherwise."""
    if value is None or value is False:
        return ""
    if value is True:
        return "1"
    if isinstance(value, str | int):
        return str(value)
    return None


def _concatenable(value: PhpValue) -> str:
    text = _php_string(value)
    if text is None:
        raise _NotStatic()
    return text


def _php_empty(value: PhpValue) -> bool:
    """PHP's empty(), which is how Moodle's drivers test dboptions."""
    return not value or value == "0"


# --- settings -----------------------------------------------------------------------------------


def _known(values: Mapping[str, PhpValue | _Unknown], key: str, file: Path) -> PhpValue:
    value = values.get(key)
    if isinstance(value, _Unknown):
        raise ConfigError(f"$CFG->{key} in {file} (line {value.line}) {value.reason}")
    return value


def _text(values: Mapping[str, PhpValue | _Unknown], key: str, file: Path) -> str:
    """A text setting; "" when unset, as Moodle's setup defaults it."""
    text = _php_string(_known(values, key, file))
    if text is None:
        raise ConfigError(f"$CFG->{key} in {file} must be a string.")
    return text


def _optional_text(values: Mapping[str, PhpValue | _Unknown], key: str) -> str | None:
    value = values.get(key)
    return value if isinstance(value, str) else None


_HOST_AND_PORT = re.compile(r"(?P<host>\[[^\]]*\]|[^:\[\]]*)(?::(?P<port>\d+))?")


def _split_host(dbhost: str) -> tuple[str, int | None]:
    """`host`, `host:port` or `[ipv6]:port`; a bare IPv6 address stays whole."""
    match = _HOST_AND_PORT.fullmatch(dbhost)
    if match is None:
        return dbhost, None
    port = match.group("port")
    return match.group("host").strip("[]"), int(port) if port else None


def _port(value: PhpValue, file: Path) -> int:
    """dboptions' dbport, which the installer writes as a string and admins often as a number."""
    number = value
    if isinstance(value, str) and re.fullmatch(r"\s*\d+\s*", value, re.ASCII):
        number = int(value)
    if isinstance(number, int) and not isinstance(number, bool) and 0 < number < 65536:
        return number
    raise ConfigError(
        f"$CFG->dboptions['dbport'] in {file} is {value!r}, which is not a port number."
    )
