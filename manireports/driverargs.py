"""What manireports passes to a database driver when it connects, to Moodle and to its state.

PyMySQL (1.2) offers TLS on every connection whose URL names no TLS option, and builds the TLS
context for it (the system's CA certificates, read and parsed) before it knows whether the server
accepts TLS: 0.035 s of CPU on every connection, two in each command (Moodle and the state), used
or not. To a database on this same host TLS protects nothing (whoever can read the loopback
interface can read the server's files), so there it is not offered. A URL that names any `ssl`
option is left as it is, and a server on another host is offered TLS as before.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


def tls_arguments(url: sa.URL) -> dict[str, Any]:
    """The driver's TLS arguments for `url`: none, or PyMySQL's ssl_disabled on this host."""
    local = url.host is None or url.host.lower() in LOCAL_HOSTS
    named = any(key.startswith("ssl") for key in url.query)
    if url.get_driver_name() == "pymysql" and local and not named:
        return {"ssl_disabled": True}
    return {}
