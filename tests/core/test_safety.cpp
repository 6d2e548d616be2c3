// Regression tests for the ways a multi-threaded JIT could crash a thread or
// read freed code through the API: code pointers handed out unheld, lazy
// calls of several modules sharing one handler, late or wrong errors, and a
// manager destroyed before its modules.
#if !defined(_WIN32)
#include <fcntl.h>
#include <unistd.h>
#endif

#include <array>
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "child_process.hpp"
#include "core_fixture.hpp"

using jitcm::errc;
using jitcm::tiering::two_tier;
using namespace jitcm::testing;

namespace {

/// A JIT's per-module state, the context of its lazy-compile callback.
template <class Manager>
struct lazy_jit {
  typename Manager::module* module = nullptr;
  int value = 0;  // what the functions it compiles return
  std::atomic<int> compilations{0};
  std::atomic<int> publish_failures{0};

  // The idiom the module's docs give: publish, then continue through the
  // slot, never at the address of the code just published.
  static std::uintptr_t compile(void* context, std::uint32_t index) noexcept {
    auto& self = *static_cast<lazy_jit*>(context);
    self.compilations.fetch_add(1);
    const example::return_constant bytes{static_cast<std::uint32_t>(self.value)};
    auto room = self.module->allocate(bytes.size);
    if (!room) {
      self.publish_failures.fetch_add(1);
      return reinterpret_cast<std::uintptr_t>(&not_compiled);
    }
    std::memcpy(room->writable(), bytes.bytes.data(), bytes.size);
    if (!self.module->publish(*room, {.index = index, .tier = two_tier::baseline})) {
      self.publish_failures.fetch_add(1);
      return reinterpret_cast<std::uintptr_t>(&not_compiled);
    }
    return *self.module->call_target(index);
  }
};

template <class Manager>
typename Manager::module_ptr make_lazy_module(Manager& manager, lazy_jit<Manager>& jit, std::uint32_t functions) {
  auto created = manager.new_module({.functions = functions, .lazy = {&lazy_jit<Manager>::compile, &jit}});
  REQUIRE(created);
  jit.module = created->get();
  return std::move(*created);
}

}  // namespace

TEST_CASE("each module's lazy calls reach its own callback with its own context", "[core]") {
  jitcm::code_manager manager;
  lazy_jit<jitcm::code_manager> first_jit, second_jit;
  first_jit.value = 11;
  second_jit.value = 22;
  auto first = make_lazy_module(manager, first_jit, 3);
  auto second = make_lazy_module(manager, second_jit, 3);
  // The process-wide handler of lazy_trampoline() is another door of the
  // same trampoline: it must not capture the modules' calls.
  REQUIRE(jitcm::jump_table::lazy_trampoline(&record_lazy_call));
  const auto recorded = lazy_calls.load();

  CHECK(call(*first, 2) == 11);
  CHECK(call(*second, 2) == 22);
  CHECK(call(*second, 0) == 22);
  CHECK(call(*first, 2) == 11);  // compiled now: no second lazy call
  CHECK(first_jit.compilations.load() == 1);
  CHECK(second_jit.compilations.load() == 2);
  CHECK(lazy_calls.load() == recorded);
  CHECK(first_jit.publish_failures.load() == 0);
  CHECK(second_jit.publish_failures.load() == 0);
}

TEST_CASE("many threads entering the lazy entry for one index all run installed code", "[core]") {
  // Under refcount::atomic_counts a refused duplicate is freed the moment it
  // is retired; the idiom (continue through the slot) never runs it.
  using counted = jitcm::with_ref_counting<jitcm::code_manager, jitcm::refcount::atomic_counts>;
  counted manager;
  lazy_jit<counted> jit;
  jit.value = 5;
  auto module = make_lazy_module(manager, jit, 1);
  std::atomic<int> wrong{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      while (!go.load()) std::this_thread::yield();
      for (int i = 0; i < 1000; ++i) {
        if (call_unchecked(*module, 0) != 5) wrong.fetch_add(1);
      }
    });
  }
  go.store(true);
  for (auto& t : threads) t.join();
  CHECK(wrong.load() == 0);
  CHECK(jit.compilations.load() >= 1);
  CHECK(jit.publish_failures.load() == 0);
  CHECK(module->stats().installed == 1);
}

TEST_CASE("lazy options are checked: exactly one entry, and a callback needs machine-code slots", "[core]") {
  jitcm::code_manager manager;
  lazy_jit<jitcm::code_manager> jit;
  const jitcm::jump_table::lazy_compile_callback callback{&lazy_jit<jitcm::code_manager>::compile, &jit};
  CHECK(manager.new_module({.functions = 2}).error() == make_error_code(errc::invalid_argument));
  CHECK(manager.new_module({.functions = 2, .lazy = callback, .lazy_entry = lazy_entry()}).error() ==
        make_error_code(errc::invalid_argument));
  jitcm::presets::portable portable;
  CHECK(portable.new_module({.functions = 2, .lazy = callback}).error() == make_error_code(errc::unsupported));
  CHECK(portable.new_module({.functions = 2, .lazy_entry = lazy_entry()}));
}

