"""The watchers' settings: parsed once at the entry point, errors name the setting."""

from __future__ import annotations

import pytest

from warcflow.settings import SettingsError, load_settings


def test_defaults():
    watch = load_settings({}).watch
    assert watch.enabled and watch.watches == ()
    assert (watch.min_every, watch.max_backoff, watch.max_items) == (60.0, 3600.0, 500)


def test_watches_from_a_toml_array_of_tables(tmp_path):
    config = tmp_path / "warcflow.toml"
    config.write_text(
        "[watch]\nenabled = false\nmin_every = 30\n"
        '[[watch.sources]]\nkind = "feed"\nurl = "https://tracker.example/feed"\n'
        'every = 30\ntags = ["kazan"]\n'
        '[[watch.sources]]\nkind = "links"\nurl = "https://nitter.example/x"\n'
        'pattern = "/status/"\n'
    )
    watch = load_settings({}, str(config)).watch
    assert not watch.enabled
    feed, links = watch.watches
    assert (feed.kind, feed.every, feed.tags, feed.origin) == ("feed", 30.0, ("kazan",), "settings")
    assert links.pattern == "/status/" and links.every == 300.0


@pytest.mark.parametrize(
    "env, words",
    [
        ({"WARCFLOW_WATCHES": "not json"}, "WARCFLOW_WATCHES"),
        (
            {"WARCFLOW_WATCHES": '[{"kind": "feed", "url": "https://a.example/", "every": 5}]'},
            "least allowed",
        ),
        ({"WARCFLOW_WATCHES": '[{"kind": "links", "url": "https://a.example/"}]'}, "pattern"),
        ({"WARCFLOW_WATCH_MAX_ITEMS": "0"}, "WARCFLOW_WATCH_MAX_ITEMS"),
        ({"WARCFLOW_WATCHERS": "sometimes"}, "WARCFLOW_WATCHERS"),
    ],
)
def test_bad_watch_settings_name_the_setting(env, words):
    with pytest.raises(SettingsError) as caught:
        load_settings(env)
    assert words in str(caught.value)
