"""The dashboard's charts as pygal's server-side SVG: a chart is a value (title, labels, series), drawn
here and shown as the same numbers in a table beside it (templates/admin/home.html).

The page shows each SVG as an <img>: pygal puts a <style> and a <script> in it, which the console's CSP
would refuse inline; in an image nothing runs, and the script (pygal's tooltips) is dropped here anyway.
The output is deterministic: a fixed id instead of pygal's random one, no comment carrying today's date.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import pygal  # type: ignore[import-untyped]  # no stubs, no py.typed
from lxml import etree
from pygal.style import Style  # type: ignore[import-untyped]

from syndicator.text import strip_forbidden

# pygal adds an import hook to sys.meta_path for its map plugins (pygal.maps.*, unused here); an
# old-style finder, it makes every import after it warn (ImportWarning), so it goes.
sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, pygal.PluginImportFixer)]

WIDTH = 800  # the viewBox: the <img> scales it to its box
HEIGHT = 400
MAJOR_LABELS = 7  # at most this many x labels written, however many days: level, never overlapping
# Okabe and Ito's palette (told apart with the common colour-vision deficiencies), then Tol's muted
# colours for a site with more categories than eight
COLOURS = (
    "#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#000000", "#F0E442",
    "#882255", "#44AA99", "#999933", "#332288", "#AA4499", "#117733", "#DDCC77", "#88CCEE",
)  # fmt: skip
STYLE = Style(
    background="#ffffff",
    plot_background="#ffffff",
    foreground="#222222",
    foreground_strong="#111111",
    foreground_subtle="#666666",
    font_family='system-ui, "Segoe UI", Roboto, "Noto Sans", "Helvetica Neue", Arial, sans-serif',
    label_font_size=15,
    major_label_font_size=15,
    legend_font_size=16,
    title_font_size=19,
    colors=COLOURS,
)


@dataclass(frozen=True, slots=True)
class Series:
    name: str
    values: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Chart:
    key: str  # its name in the URL, and the SVG's id
    title: str
    alt: str  # what the image says, for whoever does not see it
    labels: tuple[str, ...]  # on the x axis (short)
    rows: tuple[str, ...]  # the same points as the table's rows name them (in full)
    series: tuple[Series, ...]
    bars: bool = False  # stacked bars, else lines

    @property
    def has_data(self) -> bool:
        return any(any(s.values) for s in self.series)


def svg(chart: Chart) -> bytes:
    ticks = _ticks(_highest(chart))
    drawn = (pygal.StackedBar if chart.bars else pygal.Line)(
        js=[],
        style=STYLE,
        width=WIDTH,
        height=HEIGHT,
        explicit_size=False,
        legend_at_bottom=True,
        legend_at_bottom_columns=min(3, max(1, len(chart.series))),
        truncate_legend=24,  # three columns of 800 px at 16 px: longer ran into the next (the table has them)
        show_minor_x_labels=False,
        x_labels_major_every=max(1, -(-len(chart.labels) // MAJOR_LABELS)),
        x_label_rotation=0,
        truncate_label=-1,  # pygal would cut every label to the room of one day, majors too
        margin_bottom=36,  # pygal underestimates the legend's rows at these font sizes
        stroke_style={"width": 3},
        dots_size=3 if len(chart.labels) <= 31 else 1.5,
        print_values=False,
        include_x_axis=True,
        no_data_text="",
        disable_xml_declaration=True,
        # no series (no category had an article): pygal draws its empty view, and fails given y labels
        **({"range": (0, ticks[-1]), "y_labels": ticks} if chart.series else {}),
    )
    drawn.uuid = chart.key  # pygal's is random: the id and every CSS rule would change on each draw
    # lxml refuses characters XML cannot carry: a name from the settings is not cleaned as stored ones are
    drawn.title = strip_forbidden(chart.title)
    drawn.x_labels = [strip_forbidden(label) for label in chart.labels]
    for series in chart.series:
        drawn.add(strip_forbidden(series.name), list(series.values))
    tree = drawn.render_tree()
    for node in list(tree.iter(etree.Comment, "{*}script", "script")):
        parent = node.getparent()
        if parent is not None:
            parent.remove(node)
    return bytes(etree.tostring(tree, xml_declaration=True, encoding="utf-8"))


def _ticks(highest: int) -> list[int]:
    """Whole numbers up the y axis (people, mails, polls: never 0.4 of one), about five steps of 1, 2
    or 5 times a power of ten, the last at or above `highest`."""
    rough = max(1, highest) / 5
    power = 1
    while power * 10 <= rough:
        power *= 10
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= rough)
    top = -(-max(1, highest) // step) * step
    return list(range(0, top + 1, step))


def _highest(chart: Chart) -> int:
    if not chart.series or not chart.labels:
        return 0
    if chart.bars:  # stacked: the highest total
        return max(sum(s.values[i] for s in chart.series) for i in range(len(chart.labels)))
    return max((max(s.values, default=0) for s in chart.series), default=0)
