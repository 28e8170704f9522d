"""``cmtui report``'s shareable file: the analytics figures drawn for people outside the terminal.

Two forms, both drawn by matplotlib (the ``report`` extra):

- ``.html``: one self-contained page (the charts inline as SVG, the tables as HTML, no
  script and nothing fetched), so it opens in any browser, offline, and can be mailed.
  Plotly or Bokeh pages need a 3-4 MB JavaScript bundle inline or a CDN that a server
  without internet access cannot reach, for interaction nobody needs to read a trend.
- ``.png``: one image of the charts, for a chat message or a slide.

The file is written beside its destination and renamed at the end: never half-written.
"""

from __future__ import annotations

import html
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .analytics import ORIGINS, Analytics, period_name
from .taxonomy import ancestors

FORMATS = (".html", ".png")
TOP_LABELS = 8  # top-level labels drawn over time (the rest are in the tables)


class ReportError(Exception):
    """The report cannot be written (a one-line reason)."""


def check_destination(out: Path) -> None:
    """``ReportError`` unless ``out`` is a .html or .png file in an existing folder."""
    if out.suffix.lower() not in FORMATS:
        raise ReportError(f"{out}: use a .html or .png file name (or - for tables on stdout)")
    if not out.parent.is_dir():
        raise ReportError(f"{out}: no folder {out.parent}")


def write_report(a: Analytics, out: Path) -> None:
    """Write ``a`` to ``out`` (.html or .png)."""
    check_destination(out)
    suffix = out.suffix.lower()
    plt = _pyplot()
    figure = _figure(plt, a)
    tmp = out.with_name(f".{out.name}.part")
    try:
        if suffix == ".png":
            figure.savefig(tmp, format="png", dpi=110)
        else:
            svg = io.StringIO()
            figure.savefig(svg, format="svg")
            tmp.write_text(_page(a, svg.getvalue()), encoding="utf-8")
        tmp.replace(out)
    finally:
        plt.close(figure)
        tmp.unlink(missing_ok=True)


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise ReportError("drawing the report needs matplotlib: pip install 'cmtui[report]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _figure(plt: Any, a: Analytics) -> Any:
    """Volumes over time of the top-level labels; every label's predicted and reviewed
    totals; and, with sentiment, each top-level label's positive and negative shares."""
    tops = sorted((n for n in a.labels if not ancestors(n)), key=lambda n: -a.total("predicted", n))
    drawn = tops[:TOP_LABELS]
    heights = [3.0, max(2.5, 0.22 * len(a.labels)), 2.5][: 3 if a.has_sentiment else 2]
    figure, axes = plt.subplots(len(heights), 1, figsize=(10, sum(heights) + 1),
                                gridspec_kw={"height_ratios": heights})
    origin = "predicted" if a.model_version is not None else "reviewed"
    x = [period_name(p, a.bucket) for p in a.periods]
    for name in drawn:
        axes[0].plot(range(len(x)), a.series(origin, name), marker=".", label=name)
    axes[0].set_xticks(range(len(x))[:: max(1, len(x) // 10)], x[:: max(1, len(x) // 10)], rotation=30, fontsize=8)
    axes[0].set_title(f"Messages per {a.bucket} by top-level label ({origin})", fontsize=10)
    if drawn:
        axes[0].legend(fontsize=7, ncols=2)
    names = list(reversed(a.labels))
    for k, (name_of, height) in enumerate((("predicted", 0.4), ("reviewed", 0.4))):
        axes[1].barh([i + k * height for i in range(len(names))], [a.total(name_of, n) for n in names],
                     height=height, label=name_of)
    axes[1].set_yticks([i + 0.2 for i in range(len(names))], names, fontsize=7)
    axes[1].set_title("Messages per label (parents include their children)", fontsize=10)
    axes[1].legend(fontsize=7)
    if a.has_sentiment:
        signs = [a.sentiment.get(origin, {}).get(n, (0, 0)) for n in tops]
        shares = [(p / (p + q), q / (p + q)) if p + q else (0.0, 0.0) for p, q in signs]
        axes[2].bar(range(len(tops)), [s[0] for s in shares], label="positive", color="tab:green")
        axes[2].bar(range(len(tops)), [s[1] for s in shares], bottom=[s[0] for s in shares],
                    label="negative", color="tab:red")
        axes[2].set_xticks(range(len(tops)), tops, rotation=20, fontsize=8)
        axes[2].set_title(f"Sentiment share by top-level label ({origin})", fontsize=10)
        axes[2].legend(fontsize=7)
    figure.tight_layout()
    return figure


def _page(a: Analytics, svg: str) -> str:
    """The HTML page: a heading, the charts, and the figures as tables."""
    esc: Callable[[object], str] = lambda v: html.escape(str(v))  # noqa: E731
    model = (f"predictions of model v{a.model_version} at the balanced thresholds"
             if a.model_version is not None else "no model yet: reviewed labels only")
    span = (f"{period_name(a.periods[0], a.bucket)} to {period_name(a.periods[-1], a.bucket)}, by {a.bucket}"
            if a.periods else "no messages")
    mood = "<th>positive</th><th>negative</th>" if a.has_sentiment else ""
    rows = []
    for name in a.labels:
        cells = [f"<td>{'&nbsp;' * 4 * len(ancestors(name))}{esc(name.split(' > ')[-1])}</td>"]
        cells += [f"<td class=n>{a.total(o, name):,}</td>" for o in ORIGINS]
        if a.has_sentiment:
            pos, neg = a.sentiment.get(ORIGINS[0] if a.model_version is not None else ORIGINS[1], {}).get(name, (0, 0))
            cells += [f"<td class=n>{pos:,}</td>", f"<td class=n>{neg:,}</td>"]
        rows.append("<tr>" + "".join(cells) + "</tr>")
    periods = "".join(f"<tr><td>{esc(period_name(p, a.bucket))}</td><td class=n>{m:,}</td><td class=n>{r:,}</td></tr>"
                      for p, m, r in zip(a.periods, a.messages, a.reviewed, strict=True))
    pairs = "".join(f"<tr><td>{esc(o)}</td><td>{esc(x)} + {esc(y)}</td><td class=n>{n:,}</td></tr>"
                    for o in ORIGINS for x, y, n in a.pairs.get(o, []))
    svg_body = svg[svg.find("<svg"):]  # the XML declaration and doctype do not belong inside HTML
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>cmtui report: {esc(a.dataset)}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1000px}}table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:2px 8px;text-align:left}}td.n{{text-align:right}}svg{{max-width:100%;height:auto}}</style>
</head><body>
<h1>Dataset {esc(a.dataset)}</h1>
<p>{esc(a.filters.describe())}: {sum(a.messages):,} messages, {esc(span)}; {esc(model)}.</p>
{svg_body}
<h2>Messages per label</h2>
<table><tr><th>label</th><th>predicted</th><th>reviewed</th>{mood}</tr>{"".join(rows)}</table>
<h2>Messages per {esc(a.bucket)}</h2>
<table><tr><th>{esc(a.bucket)}</th><th>messages</th><th>reviewed</th></tr>{periods}</table>
<h2>Labels given together</h2>
<table><tr><th>by</th><th>labels</th><th>messages</th></tr>{pairs}</table>
</body></html>
"""
