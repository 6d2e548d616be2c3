// native_module: slots, lazy slots, publishing, add_code, removal, bad input.
#include <algorithm>
#include <thread>

#include "core_fixture.hpp"

using jitcm::errc;
using jitcm::tiering::two_tier;
using namespace jitcm::testing;

namespace {

using manager_type = jitcm::code_manager;
using module_type = manager_type::module;

manager_type::module_ptr make_module(manager_type& manager, std::uint32_t functions, std::uint32_t imported = 0) {
  auto module = manager.new_module({.functions = functions, .imported = imported, .lazy_entry = lazy_entry()});
  REQUIRE(module);
  return std::move(*module);
}

}  // namespace

TEST_CASE("slots of functions without code run the lazy slot with the function index", "[core]") {
  manager_type manager;
  auto module = make_module(manager, 5, 2);
  for (std::uint32_t index = 2; index < 5; ++index) {
    const auto before = lazy_calls.load();
    CHECK(call(*module, index) == lazy_result);
    CHECK(lazy_calls.load() == before + 1);
    CHECK(last_lazy_index.load() == index);
  }
  CHECK(module->stats().installed == 0);
}

TEST_CASE("published code runs through its stable slot; better code replaces it there", "[core]") {
  manager_type manager;
  auto module = make_module(manager, 3);
  jitcm::refcount::code_ref_scope scope;  // holds the code pointers the module returns
  const std::uintptr_t slot = *module->call_target(1);

  const jitcm::code* baseline = publish_constant(*module, 1, 10, two_tier::baseline);
  CHECK(call(*module, 1) == 10);
  CHECK(*module->installed(1) == baseline);

  const jitcm::code* optimized = publish_constant(*module, 1, 20, two_tier::optimized);
  CHECK(call(*module, 1) == 20);
  CHECK(*module->installed(1) == optimized);
  CHECK(*module->call_target(1) == slot);  // callers never change

  // A lower tier does not replace installed optimized code (two_tier's rule).
  {
    jitcm::refcount::code_ref_scope inner;
    const jitcm::code* late_baseline = publish_constant(*module, 1, 30, two_tier::baseline);
    CHECK(late_baseline != optimized);
    CHECK(call(*module, 1) == 20);
  }
  CHECK(call(*module, 0) == lazy_result);
  const auto stats = module->stats();
  CHECK(stats.installed == 1);
  CHECK(stats.published == 3);
  CHECK(stats.retired == 2);  // the replaced baseline and the refused late baseline
}

TEST_CASE("add_code copies a batch, runs the relocation callback inside the write scope, and installs", "[core]") {
  manager_type manager;
  auto module = make_module(manager, 8);
  jitcm::refcount::code_ref_scope scope;  // holds the code pointers the module returns
  std::vector<constant_bytes> bytes;
  std::vector<jitcm::finished_code> batch;
  for (std::uint32_t i = 0; i < 8; ++i) bytes.emplace_back(100 + static_cast<int>(i));
  for (std::uint32_t i = 0; i < 8; ++i) {
    batch.push_back({bytes[i].span(), {.index = i, .tier = two_tier::baseline}});
  }
  std::vector<std::uintptr_t> relocated;
  // The relocation callback patches the immediate in place: it sees the
  // bytes at their writable address and knows the final one.
  auto code = module->add_code(
      batch, [&](const jitcm::finished_code& item, std::span<std::byte> writable, std::uintptr_t final_address) {
        CHECK(writable.size() == item.bytes.size());
        CHECK(std::equal(writable.begin(), writable.end(), item.bytes.begin()));
        relocated.push_back(final_address);
        const example::return_constant patched{200 + *item.desc.index};
        std::memcpy(writable.data(), patched.bytes.data(), patched.size);
      });
  REQUIRE(code);
  REQUIRE(code->size() == 8);
  for (std::uint32_t i = 0; i < 8; ++i) {
    CHECK((*code)[i].code->instruction_start() == relocated[i]);
    CHECK((*code)[i].code->index() == i);
    CHECK(call(*module, i) == 200 + static_cast<int>(i));
  }
}

