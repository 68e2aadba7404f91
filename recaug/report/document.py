"""A report as plain data (a summary card, sections of paragraphs, tables, figures,
collapsible details), rendered to Markdown and to one self-contained HTML page from the
same content. Paragraphs may use `**bold**`, `` `code` `` and [text](href): Markdown
keeps them as written, HTML renders them (never as literal asterisks)."""

from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass, field
from typing import Any, Literal, Union


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


@dataclass
class Details:
    """Collapsed by default: the raw records a reader opens only when digging in."""

    summary: str
    blocks: list["Block"] = field(default_factory=list)


Block = Union[str, Table, Figure, Code, Details]


@dataclass
class Card:
    """The top of the report: the decision, what changed, headline metrics with deltas."""

    decision: str
    tone: Literal["good", "neutral", "bad"]
    reason: str
    facts: list[tuple[str, str]] = field(default_factory=list)
    metrics: Table | None = None


@dataclass
class Section:
    title: str
    blocks: list[Block] = field(default_factory=list)


def fmt(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 1000 else f"{value:,.0f}"
    if value is None:
        return "–"
    return str(value)


def _markdown_table(table: Table) -> list[str]:
    lines = ["| " + " | ".join(table.headers) + " |", "|" + "---|" * len(table.headers)]
    return lines + ["| " + " | ".join(fmt(c).replace("|", "\\|") for c in row) + " |" for row in table.rows]


def _markdown_blocks(blocks: list[Block], figure_dir: str) -> list[str]:
    out: list[str] = []
    for block in blocks:
        if isinstance(block, Table):
            out += _markdown_table(block)
        elif isinstance(block, Figure):
            out.append(f"![{block.title}]({figure_dir}/{block.filename})")
        elif isinstance(block, Code):
            out += ["```", block.text, "```"]
        elif isinstance(block, Details):
            out += [f"<details><summary>{block.summary}</summary>", "", *_markdown_blocks(block.blocks, figure_dir),
                    "</details>"]
        else:
            out.append(block)
        out.append("")
    return out


def to_markdown(title: str, card: Card, sections: list[Section], figure_dir: str = "plots") -> str:
    out = [f"# {title}", "", f"> **{card.decision}** {card.reason}", ">"]
    out += [f"> - {label}: {value}" for label, value in card.facts]
    out.append("")
    if card.metrics:
        out += [*_markdown_table(card.metrics), ""]
    for section in sections:
        out += [f"## {section.title}", "", *_markdown_blocks(section.blocks, figure_dir)]
    return "\n".join(out)


_INLINE = re.compile(r"\*\*(?P<bold>.+?)\*\*|`(?P<code>[^`]+)`|\[(?P<text>[^\]]+)\]\((?P<href>[^)\s]+)\)")


def inline_html(text: str) -> str:
    """Escaped text with **bold**, `code` and [links](href) as HTML elements."""
    out, last = [], 0
    for match in _INLINE.finditer(text):
        out.append(html.escape(text[last:match.start()]))
        if match["bold"] is not None:
            out.append(f"<strong>{inline_html(match['bold'])}</strong>")
        elif match["code"] is not None:
            out.append(f"<code>{html.escape(match['code'])}</code>")
        else:
            out.append(f"<a href='{html.escape(match['href'], quote=True)}'>{html.escape(match['text'])}</a>")
        last = match.end()
    return "".join(out) + html.escape(text[last:])


_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;max-width:1100px;margin:1.5em auto;padding:0 1em;color:#222;line-height:1.45}
h1{font-size:1.5em;margin-bottom:.2em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;margin:.5em 0 1em}th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left}
th{background:#f3f3f3}td{font-variant-numeric:tabular-nums}pre{background:#f7f7f7;padding:.6em;overflow:auto}
code{background:#f3f3f3;padding:0 .25em;border-radius:3px;font-size:.92em}
img{max-width:100%;border:1px solid #eee}figure{margin:.8em 0}figcaption{color:#555;font-size:.9em}
details{margin:.4em 0 .8em;border:1px solid #e3e3e3;border-radius:4px;padding:.3em .7em}
summary{cursor:pointer;color:#345}nav ul{display:flex;flex-wrap:wrap;gap:.3em 1.2em;padding:0;list-style:none}
.card{border:1px solid #ccc;border-left:8px solid #888;border-radius:6px;padding:.8em 1.2em;margin:1em 0 1.5em;background:#fafafa}
.card.good{border-left-color:#2e7d32}.card.bad{border-left-color:#c62828}.card.neutral{border-left-color:#f9a825}
.card .decision{font-size:1.25em;font-weight:600;margin:0 0 .3em}.card ul{margin:.4em 0;padding-left:1.2em}
.delta-up{color:#2e7d32}.delta-down{color:#c62828}
"""


def _html_table(table: Table) -> str:
    head = "<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in table.headers) + "</tr>"
    rows = []
    for row in table.rows:
        cells = []
        for cell in row:
            text = fmt(cell)
            css = " class='delta-up'" if text.startswith("+") and text != "+0.0000" else (
                " class='delta-down'" if text.startswith("−") else "")
            cells.append(f"<td{css}>{inline_html(text)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return "<table>" + head + "".join(rows) + "</table>"


def _html_blocks(blocks: list[Block]) -> list[str]:
    out: list[str] = []
    for block in blocks:
        if isinstance(block, Table):
            out.append(_html_table(block))
        elif isinstance(block, Figure):
            data = base64.b64encode(block.png).decode("ascii")
            out.append(f"<figure><img alt='{html.escape(block.title)}' src='data:image/png;base64,{data}'>"
                       f"<figcaption>{html.escape(block.title)}</figcaption></figure>")
        elif isinstance(block, Code):
            out.append(f"<pre>{html.escape(block.text)}</pre>")
        elif isinstance(block, Details):
            out.append(f"<details><summary>{inline_html(block.summary)}</summary>{''.join(_html_blocks(block.blocks))}</details>")
        else:
            out.append(f"<p>{inline_html(block)}</p>")
    return out


def _html_card(card: Card) -> str:
    facts = "".join(f"<li><strong>{html.escape(label)}:</strong> {inline_html(value)}</li>" for label, value in card.facts)
    metrics = _html_table(card.metrics) if card.metrics else ""
    return (f"<section id='summary' class='card {card.tone}'><p class='decision'>{inline_html(card.decision)}</p>"
            f"<p>{inline_html(card.reason)}</p><ul>{facts}</ul>{metrics}</section>")


def to_html(title: str, card: Card, sections: list[Section]) -> str:
    """One HTML file (inline CSS, figures as data URIs): opens from disk, mails as one attachment."""
    esc = html.escape
    out = [f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{esc(title)}</title>"
           f"<meta name='viewport' content='width=device-width,initial-scale=1'><style>{_STYLE}</style></head><body>",
           f"<h1>{esc(title)}</h1>", _html_card(card)]
    out.append("<nav><ul>" + "".join(f"<li><a href='#s{i}'>{esc(s.title)}</a></li>" for i, s in enumerate(sections)) + "</ul></nav>")
    for i, section in enumerate(sections):
        out.append(f"<h2 id='s{i}'>{esc(section.title)}</h2>")
        out += _html_blocks(section.blocks)
    out.append("</body></html>")
    return "\n".join(out)
