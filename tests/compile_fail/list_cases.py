#!/usr/bin/env python3
"""Prints the compile-fail case files (*.cpp) in this directory, one a line,
so meson.build can make one test of each without listing them by hand."""
import pathlib

for case in sorted(pathlib.Path(__file__).parent.glob("*.cpp")):
    print(case.name)
