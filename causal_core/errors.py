"""Domain errors: bad input or environment, said in one line (no traceback).

Library code raises these with the parameter at fault named by its Python name, through the
`{param}` placeholder of the message; a caller sees "val_fraction must be ...". The CLI
(causal_core/cli.py) prints the same line with that command's flag instead ("--val-fraction
must be ...") and exits 2. So library messages never assume a command line.

    CausalGolfError
    +-- DataError          data preparation and checks (causal_core/data)
    +-- DiagnosticError    checkpoint diagnostics (causal_core/diagnostics)
    +-- CliError           the command line itself (causal_core/cli.py): flags, combinations
"""
from __future__ import annotations


class CausalGolfError(Exception):
    """A user-facing problem. `param` (optional) is the parameter the message's `{param}` names."""

    def __init__(self, message: str, param: str | None = None):
        super().__init__(message)
        self.message, self.param = message, param

    def __str__(self) -> str:
        return self.worded(self.param or "")

    def worded(self, name: str) -> str:
        return self.message.replace("{param}", name) if self.param else self.message

    def for_cli(self, flags: dict[str, str] | None = None) -> str:
        """The message with the parameter spelled as the command's flag (`--snake-case` unless
        the command maps it otherwise, e.g. data_path -> --data)."""
        if not self.param:
            return self.message
        return self.worded((flags or {}).get(self.param) or "--" + self.param.replace("_", "-"))


class DataError(CausalGolfError):
    """Data preparation or a data directory check failed (causal_core/data)."""
