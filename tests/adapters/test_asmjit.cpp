// The asmjit adapter: code assembled by asmjit runs from a module after one
// call, calls other functions of the module through their slots, and every
// misuse comes back as an error with nothing published.
#include <cstdint>
#include <cstring>

#include <asmjit/arm.h>
#include <asmjit/arm/a64assembler.h>  // Debian's snapshot has no <asmjit/a64.h>
#include <asmjit/x86.h>

#include <jitcm/adapters/asmjit.hpp>
#include <jitcm/jitcm.hpp>

#include "catch.hpp"

namespace {

using manager_type = jitcm::code_manager;
using module_type = manager_type::module;
using tiers = jitcm::tiering::two_tier;
using int_function = int (*)();

struct lazy_state {
  module_type* module = nullptr;
  int entered = 0;
  std::uintptr_t (*compile)(lazy_state&, std::uint32_t) = nullptr;
};

std::uintptr_t enter_lazily(void* context, std::uint32_t index) noexcept {
  auto& state = *static_cast<lazy_state*>(context);
  ++state.entered;
  return state.compile(state, index);
}

struct fixture {
  manager_type manager;
  lazy_state lazy;
  module_type* module = nullptr;
  std::unique_ptr<module_type> owned;

  explicit fixture(std::uint32_t functions = 4) {
    auto created = manager.new_module({.functions = functions, .lazy = {&enter_lazily, &lazy}});
    REQUIRE(created);
    owned = std::move(*created);
    module = owned.get();
    lazy.module = module;
  }
  [[nodiscard]] int call(std::uint32_t index) const {
    return reinterpret_cast<int_function>(*module->call_target(index))();
  }
  [[nodiscard]] std::size_t published() const { return module->stats().published; }
};

asmjit::Environment x64_environment() { return asmjit::Environment{asmjit::Arch::kX64}; }

asmjit::Environment arm64_environment() { return asmjit::Environment{asmjit::Arch::kAArch64}; }

#if defined(JITCM_ARCH_X64)

/// `mov eax, value; ret` published as function `index`.
jitcm::result<jitcm::published_code> publish_constant(module_type& module, std::uint32_t index, int value,
                                                      jitcm::tier tier = tiers::baseline) {
  asmjit::CodeHolder code;
  code.init(x64_environment());
  asmjit::x86::Assembler a(&code);
  a.mov(asmjit::x86::eax, value);
  a.ret();
  return jitcm::adapters::publish(module, code, {.index = index, .tier = tier, .name = "constant"});
}

/// `call function(callee); add eax, addend; ret` (stack kept 16-byte aligned).
jitcm::result<jitcm::published_code> publish_caller(module_type& module, std::uint32_t index, std::uint32_t callee,
                                                    int addend, jitcm::tier tier = tiers::baseline) {
  asmjit::CodeHolder code;
  code.init(x64_environment());
  asmjit::x86::Assembler a(&code);
  a.sub(asmjit::x86::rsp, 8);
  a.call(jitcm::adapters::function_label(a, callee));
  a.add(asmjit::x86::eax, addend);
  a.add(asmjit::x86::rsp, 8);
  a.ret();
  return jitcm::adapters::publish(module, code, {.index = index, .tier = tier, .name = "caller"});
}

std::uintptr_t compile_constant_7(lazy_state& state, std::uint32_t index) {
  if (!publish_constant(*state.module, index, 7)) return 0;
  return *state.module->call_target(index);
}

TEST_CASE("asmjit code published in one call runs from its slot, trimmed to its size", "[adapters][asmjit]") {
  fixture f;
  auto published = publish_constant(*f.module, 1, 42);
  REQUIRE(published);
  REQUIRE(published->installed);
  manager_type::code_ref_scope scope;
  const jitcm::code* code = *f.module->installed(1);
  REQUIRE(code != nullptr);
  CHECK(code->instructions_size() == 6);  // mov eax, imm32 (5) + ret (1)
  CHECK(code->name() == "constant");
  CHECK(code->tier() == tiers::baseline);
  CHECK(f.call(1) == 42);
  CHECK(f.lazy.entered == 0);
}

TEST_CASE("asmjit calls through a function label reach the callee's slot, lazily compiled and then retargeted",
          "[adapters][asmjit]") {
  fixture f;
  f.lazy.compile = &compile_constant_7;
  REQUIRE(publish_caller(*f.module, 2, 0, 100));
  CHECK(f.call(2) == 107);  // function 0 compiled by the lazy entry on this call
  CHECK(f.lazy.entered == 1);
  CHECK(f.call(2) == 107);
  CHECK(f.lazy.entered == 1);

  // New code for the callee: the caller's call lands on the slot, so it sees it unpatched.
  auto optimized = publish_constant(*f.module, 0, 20, tiers::optimized);
  REQUIRE(optimized);
  CHECK(optimized->installed);
  CHECK(f.call(2) == 120);

  // Two calls to the same function share a label.
  asmjit::CodeHolder code;
  code.init(x64_environment());
  asmjit::x86::Assembler a(&code);
  CHECK(jitcm::adapters::function_label(a, 3) == jitcm::adapters::function_label(a, 3));
  CHECK(jitcm::adapters::function_label(a, 3) != jitcm::adapters::function_label(a, 2));
}

TEST_CASE("asmjit: a short jump to a function's slot out of its reach goes through a veneer", "[adapters][asmjit]") {
  fixture f{64};  // a jump table larger than rel8 reaches
  REQUIRE(publish_constant(*f.module, 0, 11));
  asmjit::CodeHolder code;
  code.init(x64_environment());
  asmjit::x86::Assembler a(&code);
  a.short_().jmp(jitcm::adapters::function_label(a, 0));  // a tail call with a rel8 field
  auto published = jitcm::adapters::publish(*f.module, code, {.index = 1, .tier = tiers::baseline});
  REQUIRE(published);
  manager_type::code_ref_scope scope;
  const jitcm::code* c = *f.module->installed(1);
  const auto* bytes = reinterpret_cast<const std::uint8_t*>(c->instruction_start());
  REQUIRE(bytes[0] == 0xEB);
  CHECK(bytes[1] == 6);  // to the veneer at offset 8, after the code padded to 8
  CHECK(bytes[8] == 0xE9);
  CHECK(f.call(1) == 11);
}

TEST_CASE("asmjit absolute calls to a function address go through asmjit's own relocation", "[adapters][asmjit]") {
  fixture f;
  REQUIRE(publish_constant(*f.module, 0, 5));
  asmjit::CodeHolder code;
  code.init(x64_environment());
  asmjit::x86::Assembler a(&code);
  auto target = jitcm::adapters::function_address(*f.module, 0);
  REQUIRE(target);
  a.sub(asmjit::x86::rsp, 8);
  a.call(asmjit::imm(*target));
  a.add(asmjit::x86::eax, 1);
  a.add(asmjit::x86::rsp, 8);
  a.ret();
  REQUIRE(jitcm::adapters::publish(*f.module, code, {.index = 1, .tier = tiers::baseline}));
  CHECK(f.call(1) == 6);
  CHECK_FALSE(jitcm::adapters::function_address(*f.module, 99));
}

TEST_CASE("asmjit code goes into a room the caller allocated; too small a room is an error", "[adapters][asmjit]") {
  fixture f;
  asmjit::CodeHolder code;
  code.init(x64_environment());
  asmjit::x86::Assembler a(&code);
  a.mov(asmjit::x86::eax, 9);
  for (int i = 0; i < 200; ++i) a.nop();
  a.ret();

  {
    // Dropped before the next room opens: a thread's write scopes on one
    // code space nest, and its pages run only once the outermost ends.
    auto small = f.module->allocate(16);
    REQUIRE(small);
    REQUIRE(small->size() < 206);
    auto refused = jitcm::adapters::publish(*f.module, *small, code, {.index = 1, .tier = tiers::baseline});
    REQUIRE_FALSE(refused);
    CHECK(refused.error() == jitcm::errc::limit_exceeded);
    CHECK_FALSE(small->published());
  }

  auto room = f.module->allocate(256);
  REQUIRE(room);
  REQUIRE(jitcm::adapters::publish(*f.module, *room, code, {.index = 1, .tier = tiers::baseline}));
  CHECK(room->published());
  CHECK(f.call(1) == 9);
}

/// A CodeHolder for x86-64 with an assembler attached.
struct x64_code {
  asmjit::CodeHolder holder;
  asmjit::x86::Assembler a;
  explicit x64_code(std::uint64_t base = asmjit::Globals::kNoBaseAddress) {
    holder.init(x64_environment(), base);
    holder.attach(&a);
  }
};

void check_refused(fixture& f, asmjit::CodeHolder& code, jitcm::errc expected, std::uint32_t index = 1) {
  auto published = jitcm::adapters::publish(*f.module, code, {.index = index, .tier = tiers::baseline});
  REQUIRE_FALSE(published);
  CHECK(published.error() == expected);
}

TEST_CASE("asmjit misuse is an error and publishes nothing", "[adapters][asmjit]") {
  fixture f;
  const std::size_t before = f.published();

  SECTION("a label used and never bound") {
    x64_code code;
    code.a.jmp(code.a.newLabel());
    check_refused(f, code.holder, jitcm::errc::invalid_argument);
  }
  SECTION("a function label that was bound") {
    x64_code code;
    code.a.bind(jitcm::adapters::function_label(code.a, 0));
    code.a.ret();
    check_refused(f, code.holder, jitcm::errc::invalid_argument);
  }
  SECTION("a call to a function the module does not declare") {
    x64_code code;
    code.a.call(jitcm::adapters::function_label(code.a, 17));
    code.a.ret();
    check_refused(f, code.holder, jitcm::errc::out_of_range);
  }
  SECTION("code assembled for a fixed base address") {
    x64_code code{0x10000};
    code.a.ret();
    check_refused(f, code.holder, jitcm::errc::invalid_argument);
  }
  SECTION("a CodeHolder that was never initialised, or targets 32-bit x86") {
    asmjit::CodeHolder empty;
    check_refused(f, empty, jitcm::errc::unsupported);
    asmjit::CodeHolder code;
    code.init(asmjit::Environment{asmjit::Arch::kX86});
    asmjit::x86::Assembler a(&code);
    a.ret();
    check_refused(f, code, jitcm::errc::unsupported);
  }
  SECTION("a bad description: the module's own error") {
    x64_code code;
    code.a.ret();
    check_refused(f, code.holder, jitcm::errc::out_of_range, 9);
  }
  CHECK(f.published() == before);
  CHECK(f.module->stats().code_objects == 0);
}

#endif  // JITCM_ARCH_X64

// AArch64 code is assembled and published on any host (asmjit cross-
// assembles) and checked by decoding it; it runs only on AArch64.
std::uint32_t word_at(std::uintptr_t address) {
  std::uint32_t word = 0;
  std::memcpy(&word, reinterpret_cast<const void*>(address), 4);
  return word;
}

std::int64_t sign_extend(std::uint64_t value, unsigned bits) {
  const std::uint64_t sign = std::uint64_t{1} << (bits - 1);
  return static_cast<std::int64_t>((value ^ sign) - sign);
}

/// Where the `b`/`bl` (imm26) or `b.cond` (imm19) at `address` branches to.
std::uintptr_t branch_target(std::uintptr_t address) {
  const std::uint32_t word = word_at(address);
  if ((word & 0x7C000000u) == 0x14000000u) return address + sign_extend(word & 0x03FFFFFFu, 26) * 4;
  if ((word & 0xFF000010u) == 0x54000000u) return address + sign_extend((word >> 5) & 0x7FFFFu, 19) * 4;
  FAIL("not a direct branch: " << std::hex << word);
  return 0;
}

TEST_CASE("asmjit AArch64 calls reach the callee's slot, through a veneer where the field may fall short",
          "[adapters][asmjit][arm64]") {
  fixture f;
  asmjit::CodeHolder code;
  code.init(arm64_environment());
  asmjit::a64::Assembler a(&code);
  a.bl(jitcm::adapters::function_label(a, 0));    // imm26: ±128 MiB
  a.b_eq(jitcm::adapters::function_label(a, 3));  // imm19: ±1 MiB, less than a code space spans
  a.ret(asmjit::a64::x30);
  auto published = jitcm::adapters::publish(*f.module, code, {.index = 1, .tier = tiers::baseline});
  REQUIRE(published);
  manager_type::code_ref_scope scope;
  const jitcm::code* c = *f.module->installed(1);
  REQUIRE(c != nullptr);
  const std::uintptr_t start = c->instruction_start();
  CHECK(word_at(start + 8) == 0xD65F03C0u);  // ret

  const std::uintptr_t slot3 = *f.module->call_target_near(3, start);
  const std::uintptr_t slot0 = *f.module->call_target_near(0, start);
  // Both fields reach less than a code space of this module spans (x86-64
  // modules: 2 GiB), so each function has a veneer after the code; a site
  // goes straight to the slot when it reaches, through the veneer otherwise.
  CHECK(c->instructions_size() == 12 + 4 + 2 * 16);  // 3 instructions, padding to 8, two veneers
  for (const auto& [site, slot] : {std::pair{start, slot0}, std::pair{start + 4, slot3}}) {
    const std::uintptr_t first = branch_target(site);
    CHECK((first == slot || branch_target(first) == slot));
  }
  CHECK((word_at(start) & 0xFC000000u) == 0x94000000u);      // still a bl
  CHECK((word_at(start + 4) & 0xFF00001Fu) == 0x54000000u);  // still a b.eq
}

TEST_CASE("asmjit AArch64 absolute branch out of reach is target_out_of_range", "[adapters][asmjit][arm64]") {
  fixture f;
  const std::size_t before = f.published();
  asmjit::CodeHolder code;
  code.init(arm64_environment());
  asmjit::a64::Assembler a(&code);
  a.bl(asmjit::imm(std::uint64_t{0x1000}));  // far below any code space
  a.ret(asmjit::a64::x30);
  auto published = jitcm::adapters::publish(*f.module, code, {.index = 1, .tier = tiers::baseline});
  REQUIRE_FALSE(published);
  CHECK(published.error() == jitcm::errc::target_out_of_range);
  CHECK(f.published() == before);
}

TEST_CASE("veneers: near when the slot is in reach, far through an address otherwise", "[adapters][asmjit]") {
  using jitcm::adapters::detail::isa;
  using jitcm::adapters::detail::write_veneer;
  alignas(8) std::byte bytes[16];
  const std::uintptr_t here = 0x10000000;
  write_veneer(isa::arm64, bytes, here, here + 0x1000);
  CHECK(word_at(reinterpret_cast<std::uintptr_t>(bytes)) == (0x14000000u | (0x1000u >> 2)));
  write_veneer(isa::arm64, bytes, here, here + (std::uintptr_t{1} << 40));
  CHECK(word_at(reinterpret_cast<std::uintptr_t>(bytes)) == 0x58000050u);
  CHECK(word_at(reinterpret_cast<std::uintptr_t>(bytes) + 4) == 0xD61F0200u);
  std::uint64_t literal = 0;
  std::memcpy(&literal, bytes + 8, 8);
  CHECK(literal == here + (std::uint64_t{1} << 40));

  write_veneer(isa::x64, bytes, here, here + 0x1005);
  CHECK(bytes[0] == std::byte{0xE9});
  CHECK(word_at(reinterpret_cast<std::uintptr_t>(bytes) + 1) == 0x1000u);
  write_veneer(isa::x64, bytes, here, here + (std::uintptr_t{1} << 40));
  CHECK(bytes[0] == std::byte{0xFF});
  CHECK(bytes[1] == std::byte{0x25});
  std::memcpy(&literal, bytes + 6, 8);
  CHECK(literal == here + (std::uint64_t{1} << 40));
}

}  // namespace

