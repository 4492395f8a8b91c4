"""A self-contained HTML page from a markdown report: charts embedded as data URIs."""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path

_IMG = re.compile(r'<img src="([^"]+)"')

STYLE = """
body { font: 15px/1.5 system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
table { border-collapse: collapse; margin: 1rem 0; font-size: 14px; }
th, td { border: 1px solid #ccc; padding: 4px 8px; vertical-align: top; }
th { background: #f3f3f3; }
img { max-width: 100%; }
code { background: #f5f5f5; padding: 0 3px; }
h1 { border-bottom: 2px solid #333; }
"""


def markdown_to_html(markdown_text: str, base_dir: Path, title: str, lang: str = "en") -> str:
    """Render markdown (raw HTML disabled, so user text stays text) and inline local images."""
    from markdown_it import MarkdownIt

    body = MarkdownIt("commonmark", {"html": False}).enable("table").render(markdown_text)
    body = _IMG.sub(lambda m: f'<img src="{_data_uri(base_dir, m.group(1))}"', body)
    return (
        f"<!DOCTYPE html>\n<html lang=\"{html.escape(lang)}\"><head><meta charset=\"utf-8\">"
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head>\n<body>\n{body}</body></html>\n"
    )


def _data_uri(base_dir: Path, src: str) -> str:
    path = base_dir / html.unescape(src)
    if not path.is_file() or path.suffix.lower() != ".png":
        return src
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")