TEST_CASE("batches are cut into consecutive chunks of bounded size", "[core]") {
  // add_code cuts at half a code space (hundreds of MiB); the rule itself is
  // checked here on small numbers.
  const std::vector<std::size_t> sizes{10, 10, 10, 25, 5, 5, 40, 1};
  const auto chunks =
      jitcm::detail::size_chunks(std::span<const std::size_t>{sizes}, 30, [](std::size_t s) { return s; });
  std::vector<std::size_t> lengths;
  std::size_t total = 0;
  for (const auto chunk : chunks) {
    lengths.push_back(chunk.size());
    std::size_t sum = 0;
    for (const std::size_t s : chunk) sum += s;
    CHECK((sum <= 30 || chunk.size() == 1));
    total += chunk.size();
  }
  CHECK(lengths == std::vector<std::size_t>{3, 2, 1, 1, 1});
  CHECK(total == sizes.size());
  CHECK(jitcm::detail::size_chunks(std::span<const std::size_t>{}, 30, [](std::size_t s) { return s; }).empty());
}

TEST_CASE("code in a second code space is reached through every space's table", "[core]") {
  manager_type manager;
  auto module = make_module(manager, 2);
  jitcm::refcount::code_ref_scope scope;  // holds the code pointers the module returns
  const std::uintptr_t main_slot = *module->call_target(1);
  // Take room until the allocator hands out room in a second code space
  // (pieces that fit RISC-V's 1 MiB spaces), then publish code there.
  std::vector<module_type::pending_code> held;
  const jitcm::code* c = nullptr;
  for (int attempt = 0; attempt < 10000 && c == nullptr; ++attempt) {
    auto room = module->allocate(std::size_t{64} << 10);
    REQUIRE(room);
    const example::return_constant bytes{77};
    std::memcpy(room->writable(), bytes.bytes.data(), bytes.size);
    REQUIRE(room->end_write());  // before asking the module anything else
    auto near = module->call_target_near(1, room->executable());
    REQUIRE(near);
    if (*near == main_slot) {
      held.push_back(std::move(*room));
      continue;
    }
    auto published = module->publish(*room, {.instructions = {0, bytes.size}, .index = 1, .tier = two_tier::baseline});
    REQUIRE(published);
    c = published->code;
  }
  REQUIRE(c != nullptr);
  CHECK(module->stats().memory.code_spaces >= 2);
  CHECK(call(*module, 1) == 77);
  // The slot near the new code is in the second space's own table.
  auto near = module->call_target_near(1, c->instruction_start());
  REQUIRE(near);
  CHECK(*near != main_slot);
  CHECK(example::function_at(*near)() == 77);
  auto near0 = module->call_target_near(0, c->instruction_start());
  REQUIRE(near0);
  CHECK(example::function_at(*near0)() == lazy_result);
  CHECK(module->call_target_near(1, 0x10).error() == make_error_code(errc::out_of_range));
}

TEST_CASE("remove_code drops what each filter names, with byte counts, and slots fall back to the lazy slot",
          "[core]") {
  struct filter_case {
    const char* name;
    two_tier::removal_filter filter;
    std::vector<std::uint32_t> removed;  // function indices
  };
  // Function 0: baseline; 1: optimized; 2: baseline debug; 3: optimized debug.
  const std::vector<filter_case> cases{
      {"all", two_tier::removal_filter::all(), {0, 1, 2, 3}},
      {"debug", two_tier::removal_filter::debug_code(), {2, 3}},
      {"non-debug", two_tier::removal_filter::non_debug_code(), {0, 1}},
      {"baseline", two_tier::removal_filter::baseline_code(), {0, 2}},
      {"optimized", two_tier::removal_filter::optimized_code(), {1, 3}},
      {"memory pressure", two_tier{}.memory_pressure_filter(), {0}},
  };
  for (const filter_case& each : cases) {
    DYNAMIC_SECTION(each.name) {
      manager_type manager;
      auto module = make_module(manager, 4);
      jitcm::refcount::code_ref_scope scope;
      std::vector<const jitcm::code*> code{
          publish_constant(*module, 0, 1, two_tier::baseline),
          publish_constant(*module, 1, 2, two_tier::optimized),
          publish_constant(*module, 2, 3, two_tier::baseline, jitcm::debug_kind::for_debugging),
          publish_constant(*module, 3, 4, two_tier::optimized, jitcm::debug_kind::for_debugging),
      };
      jitcm::removed_code expected;
      for (const std::uint32_t index : each.removed) {
        ++expected.count;
        expected.code_bytes += code[index]->instructions_size();
        expected.metadata_bytes += code[index]->metadata_bytes();
      }
      const jitcm::removed_code removed = module->remove_code(each.filter);
      CHECK(removed == expected);
      for (std::uint32_t index = 0; index < 4; ++index) {
        const bool gone = std::find(each.removed.begin(), each.removed.end(), index) != each.removed.end();
        const auto before = lazy_calls.load();
        CHECK(call(*module, index) == (gone ? lazy_result : static_cast<int>(index) + 1));
        CHECK(lazy_calls.load() == before + (gone ? 1 : 0));
        CHECK((*module->installed(index) == nullptr) == gone);
      }
      CHECK(module->stats().installed == 4 - each.removed.size());
      CHECK(module->remove_code(each.filter) == jitcm::removed_code{});  // nothing left to match
    }
  }
}

