"""The one error type tnviz raises for bad input."""

from __future__ import annotations

__all__ = ["TnvizError"]


class TnvizError(ValueError):
    """Bad input to tnviz: a spec, sizes, tensors or options that do not fit.

    The message names the offending token and what was expected. Where the error
    comes from a spec, ``spec`` holds it and ``position`` the character offset of the
    token, and the message shows a caret under it, einops style.

    Attributes:
        token: the offending token (an index, a tensor name, an option), or None.
        spec: the spec being processed, or None.
        position: offset of ``token`` in ``spec``, or None.
    """

    def __init__(
        self,
        message: str,
        *,
        token: str | None = None,
        spec: str | None = None,
        position: int | None = None,
        shapes: object | None = None,
    ) -> None:
        self.token = token
        self.spec = spec
        self.position = position
        self.shapes = shapes
        self.message = message
        super().__init__(self._render())

    def _render(self) -> str:
        lines = [self.message]
        if self.spec is not None:
            lines.append(f"  spec:   {self.spec}")
            if self.position is not None and 0 <= self.position <= len(self.spec):
                lines.append("          " + " " * self.position + "^")
        if self.shapes is not None:
            lines.append(f"  shapes: {self.shapes}")
        return "\n".join(lines)

    def with_context(self, *, spec: str | None = None, shapes: object | None = None) -> TnvizError:
        """Return a copy with the spec and shapes of the public entry point attached."""
        return TnvizError(
            self.message,
            token=self.token,
            spec=self.spec if self.spec is not None else spec,
            position=self.position if self.spec is not None else None,
            shapes=self.shapes if self.shapes is not None else shapes,
        )
