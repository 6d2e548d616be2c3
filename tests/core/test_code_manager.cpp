// basic_code_manager: lookup, ref-counted freeing, memory pressure,
// observers, memory accounting, concurrent use.
#include <thread>

#include "core_fixture.hpp"

using jitcm::errc;
using jitcm::tiering::two_tier;
using namespace jitcm::testing;

namespace {

using manager_type = jitcm::code_manager;
constexpr std::size_t mib = std::size_t{1} << 20;

template <class Manager>
typename Manager::module_ptr make_module(Manager& manager, std::uint32_t functions) {
  auto module = manager.new_module({.functions = functions, .lazy_entry = lazy_entry()});
  REQUIRE(module);
  return std::move(*module);
}

/// Counts what the observers hear.
struct counting_observer final : jitcm::code_observer {
  void on_code_added(const jitcm::code&) noexcept override { ++added; }
  void on_code_freed(const jitcm::code& c) noexcept override {
    ++freed;
    last_freed = c.instruction_start();
  }
  int added = 0;
  int freed = 0;
  std::uintptr_t last_freed = 0;
};

}  // namespace

TEST_CASE("lookup finds the code of every byte of every code object, and nothing elsewhere", "[core]") {
  manager_type manager;
  auto first = make_module(manager, 16);
  auto second = make_module(manager, 16);
  jitcm::refcount::code_ref_scope scope;  // holds the code pointers the modules return
  std::vector<const jitcm::code*> all;
  for (std::uint32_t i = 0; i < 16; ++i) {
    all.push_back(publish_constant(*first, i, static_cast<int>(i), two_tier::baseline));
    all.push_back(publish_constant(*second, i, static_cast<int>(i), two_tier::baseline));
  }
  for (const jitcm::code* c : all) {
    for (std::uintptr_t pc = c->instruction_start(); pc < c->instructions().end(); ++pc) {
      REQUIRE(manager.lookup(pc) == c);
    }
    // One past the end lies in the alignment padding: no code there.
    CHECK(manager.lookup(c->instructions().end()) == nullptr);
    CHECK(manager.lookup(c->instruction_start() - 1) != c);
  }
  int on_stack = 0;
  const auto heap = std::make_unique<int>(0);
  CHECK(manager.lookup(0) == nullptr);
  CHECK(manager.lookup(reinterpret_cast<std::uintptr_t>(&on_stack)) == nullptr);
  CHECK(manager.lookup(reinterpret_cast<std::uintptr_t>(heap.get())) == nullptr);
  CHECK(manager.lookup(reinterpret_cast<std::uintptr_t>(&not_compiled)) == nullptr);
  CHECK(manager.lookup(*first->call_target(0)) == nullptr);  // a jump-table slot is no code object
  CHECK(manager.lookup(~std::uintptr_t{0}) == nullptr);
}

TEST_CASE("removed code a scope holds stays callable until the scope ends and collect runs", "[core]") {
  manager_type manager;
  auto module = make_module(manager, 2);
  counting_observer observer;
  manager.add_observer(observer);
  const jitcm::code* c = nullptr;
  {
    // Published code is handed out held; once this scope ends, `c` stays
    // valid while installed and, after that, until collect frees it.
    jitcm::refcount::code_ref_scope publishing;
    c = publish_constant(*module, 0, 42, two_tier::baseline);
  }
  const std::uintptr_t start = c->instruction_start();
  {
    jitcm::refcount::code_ref_scope scope;
    REQUIRE(manager.lookup(start) == c);
    const jitcm::code* held = *module->installed(0);  // held by `scope`
    REQUIRE(held == c);
    const auto removed = module->remove_code(two_tier::removal_filter::all());
    CHECK(removed.count == 1);
    CHECK(call(*module, 0) == lazy_result);  // the slot is back at the lazy slot
    CHECK(manager.collect({}) == 0);         // held: not freed
    // Still mapped, callable, and findable; its metadata still readable (ASan).
    CHECK(example::function_at(start)() == 42);
    CHECK(manager.lookup(start) == c);
    CHECK(c->index() == 0);
    CHECK(module->stats().retired == 1);
    CHECK(observer.freed == 0);
  }
  CHECK(observer.freed == 0);       // scope ended; collect has not run yet
  CHECK(manager.collect({}) == 1);  // now it goes
  CHECK(observer.freed == 1);
  CHECK(observer.last_freed == start);
  CHECK(manager.lookup(start) == nullptr);
  const auto stats = module->stats();
  CHECK(stats.retired == 0);
  CHECK(stats.freed == 1);
  CHECK(stats.code_objects == 0);
  CHECK(stats.memory.live == 0);
  CHECK(manager.remove_observer(observer));
  CHECK_FALSE(manager.remove_observer(observer));
}

