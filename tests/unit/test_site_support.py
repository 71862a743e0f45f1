"""The test site's own measurements (tests/support/site.py), which the cluster
budget test and the pages benchmark rely on: requests answering at once."""

import threading
import urllib.request

from tests.support.site import Route, TestSite


def get_all(urls: list[str]) -> None:
    threads = [threading.Thread(target=lambda u=u: urllib.request.urlopen(u).read()) for u in urls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def test_most_answering_is_measured_afresh_after_reset_most():
    with TestSite(delay=1.0) as site:
        site.routes["/p"] = Route(b"<p>post</p>")
        get_all([site.url("/p")] * 3)
        assert site.most_answering == 3  # three answered in the same second
        site.reset_most()
        assert site.most_answering == 0 and site.most_at_once == {}
        get_all([site.url("/p")])
        assert site.most_answering == 1 and site.most_at_once == {"/p": 1}
        assert site.count("/p") == 4  # the counts of requests are not reset
