"""The rows of a PyMySQL streaming query, decoded in one loop per row.

PyMySQL decodes each column of each row through three method calls (a length-coded string, its
length, the bytes) and each row through three more (fetchmany, read_next, the unbuffered
reader): on course_completion's 70,000 rows of 11 columns that was about half the command's
processor time, and the report waited on it rather than on the server. This reader takes each
row packet from PyMySQL itself (`Connection._read_packet`, which keeps the protocol: sequence
numbers, rows split over several packets, error packets raised as PyMySQL's errors, timeouts)
and decodes the text-protocol row with the column decoders PyMySQL chose for the result, so
every value is the one PyMySQL's own cursor returns. The end of the result is recorded on
PyMySQL's result object as its own reader does, so the cursor closes and the connection is
reused as before.

It uses PyMySQL's result internals (`_result`, `converters`, `_read_packet`,
`_check_packet_is_eof`, checked with PyMySQL 1.2); a cursor without them is read through
`fetchmany` as before.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

# A text-protocol column starts with its length: one byte below 251, 251 for NULL, or a marker
# followed by a 2-, 3- or 8-byte little-endian length.
_NULL = 251
_LENGTH_BYTES = {252: 2, 253: 3, 254: 8}
# A row packet starting with 254 is the end of the result when it is that short (an EOF packet).
_END = 254


def unbuffered_rows(cursor: Any) -> Iterator[tuple[Any, ...]] | None:
    """Every row of the query just executed on a PyMySQL SSCursor, as PyMySQL would decode it;
    None when the cursor lacks the internals this relies on (the caller then fetches)."""
    result = getattr(cursor, "_result", None)
    if (
        result is None
        or not getattr(result, "unbuffered_active", False)
        or not hasattr(result, "converters")
        or not hasattr(result, "_check_packet_is_eof")
    ):
        return None
    return _rows(result)


def forget_unread(cursor: Any) -> None:
    """Mark a result left with rows unread as ended, because its connection is being dropped:
    otherwise PyMySQL, closing or collecting the cursor later, reads for those rows from the
    closed socket and prints the error it meets on stderr."""
    result = getattr(cursor, "_result", None)
    if result is not None and getattr(result, "unbuffered_active", False):
        result.unbuffered_active = False


def _rows(result: Any) -> Iterator[tuple[Any, ...]]:
    read_packet = result.connection._read_packet
    # int(b"12") is int("12"): integers skip the ASCII decoding PyMySQL does first.
    decoders = [(None, int) if conv is int else (enc, conv) for enc, conv in result.converters]
    lengths = _LENGTH_BYTES
    while True:
        packet = read_packet()
        data: bytes = packet._data
        if data[0] == _END and len(data) < 9:
            result._check_packet_is_eof(packet)
            result.unbuffered_active = False
            result.connection = None
            result.rows = None
            return
        # Decoded here rather than in a function per row or per column: the calls were the cost.
        row: list[Any] = []
        append = row.append
        position = 0
        size = len(data)
        for encoding, convert in decoders:
            if position >= size:  # a row shorter than its columns: PyMySQL stops there too
                break
            length = data[position]
            position += 1
            if length >= _NULL:
                if length == _NULL:
                    append(None)
                    continue
                width = lengths[length]
                length = int.from_bytes(data[position : position + width], "little")
                position += width
            value: Any = data[position : position + length]
            position += length
            if encoding is not None:
                value = value.decode(encoding)
            if convert is not None:
                value = convert(value)
            append(value)
        yield tuple(row)
