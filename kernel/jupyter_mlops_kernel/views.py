"""What every rich display of a verb's result shares: the view base class, the state colours
and marks, and Vega-Lite's MIME type."""

from __future__ import annotations

from typing import Any

COLORS = {"ok": "#2e7d32", "warning": "#ef6c00", "error": "#c62828"}
MARKS = {"ok": "✓", "warning": "!", "error": "✗"}
VEGA_LITE = "application/vnd.vegalite.v5+json"


class ResultView:
    """A verb's result as the magic returns it: its text always (``to_text()``, else
    ``str``), its HTML (``html()``) while the magic's ``rich`` setting is on."""

    def __init__(self, result: Any, *, rich: bool = True) -> None:
        self.result = result
        self.rich = rich

    def text(self) -> str:
        to_text = getattr(self.result, "to_text", None)
        return str(to_text() if callable(to_text) else self.result)

    def html(self) -> str:
        raise NotImplementedError

    def __repr__(self) -> str:
        return self.text()

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        bundle: dict[str, Any] = {"text/plain": self.text()}
        if self.rich:
            bundle["text/html"] = self.html()
        return bundle
