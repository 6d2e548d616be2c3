#!/usr/bin/env python3
"""Compile time of jitcm's headers, against a TU of the standard headers jitcm uses.

Each TU in this folder is compiled (not linked) several times; the best
user+sys CPU time of the compiler counts. Printed: seconds, the ratio to
standard_headers.cpp, and the difference from it. Issue 12's targets: one
manager with one module <= 2x, <jitcm/jitcm.hpp> alone <= +0.3 s.

    python3 benchmarks/compile_time/measure.py                 # g++, -O2, best of 3
    python3 benchmarks/compile_time/measure.py --cxx clang++ --runs 5
    python3 benchmarks/compile_time/measure.py --include /other/jitcm/include   # another tree (before/after)

or `meson compile -C build compile_time` (with -Dbenchmarks=true).
"""

import argparse
import os
import pathlib
import resource
import subprocess
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
REFERENCE = "standard_headers.cpp"

# (TU, what it measures); the reference first.
CASES = [
    (REFERENCE, "standard headers jitcm uses (reference)"),
    ("fwd.cpp", "<jitcm/fwd.hpp> alone"),
    ("manager_header.cpp", "<jitcm/code_manager.hpp> alone"),
    ("umbrella.cpp", "<jitcm/jitcm.hpp> alone"),
    ("one_manager.cpp", "one manager + module, <jitcm/code_manager.hpp>"),
    ("one_manager_umbrella.cpp", "one manager + module, <jitcm/jitcm.hpp>"),
    ("extern_manager.cpp", "one manager + module, extern template (recipe)"),
]


def cpu_seconds_of(command):
    """User+sys CPU of one run of `command` and its children; None if it failed."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        return None
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def best_of(runs, command):
    times = [cpu_seconds_of(command) for _ in range(runs)]
    return None if None in times else min(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cxx", default=os.environ.get("CXX", "g++"))
    parser.add_argument("--include", default=str(HERE.parent.parent / "include"),
                        help="the jitcm include directory to measure")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--flags", default="-std=c++20 -O2", help="compiler flags (one string)")
    parser.add_argument("cases", nargs="*", help="TU file names to measure (default: all)")
    args = parser.parse_args()

    wanted = [case for case in CASES if not args.cases or case[0] in args.cases or case[0] == REFERENCE]
    with tempfile.TemporaryDirectory() as scratch:
        output = os.path.join(scratch, "tu.o")
        base = [args.cxx, *args.flags.split(), "-I", args.include, "-I", str(HERE), "-c", "-o", output]
        reference = None
        print(f"{args.cxx} {args.flags}, best of {args.runs}, user+sys CPU; jitcm from {args.include}")
        print(f"{'TU':<58} {'seconds':>8} {'ratio':>6} {'over ref':>9}")
        failed = False
        for source, what in wanted:
            seconds = best_of(args.runs, [*base, str(HERE / source)])
            if seconds is None:
                print(f"{what:<58} {'failed':>8}")
                failed = True
                continue
            if source == REFERENCE:
                reference = seconds
            print(f"{what:<58} {seconds:8.2f} {seconds / reference:5.2f}x {seconds - reference:+8.2f}s")
        return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
