#!/usr/bin/env python3
"""Installs jitcm into a scratch DESTDIR and builds a consumer against it.

Three ways, each of which must compile and run consumer/main.cpp:
  pkg-config  the installed jitcm.pc, found through PKG_CONFIG_PATH (the .pc
              is relocatable, so no sysroot tricks are needed);
  cmake       find_package(jitcm) + target_link_libraries(app jitcm::jitcm)
              with CMAKE_PREFIX_PATH pointing into the DESTDIR;
  meson       a parent project with jitcm in its subprojects/ and a plain
              dependency('jitcm').
It also compiles one file that includes every installed header, with and
without -fno-exceptions -fno-rtti, header-only and under separate compilation
(-DJITCM_SEPARATE_COMPILATION, where the file also includes
<jitcm/separate_compilation.hpp>, the one header that refuses the default
mode), so a header that needs a file which is not installed, or that throws,
is caught here in either mode.

A way whose tool is missing is reported as skipped; the test then exits 77
(Meson's SKIP) unless another way failed.
"""
import argparse
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CONSUMER = os.path.join(HERE, "consumer")


def run(cmd, cwd=None, env=None):
    printable = " ".join(shlex.quote(c) for c in cmd)
    print(f"$ {printable}", flush=True)
    proc = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)
    if proc.stdout:
        print(proc.stdout.rstrip(), flush=True)
    if proc.returncode != 0:
        raise RuntimeError(f"exit {proc.returncode}: {printable}")
    return proc.stdout