TEST_CASE("bad input is refused with a clear error and changes nothing", "[core]") {
  manager_type manager;
  auto module = make_module(manager, 3, 1);
  jitcm::refcount::code_ref_scope scope;  // holds the code pointers the module returns
  const auto stats_before = module->stats();

  SECTION("module options") {
    CHECK(manager.new_module({.functions = 1, .imported = 2, .lazy_entry = lazy_entry()}).error() ==
          make_error_code(errc::invalid_argument));
    CHECK(manager.new_module({.functions = 2}).error() == make_error_code(errc::invalid_argument));
    CHECK(manager.new_module({.functions = 2, .imported = 2}));  // imports only: no lazy entry needed
  }
  SECTION("function indices outside [imported, functions)") {
    for (const std::uint32_t index : {0u, 3u, 1000u}) {
      CHECK(module->call_target(index).error() == make_error_code(errc::out_of_range));
      CHECK(module->installed(index).error() == make_error_code(errc::out_of_range));
      auto room = module->allocate(8);
      REQUIRE(room);
      CHECK(module->publish(*room, {.index = index}).error() == make_error_code(errc::out_of_range));
      CHECK_FALSE(room->published());
      constant_bytes bytes{1};
      const jitcm::finished_code item{bytes.span(), {.index = index}};
      CHECK(module->add_code(std::span{&item, 1}).error() == make_error_code(errc::out_of_range));
    }
  }
  SECTION("publishing twice") {
    auto room = module->allocate(8);
    REQUIRE(room);
    const example::return_constant bytes{5};
    std::memcpy(room->writable(), bytes.bytes.data(), bytes.size);
    REQUIRE(module->publish(*room, {.index = 1, .tier = two_tier::baseline}));
    CHECK(module->publish(*room, {.index = 1, .tier = two_tier::baseline}).error() ==
          make_error_code(errc::already_published));
    CHECK(module->stats().published == 1);
    CHECK(call(*module, 1) == 5);
  }
  SECTION("publishing room of another module, or more than the room") {
    auto other = make_module(manager, 3, 1);
    auto room = other->allocate(8);
    REQUIRE(room);
    CHECK(module->publish(*room, {.index = 1}).error() == make_error_code(errc::not_owned));
    CHECK(other->publish(*room, {.instructions = {0, room->size() + 1}, .index = 1, .tier = two_tier::baseline})
              .error() == make_error_code(errc::out_of_range));
    CHECK(other->publish(*room, {.instructions = {room->executable() + 8, 8}, .index = 1, .tier = two_tier::baseline})
              .error() == make_error_code(errc::out_of_range));
  }
  SECTION("removing code the module does not own, or twice") {
    auto other = make_module(manager, 3, 1);
    const jitcm::code* foreign = publish_constant(*other, 1, 9, two_tier::baseline);
    CHECK(module->remove(foreign).error() == make_error_code(errc::not_owned));
    CHECK(module->remove(nullptr).error() == make_error_code(errc::not_owned));
    CHECK(call(*other, 1) == 9);

    const jitcm::code* own = publish_constant(*module, 2, 6, two_tier::baseline);
    auto removed = module->remove(own);
    REQUIRE(removed);
    CHECK(removed->count == 1);
    CHECK(removed->code_bytes == own->instructions_size());
    CHECK(module->remove(own).error() == make_error_code(errc::double_free));
    CHECK(call(*module, 2) == lazy_result);
  }
  SECTION("zero and huge allocations") {
    CHECK_FALSE(module->allocate(0));
    CHECK_FALSE(module->allocate(~std::size_t{0}));
    CHECK(module->stats().memory.live == stats_before.memory.live);
  }
  SECTION("an empty item in add_code") {
    const jitcm::finished_code item{{}, {.index = 1}};
    CHECK(module->add_code(std::span{&item, 1}).error() == make_error_code(errc::invalid_argument));
  }
  CHECK(module->stats().installed <= 1);
}

