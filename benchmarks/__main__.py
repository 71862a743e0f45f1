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
    "media": "HLS capture: warcflow's media agent vs yt-dlp",
    "replay": "replay latency: warcflow from S3 vs pywb from local disk",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"which to run (default all: {', '.join(BENCHMARKS)})")
    parser.add_argument("--runs", type=int, default=3, help="measured runs per tool (default 3)")
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
        if name == "media":
            from benchmarks.media import bench
            result = bench(args.runs, log=lambda message: print(message, flush=True))
            print(f"warcflow media agent {result['warcflow_seconds_median']:.2f} s | "
                  f"yt-dlp command {result['ytdlp_command_seconds_median']:.2f} s | "
                  f"ratio {result['ratio_warcflow_over_ytdlp_command']:.2f}x  "
                  f"(yt-dlp API warm {result['ytdlp_api_warm_seconds_median']:.2f} s, "
                  f"ratio {result['ratio_warcflow_over_ytdlp_api_warm']:.2f}x)")
            print(f"peak RSS: media agent {result['warcflow_peak_rss_mib']} MiB, "
                  f"yt-dlp {result['ytdlp_command_peak_rss_mib']} MiB; phases "
                  + json.dumps(result["warcflow_phases_median"]))
        elif name == "replay":
            from benchmarks.replay import bench
            result = bench(args.runs, log=lambda message: print(message, flush=True))
            for kind, row in result["per_kind"].items():
                print(f"{kind:22} warcflow p50 {row['warcflow']['p50_ms']:7.1f} ms "
                      f"p95 {row['warcflow']['p95_ms']:7.1f} ms | pywb local p50 "
                      f"{row['pywb_local']['p50_ms']:7.1f} ms p95 {row['pywb_local']['p95_ms']:7.1f}"
                      f" ms | ratio p50 {row['ratio_p50']:.2f}x p95 {row['ratio_p95']:.2f}x")
            every = result["all"]
            print(f"all requests: ratio warcflow / pywb local p50 {every['ratio_p50']:.2f}x, "
                  f"p95 {every['ratio_p95']:.2f}x")
        path = harness.save(result, name)
        print(f"results: {path.relative_to(harness.ROOT)}")
    from benchmarks import report
    report.write()
    print(f"updated {report.PAGE.relative_to(harness.ROOT)} (commit it with the code it measures)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
