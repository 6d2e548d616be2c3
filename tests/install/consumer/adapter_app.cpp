// A program outside the jitcm tree that publishes asmjit code through the
// installed asmjit adapter (CMake target jitcm::asmjit) and runs it.
#include <cstdio>

#include <asmjit/x86.h>

#include <jitcm/adapters/asmjit.hpp>
#include <jitcm/jitcm.hpp>

int main() {
  jitcm::code_manager manager;
  auto module = manager.new_module(
      {.functions = 1, .lazy = {+[](void*, std::uint32_t) noexcept -> std::uintptr_t { return 0; }, nullptr}});
  if (!module) return 1;
  asmjit::CodeHolder code;
  code.init(asmjit::Environment::host());
  asmjit::x86::Assembler a(&code);
  a.mov(asmjit::x86::eax, 42);
  a.ret();
  auto published = jitcm::adapters::publish(**module, code, {.index = 0, .tier = jitcm::tiering::two_tier::baseline});
  if (!published) return 1;
  const int answer = reinterpret_cast<int (*)()>(*(*module)->call_target(0))();
  std::printf("jitcm adapter consumer: %d\n", answer);
  return answer == 42 ? 0 : 1;
}
