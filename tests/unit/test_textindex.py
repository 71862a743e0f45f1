"""The full-text index of captured posts: FTS5 in the catalog's file, any script,
no query a syntax error (the pipeline test is in tests/integration/test_viewer.py)."""

from __future__ import annotations

import json

from archivers.extract.post import post_from_html
from viewer.catalog import Catalog
from viewer.textindex import TextIndex, TextRows, parse_query

PAGE = """<html><head>
<meta property="og:description" content="Мобилизованные вышли к казарме в Казани. Видео.">
<meta name="author" content="Казанский очевидец">
<meta property="article:published_time" content="2022-11-16T16:04:05Z">
</head><body><p>x</p></body></html>"""


def indexed(tmp_path, *manifests):
    catalog = Catalog(tmp_path / "c.sqlite", parts=(TextRows(),))
    part = TextRows()
    for manifest in manifests:
        with catalog._lock:  # as Catalog.apply writes a part's rows: in its transaction
            catalog._db.execute("BEGIN")
            part.write(catalog._db, part.prepare("captures", manifest, None))
            catalog._db.execute("COMMIT")
    return TextIndex(catalog.query)


def manifest(capture_id, post, url="https://example.org/p/1", tags=(), case_id=None):
    return {
        "capture_id": capture_id,
        "url": url,
        "warc_key": "warcs/x.warc.gz",
        "post": post,
        "request": {"tags": list(tags), "case_id": case_id, "note": None},
    }


def test_the_post_text_is_what_the_page_says_the_post_is():
    post = post_from_html(PAGE, "https://example.org/p/1")
    assert post["text"] == "Мобилизованные вышли к казарме в Казани. Видео."
    assert post["found_by"]["text"] == "og:description"


def test_cyrillic_words_are_found_whatever_their_case_and_marked(tmp_path):
    post = post_from_html(PAGE, "https://example.org/p/1")
    index = indexed(
        tmp_path,
        manifest("A" * 26, post, tags=["kazan"], case_id="KZN-17"),
        manifest("B" * 26, {"author": "Other", "text": "Weather in Moscow"}),
    )
    [hit] = index.search("казарме Казани")
    assert hit.capture_id == "A" * 26
    assert [hit.snippet[a:b] for a, b in hit.marks] == ["казарме", "Казани"]
    assert [h.capture_id for h in index.search("КАЗАРМЕ")] == ["A" * 26]
    assert [h.capture_id for h in index.search("казарм*")] == ["A" * 26]  # a prefix
    assert [h.capture_id for h in index.search("author:очевидец")] == ["A" * 26]
    assert [h.capture_id for h in index.search("tag:kazan case:KZN-17")] == ["A" * 26]
    assert index.search("author:Moscow") == []  # Moscow is in B's text, not its author
    assert [h.capture_id for h in index.search("moscow")] == ["B" * 26]
    assert index.search("казарме Moscow") == []  # words are ANDed


def test_yo_is_e_and_no_query_is_a_syntax_error(tmp_path):
    index = indexed(tmp_path, manifest("C" * 26, {"text": "Ёлка у казармы"}))
    assert [h.capture_id for h in index.search("елка")] == ["C" * 26]
    for hostile in ['"', "NEAR(a b)", "a OR", "*", "(", "-x", "url:", "x:y:z", "' OR 1=1 --"]:
        index.search(hostile)  # answers (maybe nothing); never raises
    assert parse_query("https://example.org/p/1")[0].text == "https://example.org/p/1"


def test_a_capture_indexed_again_has_one_row(tmp_path):
    first = manifest("D" * 26, {"text": "first words"})
    again = manifest("D" * 26, {"text": "second words"})
    index = indexed(tmp_path, first, again)
    assert index.search("first") == []
    assert [h.capture_id for h in index.search("words")] == ["D" * 26]


def test_the_viewer_bounds_what_it_reads_and_answers_empty_searches(tmp_path):
    """POST /api/similar stops reading past its limit (413); a search on a catalog
    without hits is an empty list, a query of only punctuation too."""
    from fastapi.testclient import TestClient

    from viewer.app import create_app
    from viewer.finding import SIMILAR_BODY_BYTES
    from viewer.phashes import HashRows
    from viewer.settings import ViewerSettings

    catalog = Catalog(tmp_path / "catalog.sqlite", parts=(HashRows(), TextRows()))
    app = create_app(ViewerSettings(state_dir=tmp_path), catalog, store=None, submit=None)
    web = TestClient(app)
    big = web.post(
        "/api/similar",
        content=b'{"perceptual": "' + b"a" * (SIMILAR_BODY_BYTES + 1) + b'"}',
        headers={"Content-Type": "application/json"},
    )
    assert big.status_code == 413
    assert web.get("/api/search/text", params={"q": "казарма"}).json()["results"] == []
    assert web.get("/api/search/text", params={"q": '"()*'}).json()["results"] == []
    assert web.get("/api/similar", params={"sha256": "ab" * 32}).status_code == 404
    assert web.get("/api/similar", params={"sha256": "xyz"}).status_code == 400


