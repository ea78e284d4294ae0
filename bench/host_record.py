"""The JSON record a CPU benchmark script writes to ``bench/results/``: the device, the date,
the commit, the exact command, the script's configuration and its metrics."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def write_record(name: str, config: dict[str, Any] | None, metrics: dict[str, Any]) -> Path:
    """Write ``results/<name>_<UTC stamp>.json``, print the metrics and the path."""
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True, cwd=Path(__file__).parent).stdout.strip()  # fmt: skip
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    record = {
        "device": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, no GPU",
        "date": stamp, "commit": commit,
        "command": "python " + " ".join(shlex.quote(a) for a in sys.argv),
        "config": config, "metrics": metrics,
    }  # fmt: skip
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}_{stamp}.json"
    path.write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(metrics, indent=2))
    print(path)
    return path
