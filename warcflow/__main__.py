from warcflow.cli import run

raise SystemExit(run())
