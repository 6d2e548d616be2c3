#!/usr/bin/env python3
"""Runs observed_program under a real tool and checks the tool names the JIT
code. Exit 0: passed, 1: failed, 77: the tool cannot run here (skipped, with
the reason printed).

  run_tool.py gdb PROGRAM [dual]            break/bt/info symbol on jit_answer (JITCM_GDB=1)
  run_tool.py perf-map PROGRAM [dual]       perf record + report with JITCM_PERF=map
  run_tool.py perf-jitdump PROGRAM [dual]   perf record -k 1 + inject --jit + report with JITCM_PERF=jitdump
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

SKIP = 77


def skip(reason):
    print("SKIP:", reason)
    sys.exit(SKIP)


def fail(reason, output=""):
    print("FAIL:", reason)
    if output:
        print(output)
    sys.exit(1)


def run(cmd, env=None, cwd=None, timeout=120):
    merged = dict(os.environ)
    merged.update(env or {})
    done = subprocess.run(cmd, env=merged, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=timeout)
    return done.returncode, done.stdout


def check_gdb(program, extra):
    if shutil.which("gdb") is None:
        skip("gdb is not installed")
    # Under dual mapping the code's executable view is a shared read-only
    # mapping, which the kernel does not let a debugger patch: a hardware
    # breakpoint is what works there.
    break_command = "hbreak" if "dual" in extra else "break"
    status, out = run(["gdb", "-batch", "-nx", "-ex", "set breakpoint pending on",
                       "-ex", f"{break_command} jit_answer", "-ex", "run", "-ex", "bt",
                       "-ex", "info symbol $pc", "-ex", "kill", "--args", program, "answer", *extra],
                      env={"JITCM_GDB": "1"})
    if "ptrace" in out and "Operation not permitted" in out:
        skip("gdb may not ptrace here: " + out.strip().splitlines()[-1])
    if not re.search(r"Breakpoint 1, 0x[0-9a-f]+ in jit_answer \(\)", out):
        fail("gdb did not stop in jit_answer", out)
    frames = re.findall(r"^#\d+\s+(?:0x[0-9a-f]+ in )?(.*)$", out, re.M)
    if len(frames) < 2 or not frames[0].startswith("jit_answer ") or "call_jit_answer" not in frames[1]:
        fail(f"bt does not show jit_answer under call_jit_answer: {frames[:2]}", out)
    names = [frame.split(" (")[0] for frame in frames]
    if not re.search(r"^jit_answer in section \.text", out, re.M):
        fail("info symbol does not name jit_answer", out)
    print("gdb: stopped in jit_answer, bt", names[:2], "info symbol names it")


def perf_can_record(workdir):
    if shutil.which("perf") is None:
        skip("perf is not installed")
    status, out = run(["perf", "record", "-k", "1", "-e", "cpu-clock", "-o", os.path.join(workdir, "probe.data"),
                       "--", "true"], cwd=workdir)
    if status != 0:
        skip("perf cannot record here: " + (out.strip().splitlines() or ["?"])[-1])


def report_symbols(data, workdir):
    status, out = run(["perf", "report", "-i", data, "--stdio", "--sort", "sym"], cwd=workdir)
    if status != 0:
        fail("perf report failed", out)
    return out


def check_perf_map(program, extra, workdir):
    perf_can_record(workdir)
    data = os.path.join(workdir, "perf.data")
    status, out = run(["perf", "record", "-e", "cpu-clock", "-o", data, "--", program, "spin", *extra],
                      env={"JITCM_PERF": "map"}, cwd=workdir)
    if status != 0:
        fail("perf record of the program failed", out)
    report = report_symbols(data, workdir)
    if "jit_hot_loop" not in report and "dual" in extra:
        status, dsos = run(["perf", "report", "-i", data, "--stdio", "--sort", "dso"], cwd=workdir)
        if "memfd:" in dsos:
            skip("perf reads /tmp/perf-<pid>.map only for anonymous executable mappings, and dual mapping's "
                 "executable view is a memfd mapping; JITCM_PERF=jitdump names the code there (perf-jitdump test)")
    if "jit_hot_loop" not in report:
        fail("perf report does not name jit_hot_loop (from /tmp/perf-<pid>.map)", report)
    print("perf map: perf report names jit_hot_loop")


def check_perf_jitdump(program, extra, workdir):
    perf_can_record(workdir)
    data = os.path.join(workdir, "perf.data")
    injected = os.path.join(workdir, "perf.jit.data")
    status, out = run(["perf", "record", "-k", "1", "-e", "cpu-clock", "-o", data, "--", program, "spin", *extra],
                      env={"JITCM_PERF": "jitdump", "JITDUMPDIR": workdir}, cwd=workdir)
    if status != 0:
        fail("perf record of the program failed", out)
    dumps = [f for f in os.listdir(workdir) if re.fullmatch(r"jit-\d+\.dump", f)]
    if not dumps:
        fail("the program wrote no jit-<pid>.dump into JITDUMPDIR", out)
    status, out = run(["perf", "inject", "--jit", "-i", data, "-o", injected], cwd=workdir)
    if status != 0:
        fail("perf inject --jit failed", out)
    if not any(f.startswith("jitted-") and f.endswith(".so") for f in os.listdir(workdir)):
        fail("perf inject wrote no jitted-*.so: it did not find the jitdump marker", out)
    report = report_symbols(injected, workdir)
    if "jit_hot_loop" not in report:
        fail("perf report of the injected data does not name jit_hot_loop", report)
    print("jitdump: perf inject --jit + perf report name jit_hot_loop")


def main():
    mode, program, extra = sys.argv[1], os.path.abspath(sys.argv[2]), sys.argv[3:]
    if mode == "gdb":
        check_gdb(program, extra)
        return
    workdir = tempfile.mkdtemp(prefix="jitcm-perf-")
    try:
        if mode == "perf-map":
            check_perf_map(program, extra, workdir)
        elif mode == "perf-jitdump":
            check_perf_jitdump(program, extra, workdir)
        else:
            fail("unknown mode " + mode)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