TEST_CASE("code a stack still runs survives collect; unheld code is freed and its memory reused", "[core]") {
  manager_type manager;
  auto module = make_module(manager, 2);
  const jitcm::code* running = nullptr;
  const jitcm::code* idle = nullptr;
  {
    // V8's rule: after the scope, retired code stays until a collect that
    // does not find it on a stack.
    jitcm::refcount::code_ref_scope publishing;
    running = publish_constant(*module, 0, 1, two_tier::baseline);
    idle = publish_constant(*module, 1, 2, two_tier::baseline);
  }
  const std::uintptr_t idle_start = idle->instruction_start();
  module->remove_code(two_tier::removal_filter::all());

  const jitcm::code* live[] = {running};
  CHECK(manager.collect(live) == 1);  // only `idle` goes
  CHECK(manager.lookup(running->instruction_start()) == running);
  CHECK(manager.lookup(idle_start) == nullptr);
  CHECK(module->stats().retired == 1);

  // The freed block is handed out again for code of the same size.
  {
    jitcm::refcount::code_ref_scope publishing;
    const jitcm::code* again = publish_constant(*module, 1, 3, two_tier::baseline);
    CHECK(again->instruction_start() == idle_start);
  }
  CHECK(call(*module, 1) == 3);

  CHECK(manager.collect({}) == 1);  // the stack no longer runs `running`
  CHECK(module->stats().retired == 0);
}

TEST_CASE("replaced code is retired and freed once collected", "[core]") {
  manager_type manager;
  auto module = make_module(manager, 1);
  publish_constant(*module, 0, 1, two_tier::baseline);
  publish_constant(*module, 0, 2, two_tier::optimized);
  CHECK(module->stats().retired == 1);
  CHECK(manager.collect({}) == 1);
  CHECK(call(*module, 0) == 2);
  CHECK(module->stats().code_objects == 1);
}

namespace {

struct pressure_record {
  int calls = 0;
  std::size_t committed = 0;
};

void note_pressure(void* context, std::size_t committed) noexcept {
  auto* record = static_cast<pressure_record*>(context);
  ++record->calls;
  record->committed = committed;
}

}  // namespace

TEST_CASE("passing the critical threshold flushes every module, calls back, and moves the threshold", "[core]") {
  pressure_record record;
  const std::size_t maximum = 256 * mib;
  const std::size_t critical = 8 * mib;
  manager_type manager{
      {.max_committed = maximum, .critical_committed = critical, .on_memory_pressure = {&note_pressure, &record}}};
  auto first = make_module(manager, 3);
  auto second = make_module(manager, 3);
  publish_constant(*first, 0, 1, two_tier::baseline);
  publish_constant(*first, 1, 2, two_tier::optimized);
  publish_constant(*second, 0, 3, two_tier::baseline);
  CHECK(manager.stats().memory_pressure_events == 0);
  CHECK(manager.critical_threshold() == critical);

  // Commit until the threshold is passed (in pieces that fit the smallest
  // code space, RISC-V's 1 MiB).
  std::vector<manager_type::module::pending_code> rooms;
  while (record.calls == 0) {
    REQUIRE(manager.committed() < maximum);
    auto room = first->allocate(mib / 4);
    REQUIRE(room);
    REQUIRE(room->end_write());
    rooms.push_back(std::move(*room));
  }
  CHECK(record.calls == 1);
  CHECK(manager.stats().memory_pressure_events == 1);
  CHECK(record.committed > critical);
  CHECK(manager.critical_threshold() == record.committed + (maximum - record.committed) / 2);
  // The flush removed baseline code in both modules, kept optimized code.
  CHECK(call(*first, 0) == lazy_result);
  CHECK(call(*first, 1) == 2);
  CHECK(call(*second, 0) == lazy_result);

  // The next allocations stay under the moved threshold: no second flush.
  auto room = first->allocate(mib / 4);
  REQUIRE(room);
  CHECK(record.calls == 1);
}