TEST_CASE("a pending_code dropped without publishing gives its memory back", "[core]") {
  manager_type manager;
  auto module = make_module(manager, 1);
  const auto live_before = module->stats().memory.live;
  {
    auto room = module->allocate(256);
    REQUIRE(room);
    REQUIRE(room->end_write());  // no other call into the module while writing
    CHECK(module->stats().memory.live > live_before);
  }
  CHECK(module->stats().memory.live == live_before);
}

TEST_CASE("a module destroyed while a scope holds its code frees the code; the scope ends harmlessly", "[core]") {
  manager_type manager;
  auto module = make_module(manager, 2);
  std::uintptr_t start = 0;
  {
    jitcm::refcount::code_ref_scope scope;
    start = publish_constant(*module, 0, 3, two_tier::baseline)->instruction_start();
  }
  {
    jitcm::refcount::code_ref_scope scope;
    const jitcm::code* held = *module->installed(0);
    REQUIRE(held != nullptr);
    CHECK(scope.size() == 1);
    module.reset();  // documented: the module's code goes with it
    CHECK(manager.lookup(start) == nullptr);
    CHECK(manager.stats().modules == 0);
  }  // ends without touching the freed code (ASan checks)
  CHECK(manager.committed() == 0);
}

#if defined(JITCM_HAS_DUAL_MAPPING)

namespace {

/// Threads call a slot while this thread publishes better code for it 49
/// times; every call must land on one of the versions, and the last one wins.
/// dual_mapping never takes execute permission away, so code may be written
/// while other threads run code of the same pages.
void check_tier_up_under_calls(jitcm::jump_table::routing routing) {
  using concurrent_manager = jitcm::presets::concurrent_tier_up;
  concurrent_manager manager;
  auto created = manager.new_module({.functions = 1, .lazy_entry = lazy_entry(), .routing = routing});
  REQUIRE(created);
  auto& module = **created;
  publish_constant(module, 0, 1, two_tier::baseline);
  std::atomic<bool> stop{false};
  std::atomic<int> bad{0};
  std::vector<std::thread> callers;
  for (int t = 0; t < 2; ++t) {
    callers.emplace_back([&] {
      while (!stop.load()) {
        const int value = call_unchecked(module, 0);
        if (value < 1 || value > 50) bad.fetch_add(1);
      }
    });
  }
  for (int version = 2; version <= 50; ++version) publish_constant(module, 0, version, two_tier::optimized);
  stop.store(true);
  for (auto& t : callers) t.join();
  CHECK(bad.load() == 0);
  CHECK(call(module, 0) == 50);
}

}  // namespace

TEST_CASE("threads call a slot while better code is installed through its far slot", "[core]") {
  check_tier_up_under_calls(jitcm::jump_table::routing::far_only);
}

// qemu-user does not see code rewritten through a second mapping (the near
// slot's branch), so cross builds leave this case out by its tag.
TEST_CASE("threads call a slot while better code is installed by rewriting its near branch", "[core][alias-rewrite]") {
  check_tier_up_under_calls(jitcm::jump_table::routing::near);
}

#endif
