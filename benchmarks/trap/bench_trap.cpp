// What a guard-region bounds check costs against an inline one, all in JIT
// code reading a 32-bit element `memory[index]`:
// - unchecked/in_bounds: the load alone (what guard regions buy on every
//   access that stays in bounds);
// - inline_check/in_bounds: compare with the limit, branch, load (the peer:
//   an engine without a trap handler pays this on every access);
// - inline_check/out_of_bounds: the branch taken to the error path;
// - trapped/out_of_bounds: the load faults on a guard page; the kernel
//   delivers SIGSEGV, jitcm's handler finds the code, checks the protected
//   instruction, resumes at the landing pad, which returns the error value.
// One iteration is one call from C++.
#include <benchmark/benchmark.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <utility>

#include <jitcm/jitcm.hpp>
#include <jitcm/trap_handler.hpp>

namespace {

using manager_type = jitcm::code_manager;
using element_function = std::int64_t (*)(const std::uint32_t* memory, std::uint64_t index, std::uint64_t limit);

constexpr std::int64_t out_of_bounds = -1;

struct machine_code {
  std::array<std::byte, 32> bytes{};
  std::size_t size = 0;
  std::uint32_t load_offset = 0;

  void put(std::initializer_list<std::uint8_t> raw) {
    for (std::uint8_t b : raw) bytes[size++] = std::byte{b};
  }
  void put32(std::uint32_t word) {
    std::memcpy(bytes.data() + size, &word, 4);
    size += 4;
  }
  void mark_load() { load_offset = static_cast<std::uint32_t>(size); }
};

/// `return index < limit ? memory[index] : -1;` with `checked`, else
/// `return memory[index];`; zero-extended 32-bit loads.
machine_code element_load(bool checked) {
  machine_code code;
#if defined(JITCM_ARCH_X64)
  if constexpr (jitcm::jump_table::x64_landing_pads) code.put32(0xFA1E0FF3);  // endbr64
  if (checked) code.put({0x48, 0x39, 0xD6, 0x73, 0x04});                      // cmp %rdx, %rsi; jae error
  code.mark_load();
  code.put({0x8B, 0x04, 0xB7, 0xC3});  // mov (%rdi,%rsi,4), %eax; ret
#elif defined(JITCM_ARCH_ARM64)
  if constexpr (jitcm::jump_table::arm64_landing_pads) code.put32(0xD503245F);  // bti c
  if (checked) {
    code.put32(0xEB02003F);  // cmp x1, x2
    code.put32(0x54000062);  // b.hs error
  }
  code.mark_load();
  code.put32(0xB8617800);  // ldr w0, [x0, x1, lsl #2]
  code.put32(0xD65F03C0);  // ret
#elif defined(JITCM_ARCH_RISCV64)
  if (checked) code.put32(0x00C5FA63);  // bgeu a1, a2, error
  code.put32(0x00259593);               // slli a1, a1, 2
  code.put32(0x00B50533);               // add a0, a0, a1
  code.mark_load();
  code.put32(0x00056503);  // lwu a0, 0(a0)
  code.put32(0x00008067);  // ret
#endif
  return code;
}

/// `return -1;`: the error path of the checked load and the landing pad.
void put_return_error(machine_code& code) {
#if defined(JITCM_ARCH_X64)
  code.put({0x48, 0xC7, 0xC0, 0xFF, 0xFF, 0xFF, 0xFF, 0xC3});  // mov $-1, %rax; ret
#elif defined(JITCM_ARCH_ARM64)
  code.put32(0x92800000);  // movn x0, #0
  code.put32(0xD65F03C0);  // ret
#elif defined(JITCM_ARCH_RISCV64)
  code.put32(0xFFF00513);  // li a0, -1
  code.put32(0x00008067);  // ret
#endif
}

/// The JIT side: the three functions, a landing pad, a manager attached to
/// the trap handler, and a memory of one page followed by a guard page.
class fixture {
 public:
  fixture() {
    auto module = manager_.new_module({});
    if (!module) return;
    module_ = std::move(*module);
    machine_code checked = element_load(true);
    put_return_error(checked);
    machine_code pad;
    put_return_error(pad);
    const machine_code unchecked = element_load(false);
    const std::uint32_t protected_load[] = {unchecked.load_offset};
    unchecked_ = publish(unchecked, protected_load);
    checked_ = publish(checked, {});
    const std::uintptr_t pad_address = publish(pad, {});
    auto registration = jitcm::trap::attach(manager_, pad_address);
    auto memory = jitcm::platform::reserve(2 * jitcm::platform::page_size());
    if (!registration || !memory || unchecked_ == 0 || checked_ == 0 || pad_address == 0) return;
    registration_ = std::move(*registration);
    memory_ = *memory;
    ready_ = static_cast<bool>(
        jitcm::platform::commit({memory_.begin(), jitcm::platform::page_size()}, jitcm::platform::access::read_write));
  }
  fixture(const fixture&) = delete;
  fixture& operator=(const fixture&) = delete;
  ~fixture() {
    registration_.detach();
    if (!memory_.empty()) (void)jitcm::platform::unmap(memory_);
  }

