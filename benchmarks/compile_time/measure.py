#!/usr/bin/env python3
"""Compile time of jitcm's headers, against a TU of the standard headers jitcm uses.

Each TU in this folder is compiled (not linked) several times; the best
user+sys CPU time of the compiler counts. Every jitcm TU is measured in both
modes: header-only (the default) and separate compilation
(-DJITCM_SEPARATE_COMPILATION: jitcm's non-template functions are compiled
once, in the TU that includes <jitcm/separate_compilation.hpp>). Printed:
seconds, the ratio to standard_headers.cpp and the difference from it, then
issue 12's goals in each mode: one manager with one module <= 2x,
<jitcm/jitcm.hpp> alone <= +0.3 s. The TUs a program adds once (the
definitions, the recipe's instantiation) are listed for what they cost,
outside the goals.

    python3 benchmarks/compile_time/measure.py                 # g++, -O2, best of 3
    python3 benchmarks/compile_time/measure.py --cxx clang++ --runs 5
    python3 benchmarks/compile_time/measure.py --include /other/jitcm/include   # another tree (before/after)
    python3 benchmarks/compile_time/measure.py --modes header-only umbrella.cpp  # one mode, one TU

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

HEADER_ONLY = "header-only"
SEPARATE = "separate"
MODE_FLAGS = {HEADER_ONLY: [], SEPARATE: ["-DJITCM_SEPARATE_COMPILATION"]}
BOTH = (HEADER_ONLY, SEPARATE)

# (TU, what it measures, modes); the reference first.
CASES = [
    (REFERENCE, "standard headers jitcm uses (reference)", (HEADER_ONLY,)),
    ("fwd.cpp", "<jitcm/fwd.hpp> alone", BOTH),
    ("manager_header.cpp", "<jitcm/code_manager.hpp> alone", BOTH),
    ("umbrella.cpp", "<jitcm/jitcm.hpp> alone", BOTH),
    ("one_manager.cpp", "one manager + module, <jitcm/code_manager.hpp>", BOTH),
    ("one_manager_umbrella.cpp", "one manager + module, <jitcm/jitcm.hpp>", BOTH),
    ("extern_manager.cpp", "one manager + module, extern template (recipe)", BOTH),
    ("instantiate_manager.cpp", "once per program: the recipe's instantiation TU", BOTH),
    ("definitions.cpp", "once per program: <jitcm/separate_compilation.hpp>", (SEPARATE,)),
]

# Issue 12's goals: (TU, what, limit kind, limit).
GOALS = [
    ("umbrella.cpp", "<jitcm/jitcm.hpp> alone", "over", 0.3),
    ("one_manager.cpp", "one manager + module", "ratio", 2.0),
    ("extern_manager.cpp", "one manager + module, with the recipe", "ratio", 2.0),
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


def goal_lines(measured, reference):
    """One line per goal and mode: the figure, the limit, met or not."""
    lines = []
    for source, what, kind, limit in GOALS:
        for mode in BOTH:
            seconds = measured.get((source, mode))
            if seconds is None:
                continue
            if kind == "over":
                figure, wanted, met = f"{seconds - reference:+.2f}s", f"<= +{limit:.1f}s", seconds - reference <= limit
            else:
                figure, wanted, met = f"{seconds / reference:.2f}x", f"<= {limit:.1f}x", seconds / reference <= limit
            lines.append(f"goal: {what:<40} {mode:<12} {figure:>7} {wanted:>8} {'met' if met else 'NOT met'}")
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cxx", default=os.environ.get("CXX", "g++"))
    parser.add_argument("--include", default=str(HERE.parent.parent / "include"),
                        help="the jitcm include directory to measure")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--flags", default="-std=c++20 -O2", help="compiler flags (one string)")
    parser.add_argument("--modes", default=",".join(BOTH),
                        help="comma-separated: header-only, separate (-DJITCM_SEPARATE_COMPILATION); default both")
    parser.add_argument("cases", nargs="*", help="TU file names to measure (default: all)")
    args = parser.parse_args()
    args.modes = args.modes.split(",")
    if any(mode not in BOTH for mode in args.modes):
        parser.error(f"--modes: each of {', '.join(BOTH)}")

    wanted = [case for case in CASES if not args.cases or case[0] in args.cases or case[0] == REFERENCE]
    with tempfile.TemporaryDirectory() as scratch:
        output = os.path.join(scratch, "tu.o")
        base = [args.cxx, *args.flags.split(), "-I", args.include, "-I", str(HERE), "-c", "-o", output]
        reference = None
        measured = {}
        print(f"{args.cxx} {args.flags}, best of {args.runs}, user+sys CPU; jitcm from {args.include}")
        print(f"{'TU':<58} {'mode':<12} {'seconds':>8} {'ratio':>6} {'over ref':>9}")
        failed = False
        for source, what, modes in wanted:
            for mode in modes:
                if source != REFERENCE and mode not in args.modes:
                    continue
                seconds = best_of(args.runs, [*base, *MODE_FLAGS[mode], str(HERE / source)])
                if seconds is None:
                    print(f"{what:<58} {mode:<12} {'failed':>8}")
                    failed = True
                    continue
                if source == REFERENCE:
                    reference = seconds
                    mode = "-"
                measured[(source, mode)] = seconds
                print(f"{what:<58} {mode:<12} {seconds:8.2f} {seconds / reference:5.2f}x "
                      f"{seconds - reference:+8.2f}s")
        if reference is not None:
            for line in goal_lines(measured, reference):
                print(line)
        return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
