"""A self-contained HTML report: sections of text, tables and embedded PNG figures.

The report is one file with every figure inlined as base64, so it can be mailed or archived
on its own. Build it from :class:`Section` objects and write it with :func:`write_report`
(atomic).
"""
import base64
import html
from dataclasses import dataclass, field
from pathlib import Path

from ..utils import atomic_write

__all__ = ["Section", "table_html", "write_report"]

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; color: #222; line-height: 1.45; }
h1 { border-bottom: 2px solid #444; } h2 { margin-top: 2em; border-bottom: 1px solid #bbb; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.9em; }
td, th { border: 1px solid #ccc; padding: 3px 8px; text-align: right; } th { background: #f0f0f0; }
td:first-child, th:first-child { text-align: left; }
figure { margin: 1em 0; } figcaption { font-size: 0.9em; color: #555; }
img { max-width: 100%; } .finding { background: #eef6ee; border-left: 4px solid #4a4; padding: 0.5em 1em; }
.warning { background: #fbf3e6; border-left: 4px solid #d80; padding: 0.5em 1em; } pre { background: #f6f6f6; padding: 0.6em; overflow-x: auto; }
"""


@dataclass
class Section:
    """A titled part of the report: paragraphs (HTML allowed), tables (HTML) and figures (PNG paths)."""

    title: str
    paragraphs: list = field(default_factory=list)
    tables: list = field(default_factory=list)
    figures: list = field(default_factory=list)    # (path, caption)


def table_html(rows, header, fmt="{:.4g}"):
    """An HTML table from a list of row lists; floats formatted with ``fmt``."""
    def cell(v):
        return fmt.format(v) if isinstance(v, float) else html.escape(str(v))

    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _figure_html(path, caption):
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return (f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(caption)}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def write_report(path, title, sections, intro=""):
    """Write the report to ``path`` (temporary file, then rename)."""
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
             f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>", intro]
    toc = "".join(f"<li><a href='#s{i}'>{html.escape(s.title)}</a></li>" for i, s in enumerate(sections))
    parts.append(f"<ol>{toc}</ol>")
    for i, s in enumerate(sections):
        parts.append(f"<h2 id='s{i}'>{html.escape(s.title)}</h2>")
        parts += [f"<p>{p}</p>" for p in s.paragraphs]
        parts += s.tables
        parts += [_figure_html(p, c) for p, c in s.figures if Path(p).exists()]
    parts.append("</body></html>")
    with atomic_write(path) as tmp:
        Path(tmp).write_text("\n".join(parts), encoding="utf-8")
