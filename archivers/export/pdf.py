"""HTML to PDF with WeasyPrint, which fetches nothing: the one module that imports it.

WeasyPrint's default URL fetcher opens whatever a document names — http(s),
``file:`` (any file the process can read), ``data:`` — for images,
stylesheets and fonts. A report's HTML carries text that came from pages and
posts (titles, authors, URLs, notes; escaped where the HTML is built), so as
a second fence the fetcher here serves only the bytes handed in with the
document, under ``asset:<name>`` URLs, and refuses every other URL. A refusal
stops the rendering (``ReportRefused``): a report that names anything it was
not given is a bug to be seen, not a picture silently left out, and nothing
is fetched from the network or read from the disk on its behalf.

There is no base URL, so relative references resolve to nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import weasyprint
from weasyprint.urls import FatalURLFetchingError, URLFetcher, URLFetcherResponse

ASSET = "asset:"


class ReportRefused(ValueError):
    """The document named a URL it was not given (the URL is in the message)."""


@dataclass(frozen=True)
class Asset:
    data: bytes
    media_type: str


class _OnlyAssets(URLFetcher):
    """Serves ``asset:<name>`` from the given bytes; refuses everything else."""

    def __init__(self, assets: dict[str, Asset]) -> None:
        super().__init__(allowed_protocols=("asset",), allow_redirects=False, fail_on_errors=True)
        self.assets = assets
        self.refused: list[str] = []

    def fetch(self, url, headers=None):
        name = url[len(ASSET) :] if url.startswith(ASSET) else None
        asset = self.assets.get(name) if name is not None else None
        if asset is None:
            self.refused.append(url)
            raise ReportRefused(f"the report names {url[:200]!r}, which it was not given")
        return URLFetcherResponse(url, asset.data, {"Content-Type": asset.media_type})


def render(
    html: str, assets: dict[str, Asset] | None = None, *, title: str = ""
) -> tuple[bytes, int]:
    """The PDF of ``html`` and its number of pages, its images and stylesheets taken
    from ``assets`` only (``<img src="asset:NAME">``); ReportRefused if it names
    anything else."""
    fetcher = _OnlyAssets(assets or {})
    try:
        document = weasyprint.HTML(string=html, base_url=None, url_fetcher=fetcher).render()
    except FatalURLFetchingError as exc:
        raise ReportRefused(str(exc.__cause__ or exc)) from None
    if fetcher.refused:  # a fetch refused where WeasyPrint went on regardless
        raise ReportRefused(f"the report names {fetcher.refused[0][:200]!r}")
    if title:
        document.metadata.title = title
    return document.write_pdf(), len(document.pages)


def version() -> str:
    return str(weasyprint.__version__)
