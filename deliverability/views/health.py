"""The dashboard's Health page: today's score, grade, metrics and insights, and the trend of the
daily snapshots as an inline SVG chart (no JavaScript)."""

from __future__ import annotations

from typing import Any

from django.views.generic import TemplateView

from deliverability import health
from deliverability.models import HealthSnapshot
from mailcrm.dashboard.access import WorkspaceMixin

CHART_W, CHART_H, CHART_PAD = 640, 220, 30
TREND_DAYS = 90
# Gridlines at the top and at the grade boundaries the score is read against.
GRID = (100, 90, 80, 70, 60)

RATE_LABELS = [
    ("bounce_rate", "Bounce rate", "under 2%"),
    ("complaint_rate", "Complaint rate", "under 0.1%, never 0.3%"),
    ("unsubscribe_rate", "Unsubscribe rate", "under 0.5%"),
    ("open_rate", "Open rate (people)", "15% or more"),
    ("click_rate", "Click rate (people)", "2% or more"),
]


def trend_chart(snapshots: list[HealthSnapshot]) -> dict[str, Any] | None:
    """Coordinates for a line of daily scores on a fixed 0–100 axis."""
    if not snapshots:
        return None
    width, height = CHART_W - 2 * CHART_PAD, CHART_H - 2 * CHART_PAD
    step = width / max(len(snapshots) - 1, 1)

    def y(score: float) -> float:
        return round(CHART_PAD + height - height * score / 100, 1)

    dots = [(round(CHART_PAD + i * step, 1), y(s.score)) for i, s in enumerate(snapshots)]
    marks = sorted({0, len(snapshots) // 2, len(snapshots) - 1})
    return {
        "width": CHART_W,
        "height": CHART_H,
        "pad": CHART_PAD,
        "bottom": CHART_H - CHART_PAD,
        "right": CHART_W - CHART_PAD,
        "points": " ".join(f"{x},{y_}" for x, y_ in dots),
        "dots": [
            {"x": x, "y": y_, "score": s.score, "grade": s.grade, "day": s.day}
            for (x, y_), s in zip(dots, snapshots, strict=True)
        ],
        "grid": [{"y": y(value), "score": value} for value in GRID],
        "labels": [{"x": dots[i][0], "text": snapshots[i].day.strftime("%b %d")} for i in marks],
        "rows": snapshots,
        "first": snapshots[0],
        "latest": snapshots[-1],
    }


def _shown(metric: dict[str, Any]) -> str:
    return "—" if metric["value"] is None else health.percent(metric["value"])


class HealthView(WorkspaceMixin, TemplateView):
    template_name = "deliverability/health.html"

    def get_context_data(self, **kwargs):
        result = health.health_score(self.workspace)
        metrics = result["metrics"]
        rates = [
            {"key": key, "label": label, "aim": aim, "shown": _shown(metrics[key]), **metrics[key]}
            for key, label, aim in RATE_LABELS
        ]
        return super().get_context_data(
            result=result,
            metrics=metrics,
            rates=rates,
            auth_shown=_shown(metrics["domain_authentication"]),
            hygiene_shown=_shown(metrics["list_hygiene"]),
            chart=trend_chart(health.health_trend(self.workspace, days=TREND_DAYS)),
            trend_days=TREND_DAYS,
            **kwargs,
        )
