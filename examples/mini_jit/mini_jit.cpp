// mini_jit: a small real JIT on jitcm and its asmjit adapter.
//
//   mini_jit [options] FILE [ARG...]      run FILE's main(ARG...)
//   mini_jit [options] -e SOURCE [ARG...] run a program given inline
//
// options: --threads N     call main from N threads at once (default 1)
//          --calls N       each thread calls main N times (default 1)
//          --threshold N   calls after which a function is recompiled by the optimizing tier (default 1000)
//          --expect V      exit 1 unless every call of main returned V
//          --expect-compiles B,O  exit 1 unless B baseline and O optimized compilations happened
//
// How it uses jitcm: every function of the program has a jump-table slot in
// one module; nothing is compiled up front. The first call of a function
// runs the module's lazy-compile callback, which compiles it with the
// baseline tier and publishes it (its slot now leads to the code). Baseline
// code counts its calls; the call that reaches the threshold compiles the
// function with the optimizing tier and publishes that, while other threads
// keep running the baseline code. Calls between functions go through the
// callee's slot, so no caller is ever patched. Replaced baseline code is
// freed by collect() at a safe point: here, once the threads have joined.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <asmjit/core.h>

#include <jitcm/adapters/asmjit.hpp>
#include <jitcm/jitcm.hpp>

#include "compiler.hpp"
#include "language.hpp"

namespace {

using manager_type = jitcm::code_manager;
using module_type = manager_type::module;
using tiers = jitcm::tiering::two_tier;
using clock_type = std::chrono::steady_clock;

struct tier_statistics {
  std::atomic<int> compilations{0};
  std::atomic<std::int64_t> nanoseconds{0};
};

/// The JIT: one program, one module, two tiers.
class jit {
 public:
  jit(mini_jit::program source, std::int64_t threshold)
      : program_{std::move(source)}, counters_(program_.functions.size()), compiled_(program_.functions.size()) {
    counting_ = {counters_.data(), threshold, &tier_up, this};
  }

  bool start(std::string& error) {
    auto created = manager_.new_module(
        {.functions = static_cast<std::uint32_t>(program_.functions.size()), .lazy = {&compile_lazily, this}});
    if (!created) {
      error = "new_module: " + created.error().message();
      return false;
    }
    module_ = std::move(*created);
    return true;
  }

  [[nodiscard]] const mini_jit::program& program() const { return program_; }
  [[nodiscard]] module_type& module() { return *module_; }
  [[nodiscard]] manager_type& manager() { return manager_; }
  [[nodiscard]] const tier_statistics& statistics(mini_jit::tier t) const {
    return t == mini_jit::tier::baseline ? baseline_ : optimized_;
  }
  [[nodiscard]] bool failed() const { return failed_.load(); }

 private:
  // The module's lazy-compile callback: the first call of function `index`
  // (from any thread; several may arrive at once) lands here.
  static std::uintptr_t compile_lazily(void* context, std::uint32_t index) noexcept {
    jit& self = *static_cast<jit*>(context);
    {
      std::lock_guard lock{self.compile_mutex_};
      if (!self.compiled_[index]) {
        self.compiled_[index] = self.compile(index, mini_jit::tier::baseline);
        if (!self.compiled_[index]) return reinterpret_cast<std::uintptr_t>(&failed_call);
      }
    }
    // The slot, not the new code: it leads to whatever code is installed.
    return *self.module_->call_target(index);
  }

  // Called by baseline code on the call that reaches the threshold, once
  // per function; other threads keep running meanwhile.
  static void tier_up(void* context, std::uint32_t index) {
    jit& self = *static_cast<jit*>(context);
    std::lock_guard lock{self.compile_mutex_};
    (void)self.compile(index, mini_jit::tier::optimized);
  }

  bool compile(std::uint32_t index, mini_jit::tier level) {
    const auto started = clock_type::now();
    asmjit::CodeHolder code;
    code.init(asmjit::Environment::host());
    mini_jit::code_generator{code, program_, level, counting_}.compile(index);
    const bool optimized = level == mini_jit::tier::optimized;
    const std::string name = program_.functions[index].name + (optimized ? " (optimized)" : " (baseline)");
    auto published = jitcm::adapters::publish(
        *module_, code, {.index = index, .tier = optimized ? tiers::optimized : tiers::baseline, .name = name});
    if (!published) {
      std::fprintf(stderr, "mini_jit: compiling %s failed: %s\n", name.c_str(), published.error().message().c_str());
      failed_.store(true);
      return false;
    }
    tier_statistics& stats = optimized ? optimized_ : baseline_;
    stats.compilations.fetch_add(1);
    stats.nanoseconds.fetch_add(
        std::chrono::duration_cast<std::chrono::nanoseconds>(clock_type::now() - started).count());
    return true;
  }

  static std::int64_t failed_call() { return 0; }