  [[nodiscard]] bool ready() const { return ready_; }
  [[nodiscard]] element_function unchecked() const { return reinterpret_cast<element_function>(unchecked_); }
  [[nodiscard]] element_function checked() const { return reinterpret_cast<element_function>(checked_); }
  [[nodiscard]] const std::uint32_t* memory() const { return memory_.pointer<const std::uint32_t>(); }
  [[nodiscard]] std::uint64_t elements() const { return jitcm::platform::page_size() / sizeof(std::uint32_t); }

 private:
  std::uintptr_t publish(const machine_code& code, std::span<const std::uint32_t> protected_offsets) {
    auto room = module_->allocate(code.size);
    if (!room) return 0;
    std::memcpy(room->writable(), code.bytes.data(), code.size);
    jitcm::code_desc desc;
    desc.kind = jitcm::code_kind::wrapper;
    desc.protected_instructions = protected_offsets;
    manager_type::code_ref_scope scope;  // a wrapper lives until removed; the scope only lends the pointer
    auto published = module_->publish(*room, desc);
    return published && published->code != nullptr ? published->code->instruction_start() : 0;
  }

  manager_type manager_;
  manager_type::module_ptr module_;
  jitcm::trap::registration registration_;
  jitcm::address_region memory_;
  std::uintptr_t unchecked_ = 0;
  std::uintptr_t checked_ = 0;
  bool ready_ = false;
};

fixture& the_fixture() {
  static fixture f;
  return f;
}

/// Calls `function` with `index` every iteration; reports an error if the
/// result is not `expected_error` when that is set, or is an error otherwise.
void run(benchmark::State& state, element_function function, std::uint64_t index, bool expect_error) {
  fixture& f = the_fixture();
  if (!f.ready() || !jitcm::trap::install()) {
    state.SkipWithError("could not set up JIT code and the trap handler");
    return;
  }
  std::int64_t last = 0;
  for (auto _ : state) {
    last = function(f.memory(), index, f.elements());
    benchmark::DoNotOptimize(last);
  }
  if ((last == out_of_bounds) != expect_error) state.SkipWithError("unexpected result");
}

void unchecked_in_bounds(benchmark::State& state) { run(state, the_fixture().unchecked(), 7, false); }
void inline_check_in_bounds(benchmark::State& state) { run(state, the_fixture().checked(), 7, false); }
void inline_check_out_of_bounds(benchmark::State& state) {
  run(state, the_fixture().checked(), the_fixture().elements() + 7, true);
}
void trapped_out_of_bounds(benchmark::State& state) {
  run(state, the_fixture().unchecked(), the_fixture().elements() + 7, true);
}

BENCHMARK(unchecked_in_bounds)->Name("unchecked/in_bounds");
BENCHMARK(inline_check_in_bounds)->Name("inline_check/in_bounds");
BENCHMARK(inline_check_out_of_bounds)->Name("inline_check/out_of_bounds");
BENCHMARK(trapped_out_of_bounds)->Name("trapped/out_of_bounds");

}  // namespace

BENCHMARK_MAIN();
