"""Media: capturing an HLS stream, warcflow's media agent vs plain yt-dlp.

The stream (default 60 s at 1280x720, 30 fps, H.264/AAC, 4 s segments) is
generated with ffmpeg once per invocation and served from loopback. Each run:

- warcflow: the media agent's whole work function in a running process, as the
  worker runs it (``tests.support.capture_media --repeat``; the first capture
  is a warm-up): download through the recording fetcher, merge, ffprobe,
  poster, a WARC with every segment, uploads to the S3 server (a fresh bucket
  per run, so no run profits from an earlier one's dedup);
- ``yt-dlp -o FILE URL``: what a user runs instead, one process per run;
- yt-dlp's Python API in a warm process with the same fragment concurrency:
  the engine alone, to show what warcflow's fence and recording cost.

Reported: medians, the median of per-run ratios, and peak RSS (each process's
own, without ffmpeg's).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.harness import run_measured


def make_stream(root: Path, seconds: int, height: int) -> Path:
    width = height * 16 // 9
    root.mkdir(parents=True, exist_ok=True)
    playlist = root / "stream.m3u8"
    if playlist.exists():
        return playlist
    subprocess.run(
        [
            "ffmpeg",
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            f"testsrc2=size={width}x{height}:rate=30:duration={seconds}",
            "-f",
            "lavfi",
            "-i",
            f"sine=frequency=440:duration={seconds}",
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-g",
            "60",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-shortest",
            "-f",
            "hls",
            "-hls_time",
            "4",
            "-hls_playlist_type",
            "vod",
            "-hls_segment_filename",
            str(root / "seg%04d.ts"),
            str(playlist),
        ],
        check=True,
    )
    return playlist


def _json_lines(output: str) -> list[dict]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def bench(runs: int, *, seconds: int = 60, height: int = 720, log=print) -> dict:
    from infra.processes import free_port
    from tests.support.site import TestSite
    from tests.support.stack import TestStack

    work = Path(tempfile.mkdtemp(prefix="warcflow-bench-media-"))
    log(f"media: generating a {seconds} s {height}p HLS stream …")
    stream_dir = make_stream(work / "stream", seconds, height).parent
    stack = TestStack(work / "home", free_port(), free_port())
    env = stack.env()
    s3 = stack.start_s3()  # the media agent captures as the worker (tests.support.capture_media)
    yt_dlp = str(Path(sys.executable).with_name("yt-dlp"))
    try:
        with TestSite() as site:
            site.serve_dir("/hls/", stream_dir)
            url = site.url("/hls/stream.m3u8")
            total = sum(p.stat().st_size for p in stream_dir.iterdir())
            agent_env = {
                **env,
                "WARCFLOW_FETCH_ALLOW": site.allow,
                "WARCFLOW_S3_BUCKET": "bench-media",
            }
            log(f"media: warcflow media agent, 1 warm-up + {runs} captures in one process")
            agent = run_measured(
                [
                    sys.executable,
                    "-m",
                    "tests.support.capture_media",
                    url,
                    "stream",
                    "--repeat",
                    str(runs + 1),
                ],
                env=agent_env,
            )
            agent_runs = _json_lines(agent.output)[1:]
            cli_runs = []
            for i in range(runs):
                out = work / f"yt-dlp-{i}.mp4"
                cli_runs.append(
                    run_measured(
                        [yt_dlp, "--quiet", "--no-progress", "--no-cache-dir", "-o", str(out), url],
                        env=dict(os.environ),
                    )
                )
                out.unlink(missing_ok=True)
                log(
                    f"  run {i + 1}/{runs}: warcflow {agent_runs[i]['seconds']:.2f} s, "
                    f"yt-dlp command {cli_runs[i].seconds:.2f} s"
                )
            log("media: yt-dlp's Python API, warm, same fragment concurrency as warcflow")
            warm = run_measured(
                [sys.executable, "-m", "benchmarks.ytdlp_warm", url, str(runs + 1), "4"],
                env=dict(os.environ),
            )
            warm_runs = _json_lines(warm.output)[1:]
    finally:
        s3.stop()
    agent_s = [r["seconds"] for r in agent_runs]
    cli_s = [r.seconds for r in cli_runs]
    warm_s = [r["seconds"] for r in warm_runs]
    ratio_cli = [a / b for a, b in zip(agent_s, cli_s, strict=False)]
    ratio_warm = [a / b for a, b in zip(agent_s, warm_s, strict=False)]
    return {
        "name": f"HLS capture, {seconds} s {height}p, {total / 1e6:.1f} MB",
        "stream_bytes": total,
        "runs": runs,
        "warcflow_seconds_median": statistics.median(agent_s),
        "ytdlp_command_seconds_median": statistics.median(cli_s),
        "ytdlp_api_warm_seconds_median": statistics.median(warm_s),
        "ratio_warcflow_over_ytdlp_command": statistics.median(ratio_cli),
        "ratio_warcflow_over_ytdlp_api_warm": statistics.median(ratio_warm),
        "warcflow_phases_median": {
            k: statistics.median(r["timings"].get(k, 0) for r in agent_runs)
            for k in agent_runs[0]["timings"]
        },
        "warcflow_peak_rss_mib": round(agent.peak_rss_mib, 1),
        "ytdlp_command_peak_rss_mib": round(max(r.peak_rss_mib for r in cli_runs), 1),
        "notes": [
            "warcflow: the media agent's work function in a running process (as the worker "
            "runs it): download via the recording fetcher, merge, ffprobe, poster, a WARC "
            "with every segment and the merged file, two S3 uploads; a fresh bucket per run.",
            "yt-dlp command: `yt-dlp -o FILE URL`, a new process per run, as a user runs it; "
            "download and merge only.",
            "yt-dlp API warm: the same engine without warcflow's fence and recording, "
            "4 concurrent fragments like warcflow.",
        ],
    }


if __name__ == "__main__":  # python -m benchmarks.media
    print(bench(int(sys.argv[1]) if len(sys.argv) > 1 else 3))
