"""Secrets out of every output: camera credentials never reach a file, a log or a message.

:func:`redact` is the one function that shows a source: run metadata, the report,
log lines and error messages all pass through it. It hides the whole user-info part
of any URL in a text (``rtsp://user:pw@cam/live`` becomes ``rtsp://***@cam/live``)
and the values of query parameters that usually carry secrets (``?token=...``).
"""

from __future__ import annotations

import logging
import re

#: Query parameters whose values are treated as secrets.
SECRET_PARAMETERS = ("password", "passwd", "pwd", "pass", "token", "access_token", "auth", "key", "apikey",
                     "api_key", "secret", "signature", "sig", "user", "username")  # fmt: skip

MASK = "***"

# scheme://<userinfo>@host: the user info runs to the last '@' before the path (passwords may hold '@')
_USERINFO = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.\-]*://)(?P<userinfo>[^/\s?#]*)@")
_PARAMETER = re.compile(r"(?P<name>[?&;](?:" + "|".join(SECRET_PARAMETERS) + r")=)[^&;#\s'\"]*", re.IGNORECASE)


def redact(text: object) -> str:
    """``text`` (a source, a message, any string) with URL credentials and secret parameters masked.

    Args:
        text: Anything; it is converted with ``str``.

    Returns:
        The text with the user-info part of every URL and the values of secret query
        parameters replaced by ``***``. Text without URLs comes back unchanged.
    """
    value = str(text)
    if "://" not in value and "=" not in value:
        return value
    value = _USERINFO.sub(lambda m: f"{m['scheme']}{MASK}@", value)
    return _PARAMETER.sub(lambda m: f"{m['name']}{MASK}", value)


class RedactingFilter(logging.Filter):
    """A logging filter that redacts each record's message (attach it to a handler)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Replace the record's message by its redacted form; always keeps the record."""
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True
