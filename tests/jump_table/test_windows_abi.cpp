// The lazy trampoline under the Windows x64 calling convention: arguments in
// rcx, rdx, r8, r9 and xmm0-xmm3 and on the stack above the caller's shadow
// space reach the compiled code intact; a handler that spills its arguments
// into its shadow space (as unoptimised code does) overwrites nothing the
// trampoline keeps; xmm6-xmm15, callee-saved, survive a handler and a
// target that use them.
#include <cstdint>
#include <vector>

#include <jitcm/jump_table/lazy_trampoline.hpp>
#include <jitcm/protection/mprotect_toggle.hpp>

#include "catch.hpp"
#include "host_code.hpp"

namespace jt = jitcm::jump_table;
using jitcm::testing::table_space;

namespace {

// xmm0, xmm1 (doubles), r8, r9 (integers), then two on the stack.
using mixed_function = double (*)(double, double, long long, long long, double, long long);

// Uses every callee-saved vector register, so its prologue must save them
// and its epilogue restore them for the caller.
[[gnu::noinline]] double mixed(double a, double b, long long c, long long d, double e, long long f) {
  asm volatile(
      "xorps %%xmm6, %%xmm6\n xorps %%xmm7, %%xmm7\n xorps %%xmm8, %%xmm8\n xorps %%xmm9, %%xmm9\n"
      "xorps %%xmm10, %%xmm10\n xorps %%xmm11, %%xmm11\n xorps %%xmm12, %%xmm12\n"
      "xorps %%xmm13, %%xmm13\n xorps %%xmm14, %%xmm14\n xorps %%xmm15, %%xmm15\n" ::
          : "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15");
  return a + 10 * b + 100 * static_cast<double>(c) + 1000 * static_cast<double>(d) + 10000 * e +
         100000 * static_cast<double>(f);
}

struct lazy_state {
  table_space<jitcm::protection::mprotect_toggle>* table = nullptr;
  std::vector<std::uint32_t> compiled;
};
lazy_state lazy;

// Unoptimised, so it stores its argument in the home slot of its shadow
// space; it also clobbers every volatile register the arguments live in and
// every callee-saved vector register (which it must then restore).
[[gnu::optimize("O0"), gnu::noinline]] std::uintptr_t compile_lazily(std::uint32_t index) {
  asm volatile(
      "xorps %%xmm0, %%xmm0\n xorps %%xmm1, %%xmm1\n xorps %%xmm2, %%xmm2\n xorps %%xmm3, %%xmm3\n"
      "xorps %%xmm4, %%xmm4\n xorps %%xmm5, %%xmm5\n xorps %%xmm6, %%xmm6\n xorps %%xmm15, %%xmm15\n"
      "xorl %%ecx, %%ecx\n xorl %%edx, %%edx\n xorl %%r8d, %%r8d\n xorl %%r9d, %%r9d\n" ::
          : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm15", "rcx", "rdx", "r8", "r9");
  lazy.compiled.push_back(index);
  const auto code = reinterpret_cast<std::uintptr_t>(&mixed);
  if (!lazy.table->patch(index, code)) return 0;
  return code;
}

// Values held in xmm6, xmm7 and xmm15 (callee-saved) across the call; -1
// if any of them changed.
[[gnu::noinline]] double call_keeping_registers(std::uintptr_t target, double kept) {
  register double k6 asm("xmm6") = kept;
  register double k7 asm("xmm7") = kept * 2;
  register double k15 asm("xmm15") = kept * 3;
  asm volatile("" : "+x"(k6), "+x"(k7), "+x"(k15));
  const double result = reinterpret_cast<mixed_function>(target)(1.0, 2.0, 3, 4, 5.0, 6);
  asm volatile("" : "+x"(k6), "+x"(k7), "+x"(k15));
  return k6 == kept && k7 == kept * 2 && k15 == kept * 3 ? result : -1.0;
}

}  // namespace

TEST_CASE("a lazy slot hands a Windows x64 call on intact", "[jump_table][execution][lazy][windows]") {
  REQUIRE(jt::has_lazy_trampoline);
  auto created = table_space<jitcm::protection::mprotect_toggle>::create(4);
  REQUIRE(created);
  auto& table = *created;
  lazy = {&table, {}};
  auto entry = jt::lazy_trampoline(&compile_lazily);
  REQUIRE(entry);
  REQUIRE(table.initialize(*entry));

  const double expected = 1.0 + 20.0 + 300.0 + 4000.0 + 50000.0 + 600000.0;
  CHECK(call_keeping_registers(table.call_target(2), 0.125) == expected);  // through the handler
  CHECK(call_keeping_registers(table.call_target(2), 0.25) == expected);   // straight to the code
  CHECK(call_keeping_registers(table.call_target(3), 0.5) == expected);
  CHECK(lazy.compiled == std::vector<std::uint32_t>{2, 3});
}