#if defined(JITCM_ARCH_X64)
namespace {

// What a JIT writes without the adapter for publish_caller above (the same
// emitted instructions): room first, so that the base address is known;
// then flatten, resolve, relocate, check the size, copy, publish trimmed.
// The lines marked `//+` are what the adapter saves.
jitcm::result<jitcm::published_code> publish_caller_by_hand(module_type& module, std::uint32_t index,
                                                            std::uint32_t callee, int addend) {
  auto room = module.allocate(256);              //+ a guess: the size is known only after emitting
  if (!room) return jitcm::forward_error(room);  //+
  auto slot = module.call_target(callee);        //+ (near enough here: one code space)
  if (!slot) return jitcm::forward_error(slot);  //+
  asmjit::CodeHolder code;
  code.init(x64_environment(), room->executable());  //+ (the base address)
  asmjit::x86::Assembler a(&code);
  a.sub(asmjit::x86::rsp, 8);
  a.call(asmjit::imm(*slot));
  a.add(asmjit::x86::eax, addend);
  a.add(asmjit::x86::rsp, 8);
  a.ret();
  if (code.flatten() != asmjit::kErrorOk || code.resolveUnresolvedLinks() != asmjit::kErrorOk) {  //+
    return jitcm::failure{jitcm::errc::invalid_argument};                                         //+
  }                                                                                               //+
  if (code.relocateToBase(room->executable()) != asmjit::kErrorOk)
    return jitcm::failure{jitcm::errc::invalid_argument};                       //+
  const std::size_t size = code.codeSize();                                     //+
  if (size > room->size()) return jitcm::failure{jitcm::errc::limit_exceeded};  //+
  if (code.copyFlattenedData(room->writable(), size, asmjit::CopySectionFlags::kPadSectionBuffer) !=
      asmjit::kErrorOk) {                                  //+
    return jitcm::failure{jitcm::errc::invalid_argument};  //+
  }                                                        //+
  return module.publish(
      *room, {.instructions = {room->executable(), size}, .index = index, .tier = tiers::baseline, .name = "caller"});
}

TEST_CASE("asmjit: the adapter and the same steps by hand give the same code", "[adapters][asmjit]") {
  fixture f;
  REQUIRE(publish_constant(*f.module, 0, 1));
  REQUIRE(publish_caller(*f.module, 1, 0, 10));
  REQUIRE(publish_caller_by_hand(*f.module, 2, 0, 10));
  CHECK(f.call(1) == 11);
  CHECK(f.call(2) == 11);
  manager_type::code_ref_scope scope;
  const jitcm::code* adapted = *f.module->installed(1);
  const jitcm::code* by_hand = *f.module->installed(2);
  REQUIRE(adapted->instructions_size() == by_hand->instructions_size());
  // Equal but for the call's displacement: each code is at its own address.
  const auto* x = reinterpret_cast<const std::uint8_t*>(adapted->instruction_start());
  const auto* y = reinterpret_cast<const std::uint8_t*>(by_hand->instruction_start());
  CHECK(std::memcmp(x, y, 5) == 0);  // sub rsp, 8; call opcode
  CHECK(std::memcmp(x + 9, y + 9, adapted->instructions_size() - 9) == 0);
}

}  // namespace
#endif

