"""One line that names the problem, for any exception a command reports to its user."""
from __future__ import annotations

import errno


def describe(e: BaseException) -> str:
    """`<path>: <what went wrong>` for OS errors (ENOSPC says the disk is full), the first
    validation error for pydantic, else the exception's first line."""
    if isinstance(e, OSError):
        what = "no space left on the device (disk full)" if e.errno == errno.ENOSPC else (e.strerror or str(e))
        where = e.filename if e.filename is not None else None
        return f"{where}: {what}" if where is not None else what
    errs = getattr(e, "errors", None)
    if callable(errs):
        try:
            first = errs()[0]
        except Exception:       # not pydantic's errors(): fall through to the message
            first = None
        if isinstance(first, dict):
            loc = ".".join(str(x) for x in first.get("loc", ()))
            msg = str(first.get("msg", e)).removeprefix("Value error, ")
            return f"{loc}: {msg}" if loc else msg
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__
