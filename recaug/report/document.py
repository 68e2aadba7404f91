"""A report as plain data (sections of paragraphs, tables, figures), rendered to
Markdown and to one self-contained HTML page from the same content."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any, Union


@dataclass
class Table:
    headers: list[str]
    rows: list[list[Any]]


@dataclass
class Figure:
    title: str
    png: bytes
    filename: str


@dataclass
class Code:
    text: str


Block = Union[str, Table, Figure, Code]


@dataclass
class Section:
    title: str
    blocks: list[Block] = field(default_factory=list)


def fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 1000 else f"{value:,.0f}"
    if value is None:
        return "–"
    return str(value)


def to_markdown(title: str, sections: list[Section], figure_dir: str = "plots") -> str:
    out = [f"# {title}", ""]
    for section in sections:
        out += [f"## {section.title}", ""]
        for block in section.blocks:
            if isinstance(block, Table):
                out.append("| " + " | ".join(block.headers) + " |")
                out.append("|" + "---|" * len(block.headers))
                out += ["| " + " | ".join(fmt(c).replace("|", "\\|") for c in row) + " |" for row in block.rows]
            elif isinstance(block, Figure):
                out.append(f"![{block.title}]({figure_dir}/{block.filename})")
            elif isinstance(block, Code):
                out += ["```", block.text, "```"]
            else:
                out.append(block)
            out.append("")
    return "\n".join(out)


_STYLE = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1em}th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left}
th{background:#f3f3f3}td{font-variant-numeric:tabular-nums}pre{background:#f7f7f7;padding:.6em;overflow:auto}
img{max-width:100%;border:1px solid #eee}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.6em}
"""


def to_html(title: str, sections: list[Section]) -> str:
    """One HTML file with figures inlined as base64 PNG: opens from disk, no server."""
    import base64

    esc = html.escape
    out = [f"<!doctype html><html><head><meta charset='utf-8'><title>{esc(title)}</title><style>{_STYLE}</style></head><body>",
           f"<h1>{esc(title)}</h1>"]
    out.append("<nav><ul>" + "".join(f"<li><a href='#s{i}'>{esc(s.title)}</a></li>" for i, s in enumerate(sections)) + "</ul></nav>")
    for i, section in enumerate(sections):
        out.append(f"<h2 id='s{i}'>{esc(section.title)}</h2>")
        for block in section.blocks:
            if isinstance(block, Table):
                out.append("<table><tr>" + "".join(f"<th>{esc(h)}</th>" for h in block.headers) + "</tr>")
                out += ["<tr>" + "".join(f"<td>{esc(fmt(c))}</td>" for c in row) + "</tr>" for row in block.rows]
                out.append("</table>")
            elif isinstance(block, Figure):
                data = base64.b64encode(block.png).decode("ascii")
                out.append(f"<figure><img alt='{esc(block.title)}' src='data:image/png;base64,{data}'><figcaption>{esc(block.title)}</figcaption></figure>")
            elif isinstance(block, Code):
                out.append(f"<pre>{esc(block.text)}</pre>")
            else:
                out.append(f"<p>{esc(block)}</p>")
    out.append("</body></html>")
    return "\n".join(out)
