"""``make bench`` / ``python -m benchmarks [NAME ...] [--runs N]`` / ``… report``.

Runs each benchmark against its peer tool in the same invocation, prints the
figures and ratios, writes them as JSON to benchmarks/results/NAME.json and
regenerates docs/performance.md from all results (``report`` only does that).
"""

from __future__ import annotations

import argparse
import json
import sys

from benchmarks import harness

BENCHMARKS = {
    "pages": "page capture throughput, latency, one host budget and scale-out across sites: "
    "warcflow vs wget and warcio",
    "media": "HLS capture: warcflow's media agent vs yt-dlp",
    "replay": "replay latency: warcflow from S3 vs pywb from local disk",
    "similar": "perceptual hashing vs ffmpeg decoding alone; similarity query vs a numpy scan",
    "catalog": "the viewer's catalog fed synthetic capture events vs a plain sqlite3 loop",
    "storage": "bytes stored for 100 pages sharing two 200 KB requisites: warcflow vs wget",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "names",
        nargs="*",
        metavar="NAME",
        help=f"which to run (default all: {', '.join(BENCHMARKS)})",
    )
    parser.add_argument("--runs", type=int, default=3, help="measured runs per tool (default 3)")
    parser.add_argument(
        "--catalog-events",
        type=int,
        default=10_000_000,
        help="synthetic capture events the catalog benchmark feeds (default 10,000,000)",
    )
    args = parser.parse_args(argv)
    if args.names == ["report"]:
        from benchmarks import report

        report.write()
        print(f"wrote {report.PAGE.relative_to(harness.ROOT)}")
        return 0
    names = args.names or list(BENCHMARKS)
    unknown = [name for name in names if name not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}")
    for name in names:
        print(f"== {name}: {BENCHMARKS[name]}", flush=True)
        if name == "pages":
            from benchmarks import pages

            result = pages.bench(args.runs, log=lambda message: print(message, flush=True))
            for line in pages.lines(result):
                print(line)
        elif name == "media":
            from benchmarks import media

            result = media.bench(args.runs, log=lambda message: print(message, flush=True))
            print(
                f"warcflow media agent {result['warcflow_seconds_median']:.2f} s | "
                f"yt-dlp command {result['ytdlp_command_seconds_median']:.2f} s | "
                f"ratio {result['ratio_warcflow_over_ytdlp_command']:.2f}x  "
                f"(yt-dlp API warm {result['ytdlp_api_warm_seconds_median']:.2f} s, "
                f"ratio {result['ratio_warcflow_over_ytdlp_api_warm']:.2f}x)"
            )
            print(
                f"peak RSS: media agent {result['warcflow_peak_rss_mib']} MiB, "
                f"yt-dlp {result['ytdlp_command_peak_rss_mib']} MiB; phases "
                + json.dumps(result["warcflow_phases_median"])
            )
        elif name == "replay":
            from benchmarks import replay

            result = replay.bench(args.runs, log=lambda message: print(message, flush=True))
            for kind, row in result["per_kind"].items():
                print(
                    f"{kind:22} warcflow p50 {row['warcflow']['p50_ms']:7.1f} ms "
                    f"p95 {row['warcflow']['p95_ms']:7.1f} ms | pywb local p50 "
                    f"{row['pywb_local']['p50_ms']:7.1f} ms p95 {row['pywb_local']['p95_ms']:7.1f}"
                    f" ms | ratio p50 {row['ratio_p50']:.2f}x p95 {row['ratio_p95']:.2f}x"
                )
            every = result["all"]
            print(
                f"all requests: ratio warcflow / pywb local p50 {every['ratio_p50']:.2f}x, "
                f"p95 {every['ratio_p95']:.2f}x"
            )
        elif name == "similar":
            from benchmarks import similar

            result = similar.bench(args.runs, log=lambda message: print(message, flush=True))
            h = result["hashing"]
            print(
                f"hashing {h['warcflow_seconds_median']:.2f} s | ffmpeg decode alone "
                f"{h['ffmpeg_decode_seconds_median']:.2f} s | ratio "
                f"{h['ratio_hashing_over_decoding']:.2f}x "
                f"({h['hashing_seconds_per_video_minute']:.2f} s per minute of video)"
            )
            for size, row in result["queries"].items():
                print(
                    f"{int(size):>9,} hashes: query p50 {row['warcflow_p50_ms']:.1f} ms, p95 "
                    f"{row['warcflow_p95_ms']:.1f} ms | numpy scan p50 "
                    f"{row['numpy_scan_p50_ms']:.1f} ms | ratio p50 {row['ratio_p50']:.3f}x"
                )
        elif name == "catalog":
            from benchmarks import catalog

            result = catalog.bench(
                args.runs,
                log=lambda message: print(message, flush=True),
                events=args.catalog_events,
            )
            for line in catalog.lines(result):
                print(line)
        elif name == "storage":
            from benchmarks import storage

            result = storage.bench(args.runs, log=lambda message: print(message, flush=True))
            for line in storage.lines(result):
                print(line)
        path = harness.save(result, name)
        print(f"results: {path.relative_to(harness.ROOT)}")
    from benchmarks import report

    report.write()
    print(f"updated {report.PAGE.relative_to(harness.ROOT)} (commit it with the code it measures)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
