// The Xbyak adapter: Xbyak emits straight into a module's room at the final
// address (or grows out of it and is copied back at publish), its absolute
// addresses are resolved against the final address, calls to module
// functions go through their slots, and misuse is an error.
#include <cstdint>

#include <xbyak/xbyak.h>

#include <jitcm/adapters/xbyak.hpp>
#include <jitcm/jitcm.hpp>

#include "catch.hpp"

namespace {

// Xbyak resolves addresses against the buffer it writes, so it needs code
// written at its executable address: an mprotect allocator, not the default
// (dual mapping where allowed; publish reports errc::unsupported there).
using manager_type =
    jitcm::with_allocator<jitcm::code_manager, jitcm::allocator::default_allocator<jitcm::protection::mprotect_toggle>>;
using module_type = manager_type::module;
using generator = jitcm::adapters::xbyak_generator<module_type>;
using tiers = jitcm::tiering::two_tier;
using int_function = int (*)();

std::uintptr_t refuse_lazy_call(void*, std::uint32_t) noexcept { return 0; }

struct fixture {
  manager_type manager;
  std::unique_ptr<module_type> module;

  fixture() {
    auto created = manager.new_module({.functions = 4, .lazy = {&refuse_lazy_call, nullptr}});
    REQUIRE(created);
    module = std::move(*created);
  }
  [[nodiscard]] int call(std::uint32_t index) const {
    return reinterpret_cast<int_function>(*module->call_target(index))();
  }
  [[nodiscard]] const jitcm::code* installed(std::uint32_t index, manager_type::code_ref_scope&) const {
    return *module->installed(index);
  }
};

void publish_constant(module_type& module, std::uint32_t index, int value, jitcm::tier tier = tiers::baseline) {
  generator gen{module};
  gen.mov(gen.eax, value);
  gen.ret();
  REQUIRE(gen.publish({.index = index, .tier = tier, .name = "constant"}));
}

TEST_CASE("xbyak code is written in place at its final address and runs from its slot", "[adapters][xbyak]") {
  fixture f;
  generator gen{*f.module, 64};
  const std::uint8_t* start = gen.getCode();
  gen.mov(gen.eax, 42);
  gen.ret();
  auto published = gen.publish({.index = 1, .tier = tiers::baseline, .name = "answer"});
  REQUIRE(published);
  CHECK(published->installed);
  manager_type::code_ref_scope scope;
  const jitcm::code* c = f.installed(1, scope);
  CHECK(c->instruction_start() == reinterpret_cast<std::uintptr_t>(start));  // never copied
  CHECK(c->instructions_size() == 6);
  CHECK(f.call(1) == 42);
}

TEST_CASE("xbyak code that outgrows its room is moved by AutoGrow and relocated at publish", "[adapters][xbyak]") {
  fixture f;
  publish_constant(*f.module, 0, 30);
  generator gen{*f.module, 64};
  Xbyak::Label data;
  gen.sub(gen.rsp, 8);
  gen.call_function(0);    // a call recorded in the room, resolved after the move
  gen.mov(gen.rcx, data);  // an absolute address Xbyak resolves at ready()
  gen.add(gen.eax, gen.dword[gen.rcx]);
  gen.add(gen.rsp, 8);
  gen.ret();
  for (int i = 0; i < 5000; ++i) gen.nop();  // far past the room
  gen.L(data);
  gen.dd(12);
  const std::uint8_t* moved = gen.getCode();
  auto published = gen.publish({.index = 1, .tier = tiers::baseline});
  REQUIRE(published);
  manager_type::code_ref_scope scope;
  const jitcm::code* c = f.installed(1, scope);
  CHECK(c->instruction_start() != reinterpret_cast<std::uintptr_t>(moved));
  CHECK(c->instructions_size() == gen.getSize());
  CHECK(f.call(1) == 42);
  // The call lands on the slot: new code for function 0 is seen unpatched.
  publish_constant(*f.module, 0, 100, tiers::optimized);
  CHECK(f.call(1) == 112);
}

TEST_CASE("xbyak tail calls and absolute calls", "[adapters][xbyak]") {
  fixture f;
  publish_constant(*f.module, 0, 7);
  {
    generator gen{*f.module};
    gen.jump_function(0);
    REQUIRE(gen.publish({.index = 1, .tier = tiers::baseline}));
  }
  CHECK(f.call(1) == 7);
  {
    generator gen{*f.module};
    gen.sub(gen.rsp, 8);
    gen.call(reinterpret_cast<const void*>(*f.module->call_target(1)));  // Xbyak's own absolute call
    gen.add(gen.rsp, 8);
    gen.add(gen.eax, 1);
    gen.ret();
    REQUIRE(gen.publish({.index = 2, .tier = tiers::baseline}));
  }
  CHECK(f.call(2) == 8);
}

TEST_CASE("xbyak misuse is an error and publishes nothing", "[adapters][xbyak]") {
  fixture f;
  SECTION("a label used and never defined") {
    generator gen{*f.module};
    Xbyak::Label nowhere;
    gen.jmp(nowhere, Xbyak::CodeGenerator::T_NEAR);
    auto published = gen.publish({.index = 1, .tier = tiers::baseline});
    REQUIRE_FALSE(published);
    CHECK(published.error() == jitcm::errc::invalid_argument);
  }
  SECTION("a call to a function the module does not declare") {
    generator gen{*f.module};
    gen.call_function(12);
    auto published = gen.publish({.index = 1, .tier = tiers::baseline});
    REQUIRE_FALSE(published);
    CHECK(published.error() == jitcm::errc::out_of_range);
  }
  SECTION("publish twice") {
    generator gen{*f.module};
    gen.ret();
    auto bad = gen.publish({.index = 9, .tier = tiers::baseline});  // the module refuses the index
    REQUIRE_FALSE(bad);
    CHECK(bad.error() == jitcm::errc::out_of_range);
    auto again = gen.publish({.index = 1, .tier = tiers::baseline});
    REQUIRE_FALSE(again);
    CHECK(again.error() == jitcm::errc::invalid_argument);
  }
  SECTION("room the module refuses") {
    manager_type small{{.max_committed = 64 * 1024}};
    auto module = small.new_module({.functions = 1, .lazy = {&refuse_lazy_call, nullptr}});
    REQUIRE(module);
    generator gen{**module, 1 << 20};  // more than the manager allows: Xbyak emits into ordinary memory
    gen.ret();
    auto published = gen.publish({.index = 0, .tier = tiers::baseline});
    REQUIRE_FALSE(published);
    CHECK(published.error() == jitcm::errc::limit_exceeded);
  }
  CHECK(f.module->stats().published == 0);
}

#if defined(JITCM_HAS_DUAL_MAPPING)
TEST_CASE("xbyak: an allocator writing through a second mapping is unsupported", "[adapters][xbyak]") {
  jitcm::presets::concurrent_tier_up manager;
  auto module = manager.new_module({.functions = 1, .lazy = {&refuse_lazy_call, nullptr}});
  REQUIRE(module);
  jitcm::adapters::xbyak_generator<jitcm::presets::concurrent_tier_up::module> gen{**module};
  gen.ret();
  auto published = gen.publish({.index = 0, .tier = tiers::baseline});
  REQUIRE_FALSE(published);
  CHECK(published.error() == jitcm::errc::unsupported);
  CHECK((*module)->stats().published == 0);
}
#endif

}  // namespace
