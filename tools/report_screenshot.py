"""Render a batch report in headless Chromium and save a screenshot (docs/report_screenshot.png).

Analyses the bundled sample nodes (``sample_data/``) with ``nodescope analyze``
into a temporary folder, with a made-up two-patient mapping so that the patient
pN table shows, then screenshots ``report.html`` with Debian's Chromium
(``apt-get install chromium``) -- offline: the report has no external assets.

Usage: python tools/report_screenshot.py [--out docs/report_screenshot.png] [--keep DIR]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    sys.exit("Chromium not found: install it (Debian: apt-get install -y chromium)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "report_screenshot.png")
    ap.add_argument("--keep", type=Path, help="write the batch here (default: a temporary folder)")
    ap.add_argument("--window", default="1400,1800")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="nodescope-report-"))
    batch = args.keep or work / "batch"
    images = sorted((ROOT / "sample_data").glob("*.tif"))
    if not images:
        sys.exit(f"no sample images in {ROOT / 'sample_data'}")
    patients = work / "patients.csv"
    lines = ["patient,image"] + [f"{'P1' if k % 2 == 0 else 'P2'},{p.name}" for k, p in enumerate(images)]
    patients.write_text("\n".join(lines) + "\n", encoding="utf-8")
    cmd = [sys.executable, "-m", "pipeline.cli", "analyze", *map(str, images), "--out", str(batch),
           "--patients", str(patients), "--quiet"]
    subprocess.run(cmd, check=True, cwd=ROOT)
    report = batch / "report.html"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    profile = tempfile.mkdtemp(prefix="chromium-")
    subprocess.run(
        [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={profile}", f"--window-size={args.window}", "--hide-scrollbars",
         f"--screenshot={args.out.resolve()}", report.resolve().as_uri()],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120,
    )
    shutil.rmtree(profile, ignore_errors=True)
    if args.keep is None:
        shutil.rmtree(work, ignore_errors=True)
    print(f"screenshot of {report} written to {args.out}")


if __name__ == "__main__":
    main()
