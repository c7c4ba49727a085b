"""User-facing errors. Every error raised to a user is a ``HelionError`` naming the problem and,
when it comes from kernel source, the user's file, line and source text."""
from __future__ import annotations

import linecache


class HelionError(Exception):
    """Base class of all errors this package raises on purpose."""

    def __init__(self, message: str, *, filename: str | None = None, lineno: int | None = None):
        self.message = message
        self.filename = filename
        self.lineno = lineno
        super().__init__(self._format())

    def at(self, filename: str | None, lineno: int | None) -> "HelionError":
        """Attach a source location if the error has none yet; returns self."""
        if self.lineno is None and lineno is not None:
            self.filename, self.lineno = filename, lineno
            self.args = (self._format(),)
        return self

    def _format(self) -> str:
        if self.lineno is None:
            return self.message
        text = linecache.getline(self.filename or "", self.lineno).strip()
        where = f'\n  File "{self.filename}", line {self.lineno}'
        return f"{self.message}{where}\n    {text}" if text else f"{self.message}{where}"


class UnsupportedSyntax(HelionError):
    """Python syntax that device code does not support."""


class UndefinedName(HelionError):
    """Device code reads a name that is defined nowhere."""


class UnsupportedOperation(HelionError):
    """A torch or Python operation with no device lowering."""


class ShapeMismatch(HelionError):
    """Shapes of device values or stores do not agree."""


class DtypeMismatch(HelionError):
    """Dtypes cannot be combined or stored as written."""


class HostDeviceError(HelionError):
    """Host code reads a device value, or device code assigns a host variable."""


class InvalidConfig(HelionError):
    """A config that does not fit the kernel's search space."""


class NotInDeviceCode(HelionError):
    """An ``hl.*`` device function called outside a device loop."""


class UnknownStrategy(HelionError):
    """``autotune_strategy`` names no registered strategy."""


class AutotuneError(HelionError):
    """Autotuning found no configuration that compiles and computes the right answer."""


class InternalError(HelionError):
    """A compiler bug surfaced while processing the user's source (location attached)."""


class HelionWarning(UserWarning):
    """Base class of the warnings this package emits; ``@helion.kernel(ignore_warnings=[...])``
    (or ``HELION_IGNORE_WARNINGS=Name,...``) silences them per kernel."""


BaseWarning = HelionWarning  # the public Helion name


class TensorOperationInWrapper(HelionWarning):
    """Host code (outside every ``hl.tile``/``hl.grid`` loop) computes with tensors: that work
    runs as separate PyTorch ops, not fused into the generated kernel."""


class TensorOperationsInHostCall(TensorOperationInWrapper):
    """The public Helion name of :class:`TensorOperationInWrapper` for one named operation."""
