#!/usr/bin/env python3
"""Runs one compile-fail case.

A case is a C++ file whose first line reads `// expect: <sentence>`. The case
passes only when compiling it fails AND the compiler's output contains the
sentence, so a case that breaks for an unrelated reason (a typo, a missing
include) is reported as a failure instead of passing by accident.

usage: run_case.py CASE.cpp -- COMPILER [ARGS...]
"""
import subprocess
import sys

EXPECT_PREFIX = "// expect:"


def expected_sentence(path):
    with open(path, encoding="utf-8") as source:
        first_line = source.readline().strip()
    if not first_line.startswith(EXPECT_PREFIX):
        return None
    return first_line[len(EXPECT_PREFIX):].strip()


def main(argv):
    if len(argv) < 4 or argv[2] != "--":
        print(__doc__, file=sys.stderr)
        return 2
    case, command = argv[1], argv[3:]
    sentence = expected_sentence(case)
    if not sentence:
        print(f"{case}: first line must be `{EXPECT_PREFIX} <sentence>`", file=sys.stderr)
        return 2
    compiled = subprocess.run(command + ["-fsyntax-only", case],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, check=False)
    output = compiled.stdout
    if compiled.returncode == 0:
        print(f"{case}: compiled, but it must fail with: {sentence}")
        return 1
    if sentence not in output:
        print(output)
        print(f"{case}: failed to compile, but the output lacks: {sentence}")
        return 1
    print(f"{case}: fails to compile with: {sentence}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
