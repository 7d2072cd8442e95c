"""Kill a batch with SIGKILL at random moments, resume it, and compare with an uninterrupted run.

Twenty small synthetic IHC nodes (negative, ITC and micrometastases) are
analysed by ``nodescope analyze`` in a subprocess. The reference run goes
through uninterrupted. The tested run is killed with SIGKILL after random
(seeded) delays, several times, and the same command is re-run until it
completes. Then every table (summary.csv, and cells.csv, deposits.csv,
objects.geojson and summary.json of every image) must equal the reference's
byte for byte, and no temporary file may be left behind.

Prints: whether the tables are identical, the number of kills, how many images
were finished before each kill, and how many analyses were redone (images
analysed more than once because a kill landed while they were in flight).

Usage: python bench/kill_resume.py [--images 20] [--kills 6] [--seed 0] [--workers 2]
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pipeline.io import write_calibrated_tiff
from pipeline.synthetic import make_node

ROOT = Path(__file__).resolve().parents[1]

TABLES = ("cells.csv", "deposits.csv", "objects.geojson", "summary.json")


def make_inputs(folder: Path, n: int) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for k in range(n):
        kind = k % 4  # negative, two small ITCs, a micrometastasis
        deposits = [] if kind == 0 else [{"diameter_um": (60, 120, 300)[kind - 1]}]
        node = make_node(size_um=(500.0, 500.0), pixel_size_um=1.0, stain="ihc", pattern="cohesive",
                         deposits=deposits, seed=k)
        name = f"node_{k:02d}"
        write_calibrated_tiff(folder / f"{name}.tif", node.rgb, pixel_size_um=1.0)
        names.append(name)
    return names


def command(src: Path, out: Path, workers: int) -> list[str]:
    return [sys.executable, "-m", "pipeline.cli", "analyze", str(src), "--out", str(out),
            "--stain", "ihc", "--workers", str(workers), "--quiet", "--no-report"]


def tables(out: Path, names) -> dict[str, bytes]:
    files = {"summary.csv": (out / "summary.csv").read_bytes()}
    for name in names:
        for table in TABLES:
            path = out / name / table
            files[f"{name}/{table}"] = path.read_bytes() if path.exists() else b"<missing>"
    return files


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=20)
    parser.add_argument("--kills", type=int, default=6, help="SIGKILLs before letting a run finish")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        src = tmp / "in"
        names = make_inputs(src, args.images)

        t0 = time.perf_counter()
        subprocess.run(command(src, tmp / "reference", args.workers), check=True, cwd=ROOT,
                       stdout=subprocess.DEVNULL)
        uninterrupted = time.perf_counter() - t0
        per_image = uninterrupted / args.images
        reference = tables(tmp / "reference", names)

        out = tmp / "killed"
        log_path = out / "nodescope.log"

        def finished():
            return len(list(out.glob("*/summary.json")))

        def batches_started():  # each run logs "nodescope <version>: N image(s) ..." first
            return log_path.read_text(encoding="utf-8").count(" INFO    nodescope ") if log_path.exists() else 0

        kills, runs, kill_points = 0, 0, []
        while True:
            runs += 1
            before, started = finished(), batches_started()
            proc = subprocess.Popen(command(src, out, args.workers), cwd=ROOT,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if kills < args.kills and before < args.images - 1:
                if rng.random() < 0.2:  # while the command is still starting up
                    time.sleep(rng.uniform(0.0, 1.0))
                    where = "start-up"
                else:  # after a random number of further images, plus part of one image's time
                    # (at most a third of what is left, so that several kills fit in one batch)
                    target = before + rng.randint(0, max(0, (args.images - before - 2) // 3))
                    while proc.poll() is None and (batches_started() == started or finished() < target):
                        time.sleep(0.002)
                    extra = rng.uniform(0.0, 2.0 * per_image)
                    time.sleep(extra)
                    where = f"{target - before} image(s) into the run + {extra * 1000:.0f} ms"
                if proc.poll() is None:
                    proc.kill()  # SIGKILL: no clean-up of any kind
                    proc.wait()
                    kills += 1
                    kill_points.append(f"{where} ({finished()} done)")
                    continue
            if proc.wait() == 0:
                break
            raise SystemExit(f"run {runs} failed with exit code {proc.returncode}")

        # images a killed run had handed to a worker but not finished: their work was lost
        segments = log_path.read_text(encoding="utf-8").split(" INFO    nodescope ")[1:]
        in_flight = [seg.count(" start ") - seg.count(" finish ") - seg.count(" skip ")
                     - seg.count(" error ") for seg in segments[:-1]]
        analyses = sum(seg.count(" finish ") for seg in segments)
        got = tables(out, names)
        different = sorted(k for k in reference if got.get(k) != reference[k])
        stray = sorted(str(p.relative_to(out)) for p in out.rglob("*.tmp"))

    print(f"kill/resume: {args.images} images, workers={args.workers}, seed={args.seed}; "
          f"uninterrupted run {uninterrupted:.1f} s")
    print(f"kills: {kills} (SIGKILL at random points), runs until complete: {runs}")
    for k, point in enumerate(kill_points, 1):
        print(f"  kill {k}: {point}")
    print(f"images in flight when a batch was killed (work lost, redone on resume): "
          f"{sum(in_flight)} {in_flight}")
    print(f"analyses logged over all runs: {analyses} for {args.images} images "
          "(an image finished just before a kill may miss its log line)")
    print(f"tables identical to the uninterrupted run (summary.csv + {len(TABLES)} files per image, "
          f"{len(reference)} files): {'yes' if not different else 'no'}")
    if different:
        print("  differing: " + ", ".join(different[:10]))
    print(f"temporary files left: {len(stray)}")
    return 0 if not different and not stray else 1


if __name__ == "__main__":
    sys.exit(main())
