"""The kernel's Python source: parsed once, with line numbers of the user's file."""
from __future__ import annotations

import ast
import builtins
import inspect
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .. import exc


@dataclass
class KernelSource:
    """A parsed kernel function and the scopes its names resolve in."""

    fn: Callable[..., Any]
    filename: str
    tree: ast.FunctionDef
    closure: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, fn: Callable[..., Any]) -> "KernelSource":
        filename = inspect.getsourcefile(fn) or "<unknown>"
        try:
            lines, firstlineno = inspect.getsourcelines(fn)
        except (OSError, TypeError) as e:
            raise exc.HelionError(f"cannot read the source of kernel {fn.__name__!r}: {e}") from None
        module = ast.parse(textwrap.dedent("".join(lines)))
        ast.increment_lineno(module, firstlineno - 1)
        tree = module.body[0]
        if not isinstance(tree, ast.FunctionDef):
            raise exc.UnsupportedSyntax("@helion.kernel must decorate a plain `def` function",
                                        filename=filename, lineno=firstlineno)
        cells = fn.__closure__ or ()
        closure = {}
        for name, cell in zip(fn.__code__.co_freevars, cells):
            try:
                closure[name] = cell.cell_contents
            except ValueError:  # an unbound cell
                pass
        return cls(fn, filename, tree, closure)

    def resolve_global(self, name: str) -> Any:
        """Value of a name that is not a local of the kernel (closure, module global or builtin)."""
        if name in self.closure:
            return self.closure[name]
        if name in self.fn.__globals__:
            return self.fn.__globals__[name]
        if hasattr(builtins, name):
            return getattr(builtins, name)
        raise NameError(name)

    def resolve_dotted(self, node: ast.expr) -> Any:
        """Resolve ``a.b.c`` (names and attributes only) without running any user code; None if not."""
        if isinstance(node, ast.Name):
            try:
                return self.resolve_global(node.id)
            except NameError:
                return None
        if isinstance(node, ast.Attribute):
            base = self.resolve_dotted(node.value)
            return getattr(base, node.attr, None) if base is not None else None
        return None

    def error(self, error_cls: type[exc.HelionError], message: str, node: ast.AST) -> exc.HelionError:
        return error_cls(message, filename=self.filename, lineno=getattr(node, "lineno", None))
