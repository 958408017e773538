"""Offline HTML with Plotly figures: plotly.js comes from the installed ``plotly`` package,
never from a CDN, so reports and the dashboard work on an air-gapped machine."""

from __future__ import annotations

import html
from functools import cache
from pathlib import Path
from typing import Any

import orjson
import plotly

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0 auto;max-width:1200px;
padding:1rem 1.5rem;color:#1d2330;background:#fafbfc}
h1{font-size:1.5rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #dde}
table{border-collapse:collapse;font-size:.85rem;margin:.5rem 0}
th,td{border-bottom:1px solid #e3e6ea;padding:.3rem .6rem;text-align:left;vertical-align:top}
th{background:#eef1f5}td.num{text-align:right;font-variant-numeric:tabular-nums}
.figure{background:#fff;border:1px solid #e3e6ea;margin:.5rem 0}
.muted{color:#667}.flag{color:#b3261e;font-weight:600}
mark.scaffold{background:#ffe08a}
"""


@cache
def plotly_js() -> str:
    """The plotly.js bundle shipped inside the ``plotly`` Python package."""
    path = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    return path.read_text(encoding="utf-8")


def figure_json(fig: Any) -> bytes:
    """A figure (``plotly.graph_objects.Figure`` or its dict) as JSON for ``Plotly.newPlot``."""
    data = fig.to_plotly_json() if hasattr(fig, "to_plotly_json") else fig
    return orjson.dumps(data, option=orjson.OPT_SERIALIZE_NUMPY)


_SCRIPT_SAFE = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026"})


def script_json(fig: Any) -> str:
    """The figure's JSON, safe inside a ``<script>`` element whatever its strings hold: no
    ``<``, ``>`` or ``&`` is left to end the element or open an HTML comment."""
    return figure_json(fig).decode("utf-8").translate(_SCRIPT_SAFE)


def figure_div(fig: Any, div_id: str) -> str:
    """A div and the script that draws ``fig`` into it (plotly.js must be on the page)."""
    payload = script_json(fig)
    safe_id = html.escape(div_id, quote=True)
    return (
        f'<div class="figure" id="{safe_id}"></div>'
        f"<script>(function(){{var f={payload};"
        f'Plotly.newPlot("{safe_id}",f.data,f.layout||{{}},{{displaylogo:false,responsive:true}});'
        f"}})();</script>"
    )


def page(title: str, body: str) -> str:
    """One self-contained page: styles, plotly.js inline, then ``body``."""
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{CSS}</style>"
        f"<script>{plotly_js()}</script></head><body>{body}</body></html>"
    )
