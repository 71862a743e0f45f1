"""Sites and their owners (streams.keys, archivers.urls.site_of): one worker per site.

The partition rule is checked against kafka-python's murmur2 (what ``warcflow
submit`` produces with) and aiokafka's default partitioner (what the workers'
faust producer forwards with) for many keys: the capture agent's idea of a
site's owner must be the partition Kafka clients put its key on.
"""

import os

import pytest
from aiokafka.partitioner import DefaultPartitioner
from kafka.partitioner.default import murmur2 as kafka_murmur2

from archivers.urls import site_of
from streams.keys import murmur2, owner, site_key, spread_sites
from streams.topics import TopicNames


@pytest.mark.parametrize(
    "url, site",
    [
        ("https://www.X.com/status/1", "x.com"),
        ("https://mobile.twitter.com/a", "twitter.com"),
        ("https://pbs.twimg.com/media/a.jpg", "twimg.com"),
        ("https://news.bbc.co.uk/x", "bbc.co.uk"),
        ("https://t.me/s/channel", "t.me"),
        ("http://127.0.0.1:8080/post/1", "127.0.0.1"),
        ("http://[::1]:80/", "::1"),
        ("http://localhost/", "localhost"),
        ("https://BÜCHER.de/", "xn--bcher-kva.de"),
        ("not a url", ""),
    ],
)
def test_the_site_of_a_url_is_its_registrable_domain(url, site):
    assert site_of(url) == site


def test_every_page_of_a_site_has_one_key_and_a_spread_site_one_per_url():
    a, b = "https://www.x.com/a/status/1", "https://mobile.x.com/b/status/2"
    assert site_key(a) == site_key(b) == b"x.com"
    spread = spread_sites(["X.com ", ""])
    assert spread == frozenset({"x.com"})
    assert site_key(a, spread) != site_key(b, spread)
    assert site_key(a, spread) == b"com,x)/a/status/1"
    assert TopicNames("p", spread).key(a) == site_key(a, spread)
    assert site_key("https://t.me/s/x", spread) == b"t.me"


def test_murmur2_and_the_owner_are_kafkas():
    partitioner = DefaultPartitioner()
    keys = [os.urandom(n) for n in range(0, 40)] + [b"x.com", b"127.0.0.1", "сайт.рф".encode()]
    for key in keys:
        assert murmur2(key) & 0xFFFFFFFF == kafka_murmur2(key) & 0xFFFFFFFF, key
        for count in (1, 2, 3, 4, 7, 12):
            partitions = list(range(count))
            assert owner(key, count) == partitioner(key, partitions, partitions), (key, count)


@pytest.mark.parametrize(
    "bad", ["https://x.com", "*.x.com", "x.com/path", "x.com:443", "localhost"]
)
def test_a_spread_site_that_is_not_a_domain_is_refused_naming_it(bad):
    with pytest.raises(ValueError, match="is not a site"):
        spread_sites([bad])