def rooted(destdir, path):
    return os.path.join(destdir, path.lstrip("/"))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--source-root", required=True)
    parser.add_argument("--build-root", required=True)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--includedir", required=True)
    parser.add_argument("--meson", required=True)
    parser.add_argument("--cxx", required=True, help="the C++ compiler command, space separated")
    args = parser.parse_args()

    cxx = shlex.split(args.cxx)
    env = dict(os.environ)
    env["CXX"] = args.cxx
    # Never let the host's own jitcm (if one is installed) stand in for ours.
    env.pop("PKG_CONFIG_PATH", None)
    env.pop("CMAKE_PREFIX_PATH", None)

    results = {}
    with tempfile.TemporaryDirectory(prefix="jitcm-install-") as scratch:
        destdir = os.path.join(scratch, "destdir")
        run([args.meson, "install", "-C", args.build_root, "--no-rebuild", "--quiet",
             "--destdir", destdir], env=env)
        prefix = rooted(destdir, args.prefix)
        includedir = args.includedir if os.path.isabs(args.includedir) else os.path.join(args.prefix, args.includedir)
        installed_include = rooted(destdir, includedir)

        expected = [
            os.path.join(installed_include, "jitcm", "base", "result.hpp"),
            os.path.join(installed_include, "jitcm", "base", "config.hpp"),
            os.path.join(prefix, "lib", "cmake", "jitcm", "jitcmConfig.cmake"),
            os.path.join(prefix, "lib", "cmake", "jitcm", "jitcmConfigVersion.cmake"),
        ]
        pc_files = [os.path.join(d, f) for d, _, fs in os.walk(prefix) for f in fs if f == "jitcm.pc"]
        missing = [p for p in expected if not os.path.isfile(p)]
        if missing or len(pc_files) != 1:
            print("install: missing " + ", ".join(missing + ([] if pc_files else ["jitcm.pc"])))
            return 1
        print(f"install: headers in {installed_include}, {pc_files[0]}, CMake config; ok")

        def way(name, tool, body):
            if tool is not None and shutil.which(tool) is None:
                results[name] = "skipped"
                print(f"--- {name}: skipped ({tool} not found)")
                return
            print(f"--- {name}", flush=True)
            started = time.monotonic()
            try:
                body(os.path.join(scratch, name))
                results[name] = "ok"
            except (RuntimeError, OSError) as error:
                results[name] = "FAILED"
                print(f"{name}: {error}")
            print(f"--- {name}: {results[name]} ({time.monotonic() - started:.1f} s)", flush=True)

        def every_header(work):
            os.makedirs(work)
            headers = sorted(os.path.relpath(os.path.join(d, f), installed_include)
                             for d, _, fs in os.walk(os.path.join(installed_include, "jitcm"))
                             for f in fs if f.endswith(".hpp"))
            source = os.path.join(work, "every_header.cpp")
            # An adapter header needs its code generator: included where
            # that generator's headers are (Xbyak without exceptions only
            # with XBYAK_NO_EXCEPTION, Xbyak's own switch).
            generator_of = {"jitcm/adapters/asmjit.hpp": "asmjit/core.h", "jitcm/adapters/xbyak.hpp": "xbyak/xbyak.h"}
            with open(source, "w") as out:
                out.write("#define XBYAK_NO_EXCEPTION 1\n")
                for h in headers:
                    guard = generator_of.get(h)
                    if h == "jitcm/separate_compilation.hpp":
                        out.write(f"#if defined(JITCM_SEPARATE_COMPILATION)\n#include <{h}>\n#endif\n")
                    elif guard:
                        out.write(f"#if __has_include(<{guard}>)\n#include <{h}>\n#endif\n")
                    else:
                        out.write(f"#include <{h}>\n")
            # Only the installed tree is on the include path: a header that
            # includes something left behind in the source tree fails here.
            # And the library promises to work without exceptions and RTTI.
            for compilation in ([], ["-DJITCM_SEPARATE_COMPILATION"]):
                for mode in ([], ["-fno-exceptions", "-fno-rtti"]):
                    run(cxx + ["-std=c++20", "-fsyntax-only", "-Wall", "-Wextra", "-Wpedantic", "-Werror",
                               *compilation, *mode, "-I", installed_include, source])
            print(f"{len(headers)} installed headers compile together, also with -fno-exceptions -fno-rtti, "
                  "header-only and with JITCM_SEPARATE_COMPILATION")

        def pkg_config(work):
            os.makedirs(work)
            pc_env = dict(env, PKG_CONFIG_PATH=os.path.dirname(pc_files[0]))
            flags = shlex.split(run(["pkg-config", "--cflags", "--libs", "jitcm"], env=pc_env))
            if not any(f.startswith("-I") and f[2:].startswith(destdir) for f in flags):
                raise RuntimeError(f"pkg-config flags do not point into the install: {flags}")
            # The flags must not choose the standard: that would override a
            # newer one the user chose, whichever comes first on the line.
            if any(f.startswith("-std=") for f in flags):
                raise RuntimeError(f"pkg-config flags choose a C++ standard: {flags}")
            cxx_std = run(["pkg-config", "--variable=cxx_std", "jitcm"], env=pc_env).strip()
            if cxx_std != "-std=c++20":
                raise RuntimeError(f"pkg-config variable cxx_std is {cxx_std!r}, not -std=c++20")
            main = os.path.join(CONSUMER, "main.cpp")
            newer = ["-std=c++2b", "-DJITCM_CONSUMER_NEWER_STANDARD"]
            for name, command in (("app", [cxx_std, main] + flags),
                                  ("app-newer-first", newer + [main] + flags),
                                  ("app-newer-last", [main] + flags + newer)):
                app = os.path.join(work, name)
                run(cxx + command + ["-o", app], env=pc_env)
                run([app])

        def cmake(work):
            build = os.path.join(work, "build")
            generator = ["-G", "Ninja"] if shutil.which("ninja") else []
            run(["cmake", "-S", CONSUMER, "-B", build, *generator,
                 f"-DCMAKE_PREFIX_PATH={prefix}", f"-DCMAKE_CXX_COMPILER={cxx[-1]}",
                 "-DCMAKE_FIND_PACKAGE_NO_PACKAGE_REGISTRY=ON"], env=env)
            run(["cmake", "--build", build], env=env)
            run([os.path.join(build, "app")])
            adapter_app = os.path.join(build, "adapter_app")
            if os.path.exists(adapter_app):
                run([adapter_app])
            else:
                print("jitcm::asmjit: not defined here (no asmjit CMake package, or not x86-64)")
            # A consumer choosing C++23 keeps it (cxx_std_20 is a minimum).
            newer = os.path.join(work, "build-c++23")
            run(["cmake", "-S", CONSUMER, "-B", newer, *generator, f"-DCMAKE_PREFIX_PATH={prefix}",
                 f"-DCMAKE_CXX_COMPILER={cxx[-1]}", "-DJITCM_CONSUMER_CXX_STANDARD=23"], env=env)
            run(["cmake", "--build", newer, "--target", "app"], env=env)
            run([os.path.join(newer, "app")])
            # 0.x releases may break the API, so 0.1 must not satisfy 0.2, nor 1.0.
            for wanted in ("0.2", "1.0"):
                try:
                    run(["cmake", "-S", CONSUMER, "-B", os.path.join(work, "build-" + wanted), *generator,
                         f"-DCMAKE_PREFIX_PATH={prefix}", f"-DJITCM_WANTED_VERSION={wanted}"], env=env)
                except RuntimeError:
                    print(f"find_package(jitcm {wanted}) refused, as it should be")
                    continue
                raise RuntimeError(f"find_package(jitcm {wanted}) accepted version 0.1")

        def meson(work):
            project = os.path.join(work, "project")
            os.makedirs(os.path.join(project, "subprojects"))
            for name in ("meson.build", "main.cpp"):
                shutil.copy(os.path.join(CONSUMER, name), project)
            os.symlink(os.path.abspath(args.source_root), os.path.join(project, "subprojects", "jitcm"))
            with open(os.path.join(project, "subprojects", "jitcm.wrap"), "w") as wrap:
                # The directory is already there, so nothing is fetched; the
                # [provide] line is what lets a plain dependency('jitcm') find it.
                wrap.write("[wrap-file]\ndirectory = jitcm\n\n[provide]\njitcm = jitcm_dep\n")
            build = os.path.join(work, "build")
            run([args.meson, "setup", build, project, "--wrap-mode=nodownload"], env=env)
            run([args.meson, "compile", "-C", build], env=env)
            run([os.path.join(build, "app")])

        way("every-header", None, every_header)
        way("pkg-config", "pkg-config", pkg_config)
        way("cmake", "cmake", cmake)
        way("meson", None, meson)

    print("summary: " + ", ".join(f"{k} {v}" for k, v in results.items()))
    if "FAILED" in results.values():
        return 1
    if "skipped" in results.values():
        return 77
    return 0


if __name__ == "__main__":
    sys.exit(main())
