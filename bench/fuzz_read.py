"""Fuzz pipeline.io.read_image with mutated image files; report what it raised.

Small valid TIFF (strips, tiles, pyramid, BigTIFF, OME, planar 16-bit), PNG and
JPEG files are mutated (seeded byte flips, extreme header fields, truncations,
insertions) and read with ``max_pixels`` = 1 megapixel, every other case with
an explicit pixel size (so that damaged pixel data is reached even when the
calibration is damaged too). Every read must either
succeed or raise ImageReadError (or a subclass), PixelSizeError or
FileNotFoundError with a one-line message starting with the file name; a read
that takes longer than ``--timeout`` seconds ends the run with a traceback
(faulthandler). Cases that break the rule are saved to ``--keep`` for
reproduction. The test suite runs the same check on 200 cases
(tests/test_bad_inputs.py::test_fuzzed_tiffs_raise_only_read_errors).

Usage: python bench/fuzz_read.py [--cases 5000] [--seed 0] [--keep fuzz_failures]
"""

from __future__ import annotations

import argparse
import collections
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run as a script: bench/ modules

import numpy as np  # noqa: E402

from fuzzing import mutate, read_mutant, seed_files  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per case before aborting")
    parser.add_argument("--keep", type=Path, default=Path("fuzz_failures"),
                        help="folder for files that broke the rule")
    args = parser.parse_args(argv)

    seeds = seed_files()
    names = sorted(seeds)
    rng = np.random.default_rng(args.seed)
    outcomes = collections.Counter()
    per_seed = collections.defaultdict(collections.Counter)
    bad = []
    slowest = (0.0, "")
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for case in range(args.cases):
            name = names[case % len(names)]
            path = Path(tmp) / f"case{case:05d}_{name}"
            path.write_bytes(mutate(seeds[name], rng))
            t = time.perf_counter()
            try:
                outcome = read_mutant(path, pixel_size_um=0.5 if case % 2 else None,
                                      timeout_s=args.timeout)
            except Exception as exc:  # noqa: BLE001 - what the fuzzer is looking for
                outcome = f"UNEXPECTED {type(exc).__name__}"
                args.keep.mkdir(parents=True, exist_ok=True)
                kept = args.keep / path.name
                kept.write_bytes(path.read_bytes())
                bad.append(f"{kept}: {type(exc).__name__}: {' '.join(str(exc).split())[:200]}")
            dt = time.perf_counter() - t
            slowest = max(slowest, (dt, path.name))
            outcomes[outcome] += 1
            per_seed[name][outcome] += 1
            path.unlink()
    elapsed = time.perf_counter() - t0

    print(f"read_image fuzz: {args.cases} cases (seed {args.seed}) in {elapsed:.1f} s, "
          f"slowest case {slowest[0] * 1000:.0f} ms ({slowest[1]})")
    print("outcomes:")
    for outcome, count in outcomes.most_common():
        print(f"  {outcome:28s} {count:6d}")
    print("per seed file:")
    for name in names:
        parts = ", ".join(f"{k} {v}" for k, v in per_seed[name].most_common())
        print(f"  {name:16s} {parts}")
    if bad:
        print(f"{len(bad)} case(s) raised something else:")
        for line in bad[:20]:
            print("  " + line)
        return 1
    print("every case either read or raised ImageReadError / PixelSizeError / FileNotFoundError "
          "with one line naming the file")
    return 0


if __name__ == "__main__":
    sys.exit(main())
