"""Geometry of the revenue page's charts: bars per month drawn on the server as SVG
(templates/admin/reports/value_chart.html), with a value axis, month labels and every
bar's value written on it, so they read without a mouse or script (and the Content-
Security-Policy allows no chart library's inline styles).

A chart has one or more series; a month's positive values stack up from zero and its
negative ones down from it (the MRR movements: new, expansion and reactivation above,
contraction and churn below). Pure: Decimals in, integer-ish pixel positions out."""

import math
from dataclasses import dataclass
from decimal import Decimal

from catalog.money import round_money

ZERO = Decimal(0)
LEFT = 84  # room for the value axis' labels
RIGHT = 12
TOP = 22  # room for the labels above the highest bar
PLOT_HEIGHT = 200
MONTH_LABELS = 34  # two lines under the axis: "Jan", "2026"
LEGEND_ROW = 22
SLOT = 66  # one month
BAR = 38
LEGEND_SWATCH = 14  # the colour square and its gap
LEGEND_CHAR = 6  # about the width of a character at font-size 10
LEGEND_GAP = 18
BELOW_LABELS = 16
MONTH_NAMES = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()


@dataclass(frozen=True)
class Series:
    name: str
    fill: str
    values: list[Decimal]  # one per month; negative ones are drawn below zero


@dataclass(frozen=True)
class Rect:
    y: float
    height: float
    fill: str
    title: str


@dataclass(frozen=True)
class Column:
    month: str
    x: float  # left edge of the bar
    center: float
    rects: list[Rect]
    title: str  # everything about the month, for assistive technology and tooltips
    labels: list[tuple[float, str]]  # (baseline y, text) written above/below the bars
    month_name: str
    year: str


@dataclass(frozen=True)
class Tick:
    y: float
    label: str


@dataclass(frozen=True)
class LegendItem:
    x: float
    name: str
    fill: str


@dataclass(frozen=True)
class ValueChart:
    width: int
    height: int
    left: int
    right: float
    top: int
    bottom: float  # y of the plot's lower edge
    zero_y: float
    ticks: list[Tick]
    columns: list[Column]
    legend: list[LegendItem]
    legend_y: float
    bar_width: int
    month_label_y: float
    summary: str  # one sentence: range, latest value


def short_amount(value: Decimal, currency: str) -> str:
    """An amount for a label on a chart: the currency's places below 10,000, whole units
    with separators above ("55.89", "-92.06", "1,052", "12,500")."""
    if abs(value) >= 10_000:
        return f"{value.quantize(Decimal(1)):,f}"
    return f"{round_money(value, currency):,f}"


def nice_step(span: float, ticks: int = 4) -> float:
    """A round step (1, 2, 2.5 or 5 × 10^n) that cuts `span` into about `ticks` parts."""
    if span <= 0:
        return 1.0
    raw = span / ticks
    magnitude = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 2.5, 5, 10):
        if factor * magnitude >= raw:
            return factor * magnitude
    return 10 * magnitude  # pragma: no cover - the loop always returns


def value_chart(
    months: list[str],
    series: list[Series],
    *,
    currency: str,
    totals: bool = False,
    column_labels: list[tuple[str, str]] | None = None,
) -> ValueChart:
    """The geometry of bars per month. `totals`: write each month's sum above (positive)
    and below (negative) its stack instead of each single value (for stacked series).
    `column_labels`: the two lines under each bar when the bars are not months ("YYYY-MM" gives
    "Jan" over "2026"), e.g. the buckets of an ageing chart."""
    count = len(months)
    ups = [sum((s.values[i] for s in series if s.values[i] > 0), ZERO) for i in range(count)]
    downs = [sum((s.values[i] for s in series if s.values[i] < 0), ZERO) for i in range(count)]
    high, low = float(max(ups, default=ZERO)), float(min(downs, default=ZERO))
    step = nice_step(high - low)
    axis_high = math.ceil(high / step) * step if high > 0 else 0.0
    axis_low = math.floor(low / step) * step if low < 0 else 0.0
    if axis_high == axis_low:
        axis_high = step
    scale = PLOT_HEIGHT / (axis_high - axis_low)
    zero_y = TOP + axis_high * scale

    def y_of(value: float) -> float:
        return round(zero_y - value * scale, 1)

    ticks = []
    for k in range(round((axis_high - axis_low) / step) + 1):
        tick = Decimal(str(round(axis_low + k * step, 6)))
        ticks.append(Tick(y_of(float(tick)), short_amount(tick, currency)))

    columns = []
    for index, month in enumerate(months):
        x = LEFT + index * SLOT + (SLOT - BAR) / 2
        rects, above, below = [], 0.0, 0.0
        parts = []
        for one in series:
            value = one.values[index]
            parts.append(f"{one.name} {short_amount(value, currency)}")
            if not value:
                continue
            size = abs(float(value)) * scale
            if value > 0:
                top = zero_y - above - size
                above += size
            else:
                top = zero_y + below
                below += size
            title = f"{month}: {one.name} {round_money(value, currency):,f} {currency}"
            rects.append(Rect(round(top, 1), round(size, 1), one.fill, title))
        labels = []
        if totals:
            if ups[index]:
                labels.append(
                    (round(zero_y - above - 4, 1), "+" + short_amount(ups[index], currency))
                )
            if downs[index]:
                labels.append((round(zero_y + below + 12, 1), short_amount(downs[index], currency)))
            if not labels:
                labels.append((round(zero_y - 4, 1), short_amount(ZERO, currency)))
        else:
            value = sum((s.values[index] for s in series), ZERO)
            if value >= 0:
                labels.append((round(zero_y - above - 4, 1), short_amount(value, currency)))
            else:
                labels.append((round(zero_y + below + 12, 1), short_amount(value, currency)))
        if column_labels is not None:
            name, year = column_labels[index]
        else:
            year, number = month.split("-")
            name = MONTH_NAMES[int(number) - 1]
        columns.append(
            Column(
                month=month,
                x=round(x, 1),
                center=round(x + BAR / 2, 1),
                rects=rects,
                title=f"{month}: " + ", ".join(parts) + f" {currency}",
                labels=labels,
                month_name=name,
                year=year,
            )
        )

    legend, legend_x = [], LEFT
    for one in series:
        legend.append(LegendItem(legend_x, one.name, one.fill))
        legend_x += LEGEND_SWATCH + LEGEND_CHAR * len(one.name) + LEGEND_GAP
    width = max(LEFT + count * SLOT + RIGHT, legend_x)
    bottom = TOP + PLOT_HEIGHT
    # Room for the labels under the lowest bars before the month names.
    labels_top = bottom + (BELOW_LABELS if any(downs) else 0)
    legend_y = labels_top + MONTH_LABELS + 14
    return ValueChart(
        width=width,
        height=int(legend_y + LEGEND_ROW - 8),
        left=LEFT,
        right=width - RIGHT,
        top=TOP,
        bottom=bottom,
        zero_y=round(zero_y, 1),
        ticks=ticks,
        columns=columns,
        legend=legend,
        legend_y=legend_y,
        bar_width=BAR,
        month_label_y=labels_top + 14,
        summary=_summary(months, series, currency),
    )


def _summary(months: list[str], series: list[Series], currency: str) -> str:
    if not months:
        return "No months."
    last = ", ".join(f"{one.name} {round_money(one.values[-1], currency):,f}" for one in series)
    return f"{months[0]} to {months[-1]}, in {currency}; {months[-1]}: {last}."