def test_a_snippet_quotes_the_post_as_written_with_its_yo(tmp_path):
    """Review: the index folds ``ё`` into ``е`` and snippets came from the folded
    text, so evidence was quoted altered ("еще" for "ещё"). The snippet is the
    post's own characters; the marks still point at the matched words."""
    import json

    post = {"text": "Они ещё стоят у казармы, ёлки рядом"}
    doc = manifest("D" * 26, post)
    index = indexed(tmp_path, doc)
    catalog_db = tmp_path / "c.sqlite"
    import sqlite3

    with sqlite3.connect(catalog_db) as db:
        db.execute(
            "INSERT INTO captures VALUES (?,?,?,?,?,?,?)",
            ("D" * 26, doc["url"], "org,example)/p/1", "stored", "2026-12-01T00:00:00Z", None,
             json.dumps(doc)),
        )  # fmt: skip
    [hit] = index.search("еще елки")
    assert "ещё" in hit.snippet and "ёлки" in hit.snippet
    assert [hit.snippet[a:b] for a, b in hit.marks] == ["ещё", "ёлки"]


def test_a_catalog_made_before_text_rows_replaces_its_old_rows_too(tmp_path):
    """A capture's row is found through text_rows (by rowid), not by scanning the
    index; a catalog whose texts table predates text_rows gets it filled once."""
    import sqlite3

    old = sqlite3.connect(tmp_path / "c.sqlite")
    old.executescript(
        "CREATE VIRTUAL TABLE texts USING fts5(capture_id UNINDEXED, url, author, tags, "
        'case_id, note, body, tokenize = "unicode61 remove_diacritics 2");'
    )
    old.execute(
        "INSERT INTO texts (capture_id, url, author, tags, case_id, note, body) "
        "VALUES (?, '', '', '', '', '', 'old words')",
        ("E" * 26,),
    )
    old.commit()
    old.close()
    index = indexed(tmp_path, manifest("E" * 26, {"text": "new words"}))
    assert index.search("old") == []
    assert [h.capture_id for h in index.search("words")] == ["E" * 26]


def test_words_only_in_the_pages_text_are_found_and_page_names_that_column(tmp_path):
    doc = {**manifest("F" * 26, {"text": "short post"}), "page_text": "комментарии: казарма"}
    index = indexed(tmp_path, doc)
    [hit] = index.search("казарма")
    assert hit.capture_id == "F" * 26 and "казарма" in hit.snippet
    assert [h.capture_id for h in index.search("page:комментарии")] == ["F" * 26]
    assert index.search("text:комментарии") == []  # the post's own text is another column


def test_a_catalog_made_before_the_page_column_is_indexed_again_from_its_manifests(tmp_path):
    import sqlite3

    path = tmp_path / "c.sqlite"
    doc = {**manifest("G" * 26, {"text": "old post"}), "page_text": "страница казармы"}
    Catalog(path).close()  # the captures table, as the last release made it
    old = sqlite3.connect(path)
    old.executescript(
        "CREATE VIRTUAL TABLE texts USING fts5(capture_id UNINDEXED, url, author, tags, "
        'case_id, note, body, tokenize = "unicode61 remove_diacritics 2");'
        "CREATE TABLE text_rows (capture_id TEXT PRIMARY KEY, text_row INTEGER NOT NULL);"
    )
    old.execute(
        "INSERT INTO captures VALUES (?, ?, 'k', 'stored', 'now', NULL, ?)",
        ("G" * 26, doc["url"], json.dumps(doc)),
    )
    old.execute(
        "INSERT INTO texts (capture_id, url, author, tags, case_id, note, body) "
        "VALUES (?, '', '', '', '', '', 'old post')",
        ("G" * 26,),
    )
    old.commit()
    old.close()
    index = TextIndex(Catalog(path, parts=(TextRows(),)).query)
    assert [h.capture_id for h in index.search("казармы")] == ["G" * 26]
    assert [h.capture_id for h in index.search("old post")] == ["G" * 26]  # one row, not two


def test_a_nul_in_a_query_is_no_error(tmp_path):
    index = indexed(tmp_path, manifest("H" * 26, {"text": "колонна у КПП"}))
    assert [h.capture_id for h in index.search("колон\x00на")] == ["H" * 26]
    assert index.search("\x00") == []
