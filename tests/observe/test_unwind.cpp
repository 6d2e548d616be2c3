// Unwind info: eh_frame::build's CIE/FDE, code objects carrying it, and
// observe::unwind_registry making C++ exceptions and _Unwind_Backtrace pass
// through JIT frames (natively and, in cross builds, under qemu).
#include <unwind.h>

#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include <jitcm/observe/unwind_registry.hpp>

#include "catch.hpp"
#include "jit_code.hpp"

namespace eh = jitcm::observe::eh_frame;
using jitcm::observe::unwind_registry;

namespace {

[[noreturn]] void throw_from_callback() { throw std::runtime_error{"thrown under JIT code"}; }

// _Unwind_Backtrace from inside the callback: the frames it visits.
std::vector<std::uintptr_t> frames_seen;
_Unwind_Reason_Code record_frame(_Unwind_Context* context, void*) {
  frames_seen.push_back(static_cast<std::uintptr_t>(_Unwind_GetIP(context)));
  return frames_seen.size() < 64 ? _URC_NO_REASON : _URC_END_OF_STACK;
}
void walk_stack() {
  frames_seen.clear();
  _Unwind_Backtrace(&record_frame, nullptr);
}
[[gnu::noinline]] void marker_caller(void (*f)()) {
  f();
  __asm__ volatile("" ::: "memory");  // keeps the call from becoming a tail call
}

template <class Manager>
struct unwinding_fixture {
  Manager manager;
  unwind_registry registry;
  typename Manager::module_ptr module;

  unwinding_fixture() {
    manager.add_observer(registry);
    auto created = manager.new_module({.functions = 1, .lazy_entry = jitcm::testing::lazy_entry()});
    REQUIRE(created);
    module = std::move(*created);
  }
  ~unwinding_fixture() {
    module.reset();
    manager.remove_observer(registry);
  }

  /// Publishes a function calling `callee`, with unwind info; returns its entry.
  void (*publish_caller(void (*callee)(), bool with_unwind_info = true))() {
    const jitcm::testing::calling_function function{callee};
    const std::vector<std::byte> unwind = function.unwind_info();
    REQUIRE(!unwind.empty());
    const jitcm::code* c = jitcm::testing::publish_bytes(
        *module, function.bytes,
        {.index = 0,
         .name = "jit_caller",
         .unwind_info = with_unwind_info ? std::span{unwind} : std::span<const std::byte>{}});
    REQUIRE(c != nullptr);
    return reinterpret_cast<void (*)()>(c->instruction_start());
  }
};

using dual_mapped_manager =
    jitcm::with_allocator<jitcm::code_manager, jitcm::allocator::default_allocator<jitcm::protection::dual_mapping>>;

}  // namespace

TEST_CASE("eh_frame::build describes one FDE over the whole function", "[unwind]") {
  for (const auto arch : {eh::architecture::x64, eh::architecture::arm64, eh::architecture::riscv64}) {
    auto built = eh::build(arch, eh::standard_frame(arch, 64, 56));
    REQUIRE(built);
    CHECK(built->size() % 8 == 0);
    auto fdes = eh::parse(*built);
    REQUIRE(fdes);
    REQUIRE(fdes->size() == 1);
    CHECK((*fdes)[0].location == 0);
    CHECK((*fdes)[0].range == 64);

    auto rebased = eh::rebase(*built, 0x10000);
    REQUIRE(rebased);
    CHECK(rebased->size() == built->size() + 4);
    std::uint64_t location = 0;
    std::memcpy(&location, rebased->data() + (*fdes)[0].location_offset, sizeof location);
    CHECK(location == 0x10000);
  }
  auto leaf = eh::build(eh::host, eh::leaf(16));
  REQUIRE(leaf);
  CHECK(eh::parse(*leaf)->front().range == 16);
}

