"""The pages benchmark's inputs and what it prints (benchmarks.pages, benchmarks.report):
sites one per partition, requisites of their own bytes, every figure with its target."""

from collections import Counter

from archivers.warc.payloads import MIN_PAYLOAD
from benchmarks import report
from benchmarks.pages import add_pages, lines, one_per_partition, spread_pages
from streams.keys import owner
from streams.topics import TopicNames
from tests.support.site import TestSite


def test_the_spread_sites_fall_on_every_partition_once():
    hosts = one_per_partition(8, {"127.0.0.2", "127.0.0.3"})
    assert len(set(hosts)) == 8
    assert not {"127.0.0.2", "127.0.0.3"} & set(hosts)
    assert all(h.startswith("127.0.0.") for h in hosts)
    names = TopicNames("bench")
    # keyed as every producer keys them: the site, whatever the port and path
    parts = [owner(names.key(f"http://{h}:8123/r1/p0"), 8) for h in hosts]
    assert sorted(parts) == list(range(8))


def test_every_pages_requisites_are_bytes_no_other_page_has():
    # other ports stand for the other hosts (test traffic only to 127.0.0.1)
    with TestSite() as site, TestSite() as css, TestSite() as img:
        urls = add_pages(site, "a", 20) + add_pages(site, "b", 20)
        urls += add_pages(site, "c", 20, css_on=css, image_on=img)
        payloads = [
            route.body
            for s in (site, css, img)
            for path, route in s.routes.items()
            if path.split("/")[1] in ("a", "b", "c")
        ]
        assert len(payloads) == 3 * len(urls)
        requisites = [p for p in payloads if not p.startswith(b"<!doctype")]
        assert len(set(requisites)) == len(requisites) == 2 * len(urls)
        assert max(map(len, requisites)) < MIN_PAYLOAD  # never revisits either
        page = site.routes["/c/p3"].body.decode()
        assert css.url("/c/p3.css") in page and img.url("/c/p3.png") in page


def test_a_batch_over_sites_is_spread_evenly_and_interleaved():
    with TestSite() as one, TestSite() as two, TestSite() as three:
        urls = spread_pages([one, two, three], "s", 10)
        origins = [u.rsplit("/", 2)[0] for u in urls]
        assert len(set(urls)) == 10
        assert sorted(Counter(origins).values()) == [3, 3, 4]
        assert origins[:3] == [one.origin, two.origin, three.origin]


def result(two_over_one: float, peak: int, factor: float) -> dict:
    """A pages result as bench() returns it."""
    row = {"worker_cpu_cores": 0.8, "worker_cpu_ms_per_page": 16.0}
    return {
        "name": "300 pages",
        "runs": 1,
        "delay_ms": 50,
        "machine": {
            "date": "2026-12-01",
            "cpus": 2,
            "memory_gib": 24,
            "python": "3.11",
            "platform": "Linux",
        },
        "defaults": {"concurrency": 16, "per_host": 8, "requisite_concurrency": 6},
        "throughput": {
            "50 ms site": {
                **row,
                "pages_per_s": {"warcflow": 44.0, "wget": 6.4, "warcio": 6.4},
                "ratio_over_wget": 6.88,
                "ratio_over_warcio": 6.88,
                "target": {"peer": "wget", "ratio": 10.0},
            },
            "0 ms site": {
                **row,
                "pages_per_s": {"warcflow": 48.0, "wget": 550.0, "warcio": 270.0},
                "ratio_over_wget": 0.09,
                "ratio_over_warcio": 0.18,
                "target": {"peer": "warcio", "ratio": 0.7},
            },
            "50 ms site, requisites on three hosts": {
                **row,
                "pages_per_s": {"warcflow": 70.0, "wget": 6.3},
                "ratio_over_wget": 11.1,
                "target": {"peer": "wget", "ratio": 10.0},
            },
        },
        "latency": {"p50_s": 0.02, "p95_s": 0.04, "p99_s": 1.1, "samples": 30},
        "one_site": {
            "host": "127.0.0.1",
            "per_host": 8,
            "pages_per_s": {"1": 44.0, "2": 43.0},
            "most_answering": {"1": 8, "2": peak},
            "ratio_two_over_one": two_over_one,
            "target_ratio": 0.95,
        },
        "scale_out": {
            "sites": [f"127.0.0.{k}" for k in range(4, 12)],
            "pages_per_s": {"1": 50.0, "2": 50.0 * factor},
            "factor": {"1": 1.0, "2": factor},
            "target_two_over_one": 1.8,
        },
        "notes": [],
    }


