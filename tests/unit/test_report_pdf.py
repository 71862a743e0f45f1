"""The report's renderer fetches nothing: only the bytes handed in reach the PDF.

WeasyPrint's own fetcher would open http(s) and file: URLs named by an image,
a stylesheet, an @import or a font; ``archivers.export.pdf`` refuses each, and
a canary server on loopback counts the requests that got through (0). The
court pack's content is checked on the real services in
tests/e2e/test_cases.py.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from archivers.export.pdf import Asset, ReportRefused, render
from tests.support.site import png


def test_a_document_with_its_own_image_renders_to_pdf(tmp_path: Path):
    image = png(40, 20, (200, 30, 30))
    data, pages = render(
        "<h1>Report</h1><p>sha256 " + "ab" * 32 + '</p><img src="asset:red.png">',
        {"red.png": Asset(image, "image/png")},
        title="t",
    )
    assert data.startswith(b"%PDF-") and pages == 1
    (tmp_path / "r.pdf").write_bytes(data)
    text = subprocess.run(
        ["pdftotext", str(tmp_path / "r.pdf"), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "ab" * 32 in text


@pytest.mark.parametrize(
    "markup",
    [
        '<img src="{canary}/image.png">',
        '<link rel="stylesheet" href="{canary}/style.css"><p>x</p>',
        "<style>@import url({canary}/import.css);</style><p>x</p>",
        "<style>body {{ background: url({canary}/bg.png) }}</style><p>x</p>",
        "<style>@font-face {{ font-family: f; src: url({canary}/f.woff) }} "
        "p {{ font-family: f }}</style><p>x</p>",
        '<img src="file:///etc/hostname">',
        '<img src="data:image/png;base64,iVBORw0KGgo=">',
        '<img src="asset:not-handed-in.png">',
    ],
)
def test_anything_not_handed_in_is_refused_and_never_fetched(markup, canary):
    with pytest.raises(ReportRefused):
        render(markup.format(canary=canary.origin), {})
    assert canary.hits == {}


@pytest.mark.parametrize(
    ("target", "case_id", "frames", "said"),
    [
        (None, None, 4, "give CAPTURE_ID or URL, or --case ID"),
        ("01M8RPY36YVP3S7VSF4PZ73238", "kazan", 4, "give CAPTURE_ID or URL, or --case ID"),
        ("01M8RPY36YVP3S7VSF4PZ73238", None, 25, "--frames: 0 to 24"),
    ],
)
def test_report_refuses_a_request_it_cannot_make_before_reaching_anything(
    target, case_id, frames, said, capsys
):
    from argparse import Namespace

    from warcflow import exitcodes
    from warcflow.commands.report import report

    args = Namespace(target=target, case_id=case_id, frames=frames, output=Path("r.pdf"))
    assert report(args, None) == exitcodes.USAGE  # no settings: nothing is reached
    assert said in capsys.readouterr().err