TEST_CASE("code pointers are handed out held, or not at all", "[core]") {
  SECTION("scoped: publish without a scope publishes but returns no pointer; installed() asks for a scope") {
    jitcm::code_manager manager;
    auto created = manager.new_module({.functions = 2, .lazy_entry = lazy_entry()});
    REQUIRE(created);
    auto& module = **created;
    auto room = write_constant(module, 3);
    auto published = module.publish(room, {.index = 0, .tier = two_tier::baseline});
    REQUIRE(published);
    CHECK(published->installed);
    CHECK(published->code == nullptr);
    CHECK(call(module, 0) == 3);
    CHECK(module.installed(0).error() == make_error_code(errc::scope_required));
    CHECK(module.installed(1));  // nothing installed: nullptr needs no holding
    jitcm::code_manager::code_ref_scope scope;
    REQUIRE(module.installed(0));
    CHECK(*module.installed(0) != nullptr);
  }
  SECTION("atomic_counts: code the tiering policy refused is freed at once, so no pointer comes back") {
    using counted = jitcm::with_ref_counting<jitcm::code_manager, jitcm::refcount::atomic_counts>;
    counted manager;
    auto created = manager.new_module({.functions = 1, .lazy_entry = lazy_entry()});
    REQUIRE(created);
    auto& module = **created;
    {
      counted::code_ref_scope scope;
      publish_constant(module, 0, 8, two_tier::optimized);
    }
    auto room = write_constant(module, 9);
    auto refused = module.publish(room, {.index = 0, .tier = two_tier::baseline});
    REQUIRE(refused);
    CHECK_FALSE(refused->installed);
    CHECK(refused->code == nullptr);  // it is gone already
    CHECK(module.stats().freed == 1);
    CHECK(call(module, 0) == 8);
  }
  SECTION("never: code lives as long as the module, no scope needed") {
    using kept = jitcm::with_ref_counting<jitcm::code_manager, jitcm::refcount::never>;
    kept manager;
    auto created = manager.new_module({.functions = 1, .lazy_entry = lazy_entry()});
    REQUIRE(created);
    const jitcm::code* c = publish_constant(**created, 0, 4, two_tier::baseline);
    REQUIRE(c != nullptr);
    CHECK(*(*created)->installed(0) == c);
  }
}

TEST_CASE("lookup(pc, scope) holds what it finds until the scope ends, under every counting policy", "[core]") {
  auto check = [](auto manager_tag) {
    using manager_type = decltype(manager_tag);
    manager_type manager;
    auto created = manager.new_module({.functions = 1, .lazy_entry = lazy_entry()});
    REQUIRE(created);
    auto& module = **created;
    std::uintptr_t start = 0;
    {
      typename manager_type::code_ref_scope publishing;
      start = publish_constant(module, 0, 1, two_tier::baseline)->instruction_start();
    }
    {
      jitcm::refcount::code_ref_scope scope;
      const jitcm::code* found = manager.lookup(start, scope);
      REQUIRE(found != nullptr);
      CHECK(scope.size() == 1);
      CHECK(manager.lookup(start - 1, scope) == nullptr);
      // Replaced and collected while held: still readable and callable.
      publish_constant(module, 0, 2, two_tier::optimized);
      (void)manager.collect({});
      CHECK(found->index() == 0);
      CHECK(example::function_at(found->instruction_start())() == 1);
      CHECK(manager.lookup(start) == found);
    }
    (void)manager.collect({});
    CHECK(manager.lookup(start) == nullptr);  // freed once the scope let go
    CHECK(call(module, 0) == 2);
  };
  check(jitcm::code_manager{});
  check(jitcm::with_ref_counting<jitcm::code_manager, jitcm::refcount::atomic_counts>{});
}