def test_each_figure_is_printed_with_its_target_and_peer():
    out = "\n".join(lines(result(0.98, 8, 1.5)))
    assert "50 ms site: pages/s warcflow 44.0 | wget 6.4 | warcio 6.4" in out
    assert "target ≥ 10x wget: MISSED" in out
    assert "requisites on three hosts: pages/s warcflow 70.0 | wget 6.3" in out
    assert "11.10x | target ≥ 10x wget: met" in out
    assert "target ≥ 0.7x warcio: MISSED" in out
    assert "ratio 2/1 0.98x | target ≥ 0.95x: met" in out
    assert "2 workers 8 | target ≤ 8: met" in out
    assert "scale-out over 8 sites:" in out and "target 2 workers ≥ 1.8x one: MISSED" in out
    out = "\n".join(lines(result(0.90, 9, 1.9)))
    assert "target ≥ 0.95x: MISSED" in out and "target ≤ 8: MISSED" in out
    assert "target 2 workers ≥ 1.8x one: met" in out


def test_the_report_states_the_new_targets_and_still_reads_an_older_result():
    text = report.pages_section(result(0.98, 9, 1.9))
    assert (
        "peak concurrent requests measured by the site **9** against the budget of 8, "
        "**not met**" in text
    )
    assert "throughput two workers / one **0.98×**, target ≥ 0.95×, met" in text
    assert "requisites on three hosts" in text and "**11.1×**" in text
    assert "target 2 workers ≥ 1.8× one: **1.90×**, met" in text
    older = result(1.0, 8, 1.6)
    del older["one_site"], older["scale_out"]["sites"], older["scale_out"]["target_two_over_one"]
    del older["throughput"]["50 ms site, requisites on three hosts"]
    text = report.pages_section(older)
    assert "Scale-out (50 ms sites): 1 worker process(es) 50.0 pages/s" in text


def test_the_report_says_what_bound_the_one_host_row():
    doc = result(0.98, 8, 1.9)
    assert "The bound is politeness, not the pipeline: 8 connections" in report.pages_section(doc)
    slow = doc["throughput"]["50 ms site"]
    slow["pages_per_s"]["warcflow"], slow["worker_cpu_cores"] = 20.0, 0.88
    assert "In this run the bound was the worker's CPU, not politeness" in report.pages_section(doc)
    slow["worker_cpu_cores"] = 0.3
    assert "Neither politeness nor the worker's CPU" in report.pages_section(doc)


def test_the_load_and_the_cpu_of_each_worker_are_printed_when_measured():
    doc = result(0.98, 8, 1.9)
    doc["load_average_1min"] = {"start": 1.34, "end": 6.72}
    doc["one_site"]["worker_cpu_cores"] = {"1": [0.88], "2": [0.85, 0.04]}
    out = "\n".join(lines(doc))
    assert "load average (1 min): 1.34 at the start, 6.72 at the end" in out
    assert "1 worker(s) 0.88 | 2 worker(s) 0.85, 0.04" in out
    text = report.pages_section(doc)
    assert "Load average (1 min) 1.3 at the start, 6.7 at the end" in text
    assert "(worker CPU, busiest first: 1 worker(s) 0.88; 2 worker(s) 0.85, 0.04 cores)" in text


def test_the_capacity_model_warns_when_the_run_was_loaded():
    doc = result(0.98, 8, 1.9)
    assert "was loaded" not in report.capacity_model(doc)
    doc["load_average_1min"] = {"start": 1.3, "end": 7.7}
    assert "loaded (1-min load average up to 7.7 on 2 CPUs" in report.capacity_model(doc)
