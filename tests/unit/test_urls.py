import pytest

from archivers.errors import InvalidURL
from archivers.urls import MAX_URL_LENGTH, canonical_url, surt, url_hash, validate_url


@pytest.mark.parametrize(
    "given, expected",
    [
        ("HTTP://Example.COM/Path", "http://example.com/Path"),
        ("https://example.com", "https://example.com/"),
        ("https://example.com:443/a", "https://example.com/a"),
        ("http://example.com:80/a", "http://example.com/a"),
        ("http://example.com:8080/a", "http://example.com:8080/a"),
        ("https://example.com/a/./b/../c", "https://example.com/a/c"),
        ("https://example.com/a#comment-3", "https://example.com/a"),
        ("https://example.com/%7euser/%2f?q=%3d", "https://example.com/~user/%2F?q=%3D"),
        ("https://example.com/caf\u00e9", "https://example.com/caf%C3%A9"),
        ("https://b\u00fccher.example/", "https://xn--bcher-kva.example/"),
        ("http://[::1]:8080/x", "http://[::1]:8080/x"),
        ("https://www.youtube.com/watch?v=AbC_dEf", "https://www.youtube.com/watch?v=AbC_dEf"),
    ],
)
def test_canonical_url(given, expected):
    assert canonical_url(given) == expected
    assert canonical_url(expected) == expected  # idempotent


def test_surt_groups_forms_of_one_page():
    forms = [
        "https://www.example.com/post/1?b=2&a=1",
        "http://example.com/post/1?a=1&b=2",
        "HTTPS://WWW.EXAMPLE.COM:443/post/1?a=1&b=2#top",
    ]
    assert {surt(form) for form in forms} == {"com,example)/post/1?a=1&b=2"}
    assert len({url_hash(form) for form in forms}) == 1


def test_surt_keeps_case_of_path_and_port():
    assert surt("https://t.me/s/Channel") == "me,t)/s/Channel"
    assert surt("http://127.0.0.1:8080/x") == "127.0.0.1:8080)/x"
    assert surt("https://example.com/a") != surt("https://example.com/A")


@pytest.mark.parametrize(
    "bad, words",
    [
        ("ftp://example.com/file", "only http and https"),
        ("javascript:alert(1)", "only http and https"),
        ("file:///etc/passwd", "only http and https"),
        ("example.com/no-scheme", "only http and https"),
        ("https:///no-host", "no host"),
        ("https://user:secret@example.com/", "credentials"),
        ("https://example.com/a b", "whitespace"),
        ("https://example.com/\x00", "control"),
        (" https://example.com/", "whitespace"),
        ("https://example.com:99999/", "does not parse"),
        ("https://exa mple.com/", "whitespace"),
        ("https://-bad-.example/", "not a valid host"),
        ("https://example.com/" + "a" * MAX_URL_LENGTH, "limit"),
        ("", "empty"),
    ],
)
def test_invalid_urls_are_refused_with_a_reason(bad, words):
    with pytest.raises(InvalidURL) as caught:
        validate_url(bad)
    assert words in str(caught.value)