TEST_CASE("impossible module sizes fail with limit_exceeded before anything is allocated", "[core]") {
  jitcm::code_manager manager;
  for (const std::uint32_t functions : {30'000'000u, 1'000'000'000u, 0xFFFFFFFFu}) {
    CHECK(manager.new_module({.functions = functions, .lazy_entry = lazy_entry()}).error() ==
          make_error_code(errc::limit_exceeded));
  }
  CHECK(manager.new_module({.functions = 100'000, .lazy_entry = lazy_entry(), .max_committed = 4096}).error() ==
        make_error_code(errc::limit_exceeded));
  jitcm::code_manager small{{.max_committed = 64 << 10}};
  CHECK(small.new_module({.functions = 100'000, .lazy_entry = lazy_entry()}).error() ==
        make_error_code(errc::limit_exceeded));
  CHECK(manager.committed() == 0);
  CHECK(manager.stats().modules == 0);
}

TEST_CASE("each tiering policy refuses function code of a tier it does not know", "[core]") {
  auto refuses = [](auto manager_tag, std::initializer_list<jitcm::tier> unknown) {
    using manager_type = decltype(manager_tag);
    manager_type manager;
    auto created = manager.new_module({.functions = 1, .lazy_entry = lazy_entry()});
    REQUIRE(created);
    auto& module = **created;
    for (const jitcm::tier t : unknown) {
      auto room = module.allocate(8);
      REQUIRE(room);
      CHECK(module.publish(*room, {.index = 0, .tier = t}).error() == make_error_code(errc::invalid_argument));
      const constant_bytes bytes{1};
      const jitcm::finished_code item{bytes.span(), {.index = 0, .tier = t}};
      CHECK(module.add_code(std::span{&item, 1}).error() == make_error_code(errc::invalid_argument));
    }
    CHECK(module.stats().published == 0);
    CHECK(module.stats().memory.live == 0);
  };
  refuses(jitcm::code_manager{}, {jitcm::tier{0}, jitcm::tier{3}, jitcm::tier{200}});
  refuses(jitcm::presets::v8_like{}, {jitcm::tier{0}, jitcm::tier{3}});
}

// A death test: it needs a child process (the Windows build registers it
// as skipped, tests/core/meson.build).
#if !defined(_WIN32)
TEST_CASE("a manager destroyed before its modules stops the program with one line naming the mistake", "[core]") {
  int pipe_ends[2];
  REQUIRE(::pipe(pipe_ends) == 0);
  const auto outcome = jitcm::testing::run_in_child([&] {
    ::dup2(pipe_ends[1], STDERR_FILENO);
    std::signal(SIGABRT, SIG_DFL);  // the plain abort, not the test framework's report
    auto* manager = new jitcm::code_manager;
    auto module = manager->new_module({.functions = 1, .lazy_entry = lazy_entry()});
    delete manager;  // the mistake: the module still lives
    module->reset();
  });
  ::close(pipe_ends[1]);
  std::string message;
  std::array<char, 256> buffer{};
  for (ssize_t n; (n = ::read(pipe_ends[0], buffer.data(), buffer.size())) > 0;) message.append(buffer.data(), n);
  ::close(pipe_ends[0]);
  CHECK(outcome.signalled);
  CHECK(outcome.signal == SIGABRT);
  CHECK(message.find("jitcm: a basic_code_manager was destroyed while modules it created were alive") !=
        std::string::npos);
}
#endif  // _WIN32

TEST_CASE("a thread holding a pending_code may call the manager and module while others flush, collect and read",
          "[core]") {
  // The lock order (native_module.hpp) makes every pair here deadlock-free;
  // a regression hangs and the test's timeout reports it.
  auto exercise = [](auto manager_tag) {
    using manager_type = decltype(manager_tag);
    manager_type manager;
    auto created = manager.new_module({.functions = 4, .lazy_entry = lazy_entry()});
    REQUIRE(created);
    auto& module = **created;
    std::atomic<bool> stop{false};
    std::thread background([&] {
      while (!stop.load()) {
        (void)manager.flush_for_memory_pressure();
        (void)manager.collect({});
        (void)manager.stats();
        (void)manager.estimate_memory_use();
        (void)module.stats();
      }
    });
    int published = 0;
    for (int round = 0; round < 200; ++round) {
      const auto index = static_cast<std::uint32_t>(round % 4);
      const example::return_constant bytes{static_cast<std::uint32_t>(round)};
      auto room = module.allocate(bytes.size);
      REQUIRE(room);
      std::memcpy(room->writable(), bytes.bytes.data(), bytes.size);
      // Still writing (the space's write lock is held under the mprotect strategies):
      (void)manager.stats();
      (void)manager.estimate_memory_use();
      (void)manager.collect({});
      (void)manager.flush_for_memory_pressure();
      (void)module.stats();
      (void)module.call_target(index);
      if (module.publish(*room, {.index = index, .tier = two_tier::baseline})) ++published;
    }
    stop.store(true);
    background.join();
    CHECK(published == 200);
  };
  exercise(jitcm::code_manager{});
  exercise(jitcm::with_allocator<jitcm::code_manager,
                                 jitcm::allocator::default_allocator<jitcm::protection::mprotect_toggle>>{});
  exercise(jitcm::presets::v8_like{});
}

namespace {

/// The host's jump tables, with patches that can be made to fail: before
/// touching the slot, or after storing the new target (as an emitter does
/// when restoring protection is refused at the end of its write scope).
enum class patch_failure { none, before, after_store };
inline std::atomic<patch_failure> failing_patch{patch_failure::none};
inline std::atomic<int> failures_left{0};  // how many patches fail; then they work again

inline patch_failure next_patch_failure() {
  const patch_failure mode = failing_patch.load();
  if (mode == patch_failure::none || failures_left.fetch_sub(1) <= 0) return patch_failure::none;
  return mode;
}

struct flaky_jump_table : jitcm::jump_table::host {
  static jitcm::result<void> patch_far(const jitcm::jump_table::table_view& view, std::uint32_t i,
                                       std::uintptr_t target) noexcept {
    const patch_failure mode = next_patch_failure();
    if (mode == patch_failure::before) return jitcm::failure{std::make_error_code(std::errc::permission_denied)};
    auto stored = jitcm::jump_table::host::patch_far(view, i, target);
    if (stored && mode == patch_failure::after_store)
      return jitcm::failure{std::make_error_code(std::errc::permission_denied)};
    return stored;
  }
  template <jitcm::jump_table::write_scope_opener Opener>
  static jitcm::result<void> patch(const jitcm::jump_table::table_view& view, std::uint32_t i, std::uintptr_t target,
                                   Opener&& open) noexcept {
    const patch_failure mode = next_patch_failure();
    if (mode == patch_failure::before) return jitcm::failure{std::make_error_code(std::errc::permission_denied)};
    auto stored = jitcm::jump_table::host::patch(view, i, target, std::forward<Opener>(open));
    if (stored && mode == patch_failure::after_store)
      return jitcm::failure{std::make_error_code(std::errc::permission_denied)};
    return stored;
  }
};

}  // namespace

TEST_CASE("a refused jump-table patch leaves the old code installed, the slot on it, and the block owned once",
          "[core]") {
  using manager_type = jitcm::with_jump_table<jitcm::code_manager, flaky_jump_table>;
  for (const patch_failure mode : {patch_failure::before, patch_failure::after_store}) {
    manager_type manager;
    auto created = manager.new_module({.functions = 2, .lazy_entry = lazy_entry()});
    REQUIRE(created);
    auto& module = **created;
    {
      manager_type::code_ref_scope scope;
      publish_constant(module, 0, 1, two_tier::baseline);
    }
    const auto before = module.stats();
    {
      auto room = write_constant(module, 2);
      failures_left.store(1);
      failing_patch.store(mode);
      auto refused = module.publish(room, {.index = 0, .tier = two_tier::optimized});
      failing_patch.store(patch_failure::none);
      CHECK(refused.error() == std::make_error_code(std::errc::permission_denied));
      CHECK_FALSE(room.published());  // the block is still the pending code's alone
      CHECK(call(module, 0) == 1);    // every table back on the old code
      CHECK(module.stats().published == before.published);
      CHECK(manager.lookup(room.executable()) == nullptr);
    }  // dropped: its memory goes back once
    CHECK(module.stats().memory.live == before.memory.live);
    CHECK(manager.collect({}) == 0);  // nothing was retired: no second free
    {
      manager_type::code_ref_scope scope;
      const jitcm::code* better = publish_constant(module, 0, 3, two_tier::optimized);
      REQUIRE(better != nullptr);
      CHECK(manager.lookup(better->instruction_start()) == better);
    }
    CHECK(call(module, 0) == 3);
    CHECK(manager.collect({}) == 1);  // the baseline code, once
  }
}

TEST_CASE("when putting a slot back is refused too, the new code is kept, never freed, and the module goes on",
          "[core]") {
  using manager_type = jitcm::with_jump_table<jitcm::code_manager, flaky_jump_table>;
  manager_type manager;
  auto created = manager.new_module({.functions = 1, .lazy_entry = lazy_entry()});
  REQUIRE(created);
  auto& module = **created;
  {
    manager_type::code_ref_scope scope;
    publish_constant(module, 0, 1, two_tier::baseline);
  }
  auto room = write_constant(module, 2);
  failures_left.store(1000);
  failing_patch.store(patch_failure::after_store);  // every patch stores, then reports failure
  auto refused = module.publish(room, {.index = 0, .tier = two_tier::optimized});
  failing_patch.store(patch_failure::none);
  CHECK(refused.error() == std::make_error_code(std::errc::permission_denied));
  CHECK(room.published());  // the module owns the block now: dropping the pending frees nothing
  const int value = call(module, 0);
  CHECK((value == 1 || value == 2));  // wherever the slot leads, that code is alive
  CHECK(manager.collect({}) == 0);
  CHECK(manager.lookup(room.executable()) != nullptr);
  {
    manager_type::code_ref_scope scope;
    REQUIRE(publish_constant(module, 0, 3, two_tier::optimized) != nullptr);
  }
  CHECK(call(module, 0) == 3);
}