  manager_type manager_;
  mini_jit::program program_;
  std::vector<std::int64_t> counters_;
  std::vector<bool> compiled_;  // guarded by compile_mutex_
  mini_jit::call_counting counting_;
  std::unique_ptr<module_type> module_;
  std::mutex compile_mutex_;
  tier_statistics baseline_, optimized_;
  std::atomic<bool> failed_{false};
};

/// Calls the function at `target` with `arguments` (at most six, by the System V ABI).
std::int64_t call(std::uintptr_t target, const std::vector<std::int64_t>& a) {
  using i = std::int64_t;
  const std::uintptr_t f = target;
  switch (a.size()) {
    case 0:
      return reinterpret_cast<i (*)()>(f)();
    case 1:
      return reinterpret_cast<i (*)(i)>(f)(a[0]);
    case 2:
      return reinterpret_cast<i (*)(i, i)>(f)(a[0], a[1]);
    case 3:
      return reinterpret_cast<i (*)(i, i, i)>(f)(a[0], a[1], a[2]);
    case 4:
      return reinterpret_cast<i (*)(i, i, i, i)>(f)(a[0], a[1], a[2], a[3]);
    case 5:
      return reinterpret_cast<i (*)(i, i, i, i, i)>(f)(a[0], a[1], a[2], a[3], a[4]);
    default:
      return reinterpret_cast<i (*)(i, i, i, i, i, i)>(f)(a[0], a[1], a[2], a[3], a[4], a[5]);
  }
}

struct options {
  int threads = 1;
  long calls = 1;
  std::int64_t threshold = 1000;
  bool check_result = false;
  std::int64_t expected = 0;
  int expected_baseline = -1, expected_optimized = -1;
  std::string source;
  std::vector<std::int64_t> arguments;
};

int usage() {
  std::fprintf(stderr,
               "usage: mini_jit [--threads N] [--calls N] [--threshold N] [--expect V] [--expect-compiles B,O]\n"
               "                (FILE | -e SOURCE) [ARG...]\n");
  return 2;
}

bool read_file(const char* path, std::string& text) {
  std::ifstream in{path};
  if (!in) return false;
  std::ostringstream all;
  all << in.rdbuf();
  text = all.str();
  return true;
}

bool parse_options(int argc, char** argv, options& o) {
  int i = 1;
  const auto next = [&](long long& value) {
    if (i + 1 >= argc) return false;
    value = std::strtoll(argv[++i], nullptr, 0);
    return true;
  };
  for (; i < argc; ++i) {
    const std::string arg = argv[i];
    long long value = 0;
    if (arg == "--threads" && next(value) && value > 0) {
      o.threads = static_cast<int>(value);
    } else if (arg == "--calls" && next(value) && value > 0) {
      o.calls = static_cast<long>(value);
    } else if (arg == "--threshold" && next(value) && value > 0) {
      o.threshold = value;
    } else if (arg == "--expect" && next(value)) {
      o.check_result = true;
      o.expected = value;
    } else if (arg == "--expect-compiles" && i + 1 < argc) {
      if (std::sscanf(argv[++i], "%d,%d", &o.expected_baseline, &o.expected_optimized) != 2) return false;
    } else if (arg == "-e" && i + 1 < argc) {
      o.source = argv[++i];
      break;
    } else if (arg.rfind("--", 0) != 0) {
      if (!read_file(argv[i], o.source)) {
        std::fprintf(stderr, "mini_jit: cannot read %s\n", argv[i]);
        return false;
      }
      break;
    } else {
      return false;
    }
  }
  if (i >= argc) return false;
  for (++i; i < argc; ++i) o.arguments.push_back(std::strtoll(argv[i], nullptr, 0));
  return true;
}

void print_tier(const char* label, const tier_statistics& stats) {
  const int n = stats.compilations.load();
  std::printf("%s compilations: %d", label, n);
  if (n > 0) std::printf(" (%.1f us each on average)", static_cast<double>(stats.nanoseconds.load()) / n / 1000.0);
  std::printf("\n");
}

}  // namespace

int main(int argc, char** argv) {
  options o;
  if (!parse_options(argc, argv, o)) return usage();
  std::string error;
  auto program = mini_jit::parser{o.source}.parse(error);
  if (!program) {
    std::fprintf(stderr, "mini_jit: %s\n", error.c_str());
    return 1;
  }
  const std::uint32_t main_index = *program->find("main");
  if (program->functions[main_index].parameters.size() != o.arguments.size()) {
    std::fprintf(stderr, "mini_jit: main takes %zu arguments\n", program->functions[main_index].parameters.size());
    return 1;
  }

  jit machine{std::move(*program), o.threshold};
  if (!machine.start(error)) {
    std::fprintf(stderr, "mini_jit: %s\n", error.c_str());
    return 1;
  }
  const std::uintptr_t entry = *machine.module().call_target(main_index);

  std::vector<std::int64_t> results(static_cast<std::size_t>(o.threads));
  std::atomic<long> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < o.threads; ++t) {
    threads.emplace_back([&, t] {
      for (long c = 0; c < o.calls; ++c) {
        const std::int64_t r = call(entry, o.arguments);
        if (c == 0) results[static_cast<std::size_t>(t)] = r;
        if (r != results[static_cast<std::size_t>(t)]) wrong.fetch_add(1);
      }
    });
  }
  for (std::thread& t : threads) t.join();

  // A safe point: no thread runs JIT code, so retired code can go.
  const std::size_t retired = machine.module().stats().retired;
  const std::size_t freed = machine.manager().collect({});

  std::printf("main(...) = %lld\n", static_cast<long long>(results[0]));
  print_tier("baseline", machine.statistics(mini_jit::tier::baseline));
  print_tier("optimized", machine.statistics(mini_jit::tier::optimized));
  std::printf("replaced code freed at the safe point: %zu of %zu\n", freed, retired);

  bool ok = !machine.failed() && wrong.load() == 0 && freed == retired;
  for (std::int64_t r : results) ok = ok && r == results[0];
  if (o.check_result && results[0] != o.expected) {
    std::printf("expected %lld\n", static_cast<long long>(o.expected));
    ok = false;
  }
  const int baseline = machine.statistics(mini_jit::tier::baseline).compilations.load();
  const int optimized = machine.statistics(mini_jit::tier::optimized).compilations.load();
  if (o.expected_baseline >= 0 && (baseline != o.expected_baseline || optimized != o.expected_optimized)) {
    std::printf("expected %d baseline and %d optimized compilations\n", o.expected_baseline, o.expected_optimized);
    ok = false;
  }
  return ok ? 0 : 1;
}