TEST_CASE("eh_frame::build refuses frames it cannot describe", "[unwind]") {
  CHECK(eh::build(eh::host, eh::leaf(0)).error() == jitcm::errc::invalid_argument);
  // Frame set up before it is saved; offsets beyond the code.
  CHECK(eh::build(eh::architecture::x64, {eh::frame_shape::frame_pointer, 16, 4, 1}).error() ==
        jitcm::errc::invalid_argument);
  CHECK(eh::build(eh::architecture::x64, eh::standard_frame(eh::architecture::x64, 8, 12)).error() ==
        jitcm::errc::invalid_argument);
  // AArch64 instructions are 4 bytes: offset 6 is inside one.
  CHECK(eh::build(eh::architecture::arm64, {eh::frame_shape::frame_pointer, 16, 4, 6}).error() ==
        jitcm::errc::invalid_argument);
}

TEST_CASE("eh_frame::parse rejects malformed and unsupported entries", "[unwind]") {
  auto built = eh::build(eh::host, eh::leaf(32));
  REQUIRE(built);
  std::vector<std::byte> bytes = *built;
  CHECK(eh::parse(std::span{bytes}.first(bytes.size() - 4)).error() == jitcm::errc::invalid_argument);
  // The CIE's pointer encoding is the byte before its initial instructions;
  // switching it to pc-relative sdata4 is not something jitcm can rebase.
  const std::size_t encoding_at = 4 + 4 + 1 + 3 + 1 + 1 + 1 + 1;
  REQUIRE(std::to_integer<int>(bytes[encoding_at]) == 0x00);
  bytes[encoding_at] = std::byte{0x1b};
  CHECK(eh::parse(bytes).error() == jitcm::errc::unsupported);
}

TEST_CASE("code keeps its unwind info and rejects entries that do not tile", "[unwind]") {
  auto built = eh::build(eh::host, eh::leaf(32));
  REQUIRE(built);
  const jitcm::code_desc desc{.instructions = {0x10000, 32}, .index = 0, .name = "f", .unwind_info = *built};
  auto c = jitcm::code::create(desc);
  REQUIRE(c);
  CHECK(std::equal((*c)->unwind_info().begin(), (*c)->unwind_info().end(), built->begin(), built->end()));
  CHECK((*c)->name() == "f");
  CHECK((*c)->metadata_bytes() == built->size() + 4 + 1);

  std::vector<std::byte> truncated(built->begin(), built->end() - 8);
  jitcm::code_desc bad = desc;
  bad.unwind_info = truncated;
  CHECK(jitcm::code::create(bad).error() == jitcm::errc::invalid_argument);
  std::vector<std::byte> odd(built->begin(), built->end());
  odd.push_back(std::byte{0});
  bad.unwind_info = odd;
  CHECK(jitcm::code::create(bad).error() == jitcm::errc::invalid_argument);
  const std::vector<std::byte> terminator(4, std::byte{0});
  bad.unwind_info = terminator;
  CHECK(jitcm::code::create(bad).error() == jitcm::errc::invalid_argument);
}

TEMPLATE_TEST_CASE("an exception thrown under JIT code reaches the C++ frame that called it", "[unwind]",
                   jitcm::code_manager, dual_mapped_manager) {
  unwinding_fixture<TestType> fixture;
  void (*jit)() = fixture.publish_caller(&throw_from_callback);
  CHECK(fixture.registry.registered() == 1);
  std::string caught;
  try {
    jit();
  } catch (const std::runtime_error& error) {
    caught = error.what();
  }
  CHECK(caught == "thrown under JIT code");
  fixture.module.reset();
  CHECK(fixture.registry.registered() == 0);
}

TEST_CASE("_Unwind_Backtrace walks through a JIT frame to its caller", "[unwind]") {
  unwinding_fixture<jitcm::code_manager> fixture;
  void (*jit)() = fixture.publish_caller(&walk_stack);
  marker_caller(jit);
  const auto jit_start = reinterpret_cast<std::uintptr_t>(jit);
  const jitcm::code* c = fixture.manager.lookup(jit_start);
  REQUIRE(c != nullptr);
  bool in_jit = false;
  bool beyond_jit = false;
  for (std::uintptr_t pc : frames_seen) {
    if (c->contains(pc - 1))
      in_jit = true;
    else if (in_jit)
      beyond_jit = true;
  }
  CHECK(in_jit);
  CHECK(beyond_jit);
}

