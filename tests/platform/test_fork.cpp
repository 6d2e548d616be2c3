// fork(): a child process never changes the code of its parent, and a child
// that follows the rule in platform/dual_mapping.hpp runs without faulting.
#include <jitcm/jitcm.hpp>
#include <jitcm/platform/dual_mapping.hpp>

#include <cstring>

#include "catch.hpp"
#include "child_process.hpp"
#include "machine_code.hpp"  // examples/: one encoder for examples and tests

using namespace jitcm;
using jitcm::testing::run_in_child;

namespace {

void write_function(std::uintptr_t write_at, std::uintptr_t run_at, int value) {
  const example::return_constant code(static_cast<std::uint32_t>(value));
  std::memcpy(reinterpret_cast<void*>(write_at), code.bytes.data(), code.size);
  platform::flush_instruction_cache(run_at, code.size);
}

/// Publishes `int f() { return value; }` as function `index` of `module`.
template <class Module>
bool publish_constant(Module& module, std::uint32_t index, int value) {
  const example::return_constant code(static_cast<std::uint32_t>(value));
  auto room = module.allocate(code.size);
  if (!room) return false;
  std::memcpy(room->writable(), code.bytes.data(), code.size);
  return static_cast<bool>(module.publish(*room, {.index = index, .tier = tiering::two_tier::optimized}));
}

template <class Module>
int call(Module& module, std::uint32_t index) {
  return example::function_at(*module.call_target(index))();
}

bool refused_as_not_owned(const result<void>& outcome) {
  return !outcome && outcome.error() == make_error_code(errc::not_owned);
}

// The child reports each broken expectation as its own exit code.
enum child_check : int {
  ok = 0,
  inherited_code_wrong = 10,
  own_code_wrong,
  commit_allowed,
  decommit_allowed,
  reserve_failed,
  publish_failed
};

}  // namespace

#if defined(JITCM_HAS_DUAL_MAPPING)
// qemu-user ignores madvise (MADV_DONTFORK included) and misses stores made
// through a second view: cross builds leave out the cases tagged [madvise].
TEST_CASE("a child's store through an inherited writable view never reaches its parent's code",
          "[platform][fork][madvise]") {
  const std::size_t page = platform::page_size();
  auto memory = platform::dual_mapped_reservation::reserve(page);
  REQUIRE(memory);
  REQUIRE(memory->commit(memory->executable()));
  const std::uintptr_t run_at = memory->executable().begin();
  const std::uintptr_t write_at = memory->writable().begin();
  write_function(write_at, run_at, 1);

  const auto outcome = run_in_child([&] {
    // The documented rule says not to; a child that does anyway faults
    // here, in itself, rather than in its parent later.
    write_function(write_at, run_at, 2);
    ::_exit(example::function_at(run_at)());
  });
  CHECK(jitcm::testing::died_of_fault(outcome));
  CHECK(example::function_at(run_at)() == 1);
}

TEST_CASE("a child that follows the rule runs inherited code and writes only its own", "[platform][fork][madvise]") {
  const std::size_t page = platform::page_size();
  auto memory = platform::dual_mapped_reservation::reserve(2 * page);
  REQUIRE(memory);
  const address_region first_page{memory->executable().begin(), page};
  REQUIRE(memory->commit(first_page));
  const std::uintptr_t run_at = first_page.begin();
  write_function(run_at + memory->write_offset(), run_at, 1);
  CHECK(memory->owned_by_this_process());

  const auto outcome = run_in_child([&] {
    if (example::function_at(run_at)() != 1) ::_exit(inherited_code_wrong);
    // Changing the inherited object would change the parent's memory.
    if (!refused_as_not_owned(memory->commit({first_page.end(), page}))) ::_exit(commit_allowed);
    if (!refused_as_not_owned(memory->decommit(first_page))) ::_exit(decommit_allowed);
    auto own = platform::dual_mapped_reservation::reserve(page);
    if (!own || !own->commit(own->executable())) ::_exit(reserve_failed);
    write_function(own->writable().begin(), own->executable().begin(), 2);
    if (example::function_at(own->executable().begin())() != 2) ::_exit(own_code_wrong);
    (void)memory->unmap();  // unmaps the child's views, nothing of the parent's
    ::_exit(ok);
  });
  CHECK(outcome.exited);
  CHECK(outcome.exit_code == ok);
  CHECK(example::function_at(run_at)() == 1);
  // The parent's object still works: its memory was not decommitted.
  REQUIRE(memory->commit({first_page.end(), page}));
  write_function(run_at + memory->write_offset(), run_at, 3);
  CHECK(example::function_at(run_at)() == 3);
}
#endif

TEST_CASE("a child that publishes code in its own manager leaves its parent's code alone", "[platform][fork]") {
  code_manager parent_manager;
  auto parent_module = parent_manager.new_module({.functions = 1, .lazy_entry = 1});
  REQUIRE(parent_module);
  auto& module = **parent_module;
  REQUIRE(publish_constant(module, 0, 1));
  REQUIRE(call(module, 0) == 1);

  const auto outcome = run_in_child([&] {
    if (call(module, 0) != 1) ::_exit(inherited_code_wrong);
    code_manager child_manager;
    auto child_module = child_manager.new_module({.functions = 1, .lazy_entry = 1});
    if (!child_module || !publish_constant(**child_module, 0, 2)) ::_exit(publish_failed);
    if (call(**child_module, 0) != 2) ::_exit(own_code_wrong);
    if (call(module, 0) != 1) ::_exit(inherited_code_wrong);
    ::_exit(ok);
  });
  CHECK(outcome.exited);
  CHECK(outcome.exit_code == ok);
  CHECK(call(module, 0) == 1);
  REQUIRE(publish_constant(module, 0, 3));
  CHECK(call(module, 0) == 3);
}
