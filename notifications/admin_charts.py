"""Small inline SVG charts for the admin's operations page: drawn on the server, no JavaScript library."""

from collections.abc import Sequence

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

WIDTH, HEIGHT = 240, 36


def _numbers(*values: float) -> tuple[str, ...]:
    return tuple(f"{value:.1f}" for value in values)


def sparkline(values: list[int], *, label: str) -> SafeString:
    """A line of `values` (oldest first) scaled to the largest; its last value is the label's."""
    if len(values) < 2:
        return format_html('<span class="trend-empty" title="{}">not enough samples yet</span>', label)
    top = max(max(values), 1)
    step = WIDTH / (len(values) - 1)
    points = " ".join(
        f"{i * step:.1f},{HEIGHT - 2 - (v / top) * (HEIGHT - 4):.1f}" for i, v in enumerate(values)
    )
    return format_html(
        '<svg class="trend" width="{}" height="{}" role="img" aria-label="{}"><title>{}</title>'
        '<polyline fill="none" stroke="currentColor" stroke-width="1.5" points="{}"/></svg>',
        WIDTH, HEIGHT, label, f"{label}: max {top}, now {values[-1]}", points,
    )  # fmt: skip


def outcome_bars(rows: Sequence[tuple[object, int, int]], *, label: str) -> SafeString:
    """One bar pair per minute: sent above the line, failed below, each scaled to the busiest minute."""
    top = max([max(sent, failed) for _, sent, failed in rows] + [1])
    half = HEIGHT
    width = WIDTH / max(len(rows), 1)
    bars = format_html_join(
        "",
        '<rect class="sent" x="{0}" y="{1}" width="{2}" height="{3}"/>'
        '<rect class="failed" x="{0}" y="{4}" width="{2}" height="{5}"/>',
        (
            _numbers(
                i * width, half - sent / top * half, width * 0.8, sent / top * half, half, failed / top * half
            )
            for i, (_, sent, failed) in enumerate(rows)
        ),
    )
    sent_total = sum(sent for _, sent, _ in rows)
    failed_total = sum(failed for _, _, failed in rows)
    return format_html(
        '<svg id="outcomes-chart" width="{}" height="{}" role="img" aria-label="{}"><title>{}</title>{}'
        '<line x1="0" y1="{}" x2="{}" y2="{}" stroke="currentColor" stroke-width="0.5"/></svg>',
        WIDTH, half * 2, label, f"{label}: {sent_total} sent, {failed_total} failed, busiest minute {top}",
        bars, half, WIDTH, half,
    )  # fmt: skip