TEST_CASE("unwind_registry skips code without unwind info and counts what it cannot parse", "[unwind]") {
  unwind_registry registry;
  auto plain = jitcm::code::create({.instructions = {0x10000, 16}, .index = 0});
  REQUIRE(plain);
  registry.on_code_added(**plain);
  CHECK(registry.registered() == 0);

  auto built = eh::build(eh::host, eh::leaf(16));
  REQUIRE(built);
  (*built)[4 + 4 + 1 + 3 + 1 + 1 + 1 + 1] = std::byte{0x1b};  // pc-relative locations: not rebasable
  auto unsupported = jitcm::code::create({.instructions = {0x20000, 16}, .index = 1, .unwind_info = *built});
  REQUIRE(unsupported);
  registry.on_code_added(**unsupported);
  CHECK(registry.registered() == 0);
  CHECK(registry.rejected() == 1);
  registry.on_code_freed(**unsupported);  // not registered: nothing to undo
}

TEST_CASE("the registration style follows the linked unwinder", "[unwind]") {
  // This build links libgcc's unwinder (g++ and clang++ on Debian alike).
  CHECK(unwind_registry::detected_style() == jitcm::observe::registration_style::whole_section);
  CHECK(unwind_registry{}.style() == jitcm::observe::registration_style::whole_section);
}

namespace {
// libgcc's lookup of the FDE covering a pc (exported since GCC 3.0).
struct fde_bases {
  void* text;
  void* data;
  void* function;
};
extern "C" const void* _Unwind_Find_FDE(void* pc, fde_bases* bases);

bool unwinder_covers(std::uintptr_t pc) {
  fde_bases bases{};
  return _Unwind_Find_FDE(reinterpret_cast<void*>(pc), &bases) != nullptr;
}
}  // namespace

TEST_CASE("a batch is one section; freeing one of its functions takes only that function out", "[unwind]") {
  unwinding_fixture<jitcm::code_manager> fixture;
  fixture.module.reset();
  auto created = fixture.manager.new_module({.functions = 3, .lazy_entry = jitcm::testing::lazy_entry()});
  REQUIRE(created);
  fixture.module = std::move(*created);

  const jitcm::testing::calling_function function{&throw_from_callback};
  const std::vector<std::byte> unwind = function.unwind_info();
  std::vector<jitcm::finished_code> batch;
  for (std::uint32_t i = 0; i < 3; ++i) {
    batch.push_back({function.bytes, {.index = i, .tier = jitcm::tiering::two_tier::baseline, .unwind_info = unwind}});
  }
  // Held while add_code returns them; afterwards valid while installed and,
  // once removed, until collect frees them (the default policy's rule).
  std::vector<const jitcm::code*> added;
  {
    jitcm::refcount::code_ref_scope scope;
    auto published = fixture.module->add_code(batch);
    REQUIRE(published);
    for (const jitcm::published_code& each : *published) added.push_back(each.code);
  }
  CHECK(fixture.registry.registered() == 3);
  CHECK(fixture.registry.sections() == 1);

  const auto throws_through = [](const jitcm::code* c) {
    try {
      reinterpret_cast<void (*)()>(c->instruction_start())();
    } catch (const std::runtime_error&) {
      return true;
    }
    return false;
  };
  for (const jitcm::code* c : added) CHECK(throws_through(c));

  const std::uintptr_t removed_pc = added[1]->instruction_start() + 1;
  CHECK(unwinder_covers(removed_pc));
  REQUIRE(fixture.module->remove(added[1]));
  CHECK(fixture.module->collect({}) == 1);
  CHECK(fixture.registry.registered() == 2);
  CHECK(fixture.registry.sections() == 1);
  CHECK(!unwinder_covers(removed_pc));
  CHECK(throws_through(added[0]));
  CHECK(throws_through(added[2]));

  fixture.module.reset();
  CHECK(fixture.registry.registered() == 0);
  CHECK(fixture.registry.sections() == 0);
}
