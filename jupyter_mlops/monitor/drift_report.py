"""What ``drift`` returns: ``DriftReport``, one ``FeatureDrift`` per compared column, with the
reference and current shares per bin for the charts (``vega_lite``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from ..errors import UserInputError

if TYPE_CHECKING:
    import pandas as pd  # type: ignore[import-untyped, unused-ignore]

__all__ = ["FRAME_COLUMNS", "NO_ROWS", "DriftReport", "FeatureDrift"]

FeatureKind = Literal["numeric", "categorical"]
FRAME_COLUMNS = ("feature", "kind", "method", "statistic", "threshold", "drifted",
                 "reference_rows", "current_rows")
NO_ROWS = "no logged requests in the window"
_VEGA_LITE_SCHEMA = "https://vega.github.io/schema/vega-lite/v5.json"


@dataclass(frozen=True)
class FeatureDrift:
    """One column: ``statistic`` is the method's value (ks and chisquare: a p-value, drifted
    below ``threshold``; the others a distance, drifted at or above it); None when either
    side has no values of the column. Rows are the non-null values of the column."""

    feature: str
    kind: FeatureKind
    method: str
    statistic: float | None
    threshold: float
    drifted: bool
    reference_rows: int
    current_rows: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class DriftReport:
    """Drift of deployment ``name``'s logged requests in [since, until) against its
    reference."""

    name: str
    since: datetime | None
    until: datetime | None
    reference_origin: str
    reference_rows: int
    current_rows: int
    rows: list[FeatureDrift] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # model inputs the reference lacks
    histograms: dict[str, dict[str, list[Any]]] = field(default_factory=dict)
    message: str | None = None

    @property
    def drifted(self) -> list[str]:
        """The drifted features, in the report's order."""
        return [row.feature for row in self.rows if row.drifted]

    def frame(self) -> pd.DataFrame:
        import pandas as pd

        frame = pd.DataFrame([row.to_dict() for row in self.rows], columns=list(FRAME_COLUMNS))
        frame["statistic"] = frame["statistic"].astype("float64")
        frame["threshold"] = frame["threshold"].astype("float64")
        frame["drifted"] = frame["drifted"].astype(bool)
        for column in ("reference_rows", "current_rows"):
            frame[column] = frame[column].astype("int64")
        return frame

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "since": _iso(self.since), "until": _iso(self.until),
                "reference": {"origin": self.reference_origin, "rows": self.reference_rows},
                "current_rows": self.current_rows,
                "features": [row.to_dict() for row in self.rows],
                "drifted": self.drifted, "missing": list(self.missing),
                "histograms": self.histograms, "message": self.message}

    def to_text(self) -> str:
        window = (f"{_when(self.since) if self.since else 'the start of the log'} to "
                  f"{_when(self.until) if self.until else 'now'}")
        drifted = self.drifted
        head = (f"{self.name}: {len(drifted)} of {len(self.rows)} features drifted"
                + (f" ({', '.join(drifted)})" if drifted else ""))
        lines = [head,
                 f"  reference: {self.reference_origin}, {self.reference_rows} rows",
                 f"  current:   {self.current_rows} logged rows, {window}"]
        if self.rows:
            width = max(len("feature"), *(len(row.feature) for row in self.rows))
            lines.append(f"  {'feature':<{width}}  {'kind':<11}  {'method':<13}  "
                         f"{'statistic':>10}  {'threshold':>9}  status")
            for row in self.rows:
                status = ("no data" if row.statistic is None
                          else "DRIFTED" if row.drifted else "ok")
                statistic = "-" if row.statistic is None else f"{row.statistic:.4g}"
                test = f"p<{row.threshold:g}" if row.method in ("ks", "chisquare") \
                    else f"≥{row.threshold:g}"
                lines.append(f"  {row.feature:<{width}}  {row.kind:<11}  {row.method:<13}  "
                             f"{statistic:>10}  {test:>9}  {status}")
        if self.missing:
            lines.append("  not in the reference (not compared): " + ", ".join(self.missing))
        if self.message:
            lines.append(f"  note: {self.message}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.to_text()

    def vega_lite(self, feature: str | None = None) -> dict[str, Any]:
        """A Vega-Lite v5 spec of the reference's and the current shares per bin: one
        grouped bar chart for ``feature``, else one per feature (a facet)."""
        if feature is not None and feature not in self.histograms:
            known = ", ".join(self.histograms) or "none"
            raise UserInputError(f"no feature {feature!r} in the drift report of "
                                 f"{self.name} (features: {known})")
        shown = [feature] if feature is not None else list(self.histograms)
        values = [{"feature": name, "bin": label, "order": i, "source": source,
                   "share": self.histograms[name][source][i]}
                  for name in shown
                  for i, label in enumerate(self.histograms[name]["bins"])
                  for source in ("reference", "current")]
        chart: dict[str, Any] = {
            "mark": {"type": "bar"},
            "encoding": {
                "x": {"field": "bin", "type": "ordinal", "title": None,
                      "sort": {"field": "order"}, "axis": {"labelAngle": -40,
                                                           "labelFontSize": 9}},
                "xOffset": {"field": "source", "sort": ["reference", "current"]},
                "y": {"field": "share", "type": "quantitative", "title": "share",
                      "axis": {"format": ".0%"}},
                "color": {"field": "source", "type": "nominal", "title": None,
                          "scale": {"domain": ["reference", "current"],
                                    "range": ["#9e9e9e", "#1565c0"]}},
                "tooltip": [{"field": "bin"}, {"field": "source"},
                            {"field": "share", "format": ".2%"}]},
            "width": 260, "height": 120}
        spec: dict[str, Any] = {"$schema": _VEGA_LITE_SCHEMA, "data": {"values": values},
                                "description": f"{self.name}: reference vs current "
                                               "distribution per feature"}
        if feature is not None:
            spec.update(chart, title=feature)
            return spec
        spec.update(facet={"field": "feature", "type": "nominal", "title": None,
                           "sort": shown},
                    columns=3, spec=chart, resolve={"scale": {"x": "independent"}})
        return spec


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _when(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC")
