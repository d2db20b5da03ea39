"""A bar chart as plain SVG, drawn on the server, so the report reads without JavaScript."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

WIDTH = 720
HEIGHT = 240
LEFT = 8
BOTTOM = 28
TOP = 20


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str
    amount: Decimal


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    baseline: float
    bars: list[Bar]


def bar_chart(months) -> Chart:
    """One bar per month, scaled to the largest month (an empty year draws flat bars)."""
    peak = max((m.amount for m in months), default=Decimal(0)) or Decimal(1)
    slot = (WIDTH - LEFT * 2) / max(len(months), 1)
    usable = HEIGHT - BOTTOM - TOP
    bars = []
    for index, month in enumerate(months):
        height = float(month.amount / peak) * usable
        bars.append(
            Bar(
                x=LEFT + index * slot + slot * 0.15,
                y=HEIGHT - BOTTOM - height,
                width=slot * 0.7,
                height=height,
                label=month.label,
                amount=month.amount,
            )
        )
    return Chart(WIDTH, HEIGHT, HEIGHT - BOTTOM, bars)