namespace {

/// A module whose stable call targets lie far away, with a near slot close by.
struct far_module {
  std::uintptr_t far = 0, near = 0;
  bool has_near = true;
  [[nodiscard]] jitcm::result<std::uintptr_t> call_target(std::uint32_t) const { return far; }
  [[nodiscard]] jitcm::result<std::uintptr_t> call_target_near(std::uint32_t, std::uintptr_t) const {
    if (!has_near) return jitcm::failure{jitcm::errc::out_of_range};
    return near;
  }
};

TEST_CASE("call fixups: the stable target when in reach, else the near slot, else an error", "[adapters]") {
  using jitcm::adapters::detail::call_fixups;
  alignas(8) std::byte code[16] = {std::byte{0xE8}};  // call rel32
  const std::uintptr_t here = 0x7f0000000000;
  far_module module{.far = here + (std::uintptr_t{1} << 40), .near = here + 0x1000};
  call_fixups calls;
  calls.add({.offset = 1, .bias = -4, .field = {}, .index = 0});
  calls.plan_veneers(std::uint64_t{1} << 31);  // rel32 reaches a whole code space: no veneer
  REQUIRE(calls.size_with_veneers(5) == 5);
  REQUIRE(calls.apply(jitcm::adapters::detail::isa::x64, code, here, 5, module));
  std::int32_t rel = 0;
  std::memcpy(&rel, code + 1, 4);
  CHECK(here + 5 + rel == module.near);

  module.far = here + 0x2000;  // in reach: no need for the near slot
  module.has_near = false;
  REQUIRE(calls.apply(jitcm::adapters::detail::isa::x64, code, here, 5, module));
  std::memcpy(&rel, code + 1, 4);
  CHECK(here + 5 + rel == module.far);

  module.far = here + (std::uintptr_t{1} << 40);
  module.has_near = true;
  module.near = here - (std::uintptr_t{1} << 33);  // no slot in reach, no veneer
  auto refused = calls.apply(jitcm::adapters::detail::isa::x64, code, here, 5, module);
  REQUIRE_FALSE(refused);
  CHECK(refused.error() == jitcm::errc::target_out_of_range);
}

}  // namespace
