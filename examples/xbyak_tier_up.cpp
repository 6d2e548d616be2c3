// xbyak_tier_up: the mini JIT's tier-up in one page, with Xbyak emitting
// straight into the module through jitcm's Xbyak adapter (x86-64).
//
// sum(n) = 0 + 1 + ... + n. Its first call compiles a baseline version (a
// loop that also counts its calls) through the module's lazy-compile
// callback; the call that reaches the threshold compiles the optimized
// version (n * (n + 1) / 2) and installs it while the other threads keep
// calling. Everyone calls the slot, so nobody is patched; the baseline code
// is freed at the safe point after the threads join.
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <thread>
#include <vector>

#include <jitcm/adapters/xbyak.hpp>
#include <jitcm/jitcm.hpp>

namespace {

// Xbyak resolves addresses against the buffer it writes, so it needs code
// written at its executable address: an mprotect allocator, not the default
// (dual mapping where allowed; publish reports errc::unsupported there).
using manager_type =
    jitcm::with_allocator<jitcm::code_manager, jitcm::allocator::default_allocator<jitcm::protection::mprotect_toggle>>;
using module_type = manager_type::module;
using generator = jitcm::adapters::xbyak_generator<module_type>;
using tiers = jitcm::tiering::two_tier;
using sum_function = std::int64_t (*)(std::int64_t);

constexpr std::int64_t threshold = 1000;

struct jit {
  module_type* module = nullptr;
  std::int64_t calls = 0;  // counted by the baseline code
  std::mutex compiling;
  bool compiled = false;
  int baseline = 0, optimized = 0;
};

void tier_up(jit* self) {
  std::lock_guard lock{self->compiling};
  generator gen{*self->module};
  gen.lea(gen.rax, gen.ptr[gen.rdi + 1]);  // n * (n + 1) / 2
  gen.imul(gen.rax, gen.rdi);
  gen.sar(gen.rax, 1);
  gen.ret();
  if (gen.publish({.index = 0, .tier = tiers::optimized, .name = "sum (optimized)"})) ++self->optimized;
}

bool compile_baseline(jit& self) {
  generator gen{*self.module};
  Xbyak::Label loop, done, counted;
  gen.mov(gen.rax, reinterpret_cast<std::uintptr_t>(&self.calls));  // count the call
  gen.mov(gen.ecx, 1);
  gen.lock();
  gen.xadd(gen.qword[gen.rax], gen.rcx);
  gen.cmp(gen.rcx, threshold - 1);  // exactly one call sees the count reach the threshold
  gen.jne(counted);
  gen.push(gen.rdi);  // keeps n, and aligns the stack for the call
  gen.mov(gen.rdi, reinterpret_cast<std::uintptr_t>(&self));
  gen.mov(gen.rax, reinterpret_cast<std::uintptr_t>(&tier_up));
  gen.call(gen.rax);
  gen.pop(gen.rdi);
  gen.L(counted);
  gen.xor_(gen.eax, gen.eax);  // the loop
  gen.L(loop);
  gen.test(gen.rdi, gen.rdi);
  gen.jle(done);
  gen.add(gen.rax, gen.rdi);
  gen.dec(gen.rdi);
  gen.jmp(loop);
  gen.L(done);
  gen.ret();
  return static_cast<bool>(gen.publish({.index = 0, .tier = tiers::baseline, .name = "sum (baseline)"}));
}

std::uintptr_t compile_lazily(void* context, std::uint32_t index) noexcept {
  jit& self = *static_cast<jit*>(context);
  std::lock_guard lock{self.compiling};
  if (!self.compiled && compile_baseline(self)) {
    self.compiled = true;
    ++self.baseline;
  }
  return *self.module->call_target(index);
}

}  // namespace

int main() {
  manager_type manager;
  jit self;
  auto module = manager.new_module({.functions = 1, .lazy = {&compile_lazily, &self}});
  if (!module) return std::printf("new_module: %s\n", module.error().message().c_str()), 1;
  self.module = module->get();
  const auto sum = reinterpret_cast<sum_function>(*self.module->call_target(0));

  std::atomic<long> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 2000; ++i) {
        if (sum(1000) != 500500) wrong.fetch_add(1);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  const std::size_t freed = manager.collect({});  // the safe point: no thread runs JIT code

  std::printf("sum(1000) = %lld; %d baseline and %d optimized compilations; %zu replaced code freed; %ld wrong\n",
              static_cast<long long>(sum(1000)), self.baseline, self.optimized, freed, wrong.load());
  return wrong == 0 && self.baseline == 1 && self.optimized == 1 && freed == 1 ? 0 : 1;
}