TEST_CASE("without a maximum there is no threshold; the maximum limits allocation", "[core]") {
  SECTION("unlimited") {
    manager_type manager;
    auto module = make_module(manager, 1);
    CHECK(manager.critical_threshold() == 0);
    auto room = module->allocate(mib / 2);
    REQUIRE(room);
    CHECK(manager.stats().memory_pressure_events == 0);
    CHECK(manager.committed() >= mib / 2);
  }
  SECTION("limited") {
    manager_type manager{{.max_committed = 4 * mib}};
    auto module = make_module(manager, 1);
    const auto before = module->stats().memory;
    auto too_big = module->allocate(8 * mib);
    REQUIRE_FALSE(too_big);
    CHECK(too_big.error() == make_error_code(errc::limit_exceeded));
    CHECK(module->stats().memory.live == before.live);
    CHECK(manager.committed() <= 4 * mib);
    CHECK(manager.new_module({.functions = 1, .lazy_entry = lazy_entry()}));  // small ones still fit
  }
}

TEST_CASE("estimate_memory_use and statistics follow modules and code", "[core]") {
  manager_type manager;
  const std::size_t empty = manager.estimate_memory_use();
  auto module = make_module(manager, 64);
  const std::size_t with_module = manager.estimate_memory_use();
  CHECK(with_module > empty);
  CHECK(with_module >= manager.committed());
  for (std::uint32_t i = 0; i < 64; ++i) publish_constant(*module, i, 1, two_tier::baseline);
  CHECK(manager.estimate_memory_use() > with_module);
  const auto stats = module->stats();
  CHECK(stats.installed == 64);
  CHECK(stats.code_objects == 64);
  CHECK(stats.code_bytes == 64 * example::return_constant::size);
  CHECK(stats.jump_table_bytes > 0);
  CHECK(manager.stats().modules == 1);
  module.reset();
  CHECK(manager.stats().modules == 0);
  CHECK(manager.committed() == 0);
  CHECK(manager.estimate_memory_use() == empty);
}

TEST_CASE("modules are created, used and destroyed from many threads at once", "[core]") {
  manager_type manager;
  const std::uintptr_t entry = lazy_entry();
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 10; ++round) {
        auto module = manager.new_module({.functions = 4, .lazy_entry = entry});
        if (!module) {
          failures.fetch_add(1);
          continue;
        }
        auto& m = **module;
        for (std::uint32_t i = 0; i < 4; ++i) {
          const int value = t * 100 + round * 4 + static_cast<int>(i);
          example::return_constant bytes{static_cast<std::uint32_t>(value)};
          const jitcm::finished_code item{bytes.bytes, {.index = i, .tier = two_tier::baseline}};
          jitcm::refcount::code_ref_scope scope;
          auto code = m.add_code(std::span{&item, 1});
          if (!code || manager.lookup((*code)[0].code->instruction_start()) != (*code)[0].code) failures.fetch_add(1);
          if (call_unchecked(m, i) != value) failures.fetch_add(1);
        }
        m.remove_code(two_tier::removal_filter::all());
        (void)manager.estimate_memory_use();
        (void)m.collect({});
      }
    });
  }
  for (auto& thread : threads) thread.join();
  CHECK(failures.load() == 0);
  CHECK(manager.stats().modules == 0);
}
