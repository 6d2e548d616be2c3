#include <algorithm>
#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

#include "catch.hpp"
#include "support.hpp"

#include <jitcm/refcount/atomic_counts.hpp>
#include <jitcm/refcount/concept.hpp>
#include <jitcm/refcount/never.hpp>
#include <jitcm/refcount/scoped.hpp>

using jitcm::refcount::code_ref_scope;
using jitcm::testing::make_code;

namespace {

// Stands in for a native_module: owns its code objects and deletes one when
// the policy releases it, so that under AddressSanitizer any later touch of
// released code is caught.
class fake_module {
 public:
  fake_module() = default;
  fake_module(const fake_module&) = delete;
  fake_module& operator=(const fake_module&) = delete;

  const jitcm::code& add() {
    std::lock_guard lock{mutex_};
    owned_.push_back(make_code(0x4000'0000 + next_ * 64, 64, next_).release());
    ++next_;
    return *owned_.back();
  }

  jitcm::refcount::free_callback free_code() {
    return {[](void* self, const jitcm::code& dead) noexcept { static_cast<fake_module*>(self)->free(dead); }, this};
  }

  [[nodiscard]] std::size_t released() const {
    std::lock_guard lock{mutex_};
    return released_;
  }
  [[nodiscard]] std::size_t bad_releases() const {
    std::lock_guard lock{mutex_};
    return bad_releases_;
  }
  [[nodiscard]] bool owns(const jitcm::code& c) const {
    std::lock_guard lock{mutex_};
    return std::find(owned_.begin(), owned_.end(), &c) != owned_.end();
  }

  ~fake_module() {
    CHECK(bad_releases_ == 0);
    for (const jitcm::code* c : owned_) delete c;
  }

 private:
  void free(const jitcm::code& dead) {
    std::lock_guard lock{mutex_};
    auto it = std::find(owned_.begin(), owned_.end(), &dead);
    if (it == owned_.end()) {  // released twice, or not ours (Catch2 asserts are not thread-safe)
      ++bad_releases_;
      return;
    }
    delete *it;
    owned_.erase(it);
    ++released_;
  }

  mutable std::mutex mutex_;
  std::vector<const jitcm::code*> owned_;
  std::uint32_t next_ = 0;
  std::size_t released_ = 0;
  std::size_t bad_releases_ = 0;
};

constexpr std::span<const jitcm::code* const> nothing_live{};

}  // namespace

static_assert(jitcm::ref_counting<jitcm::refcount::scoped>);
static_assert(jitcm::ref_counting<jitcm::refcount::atomic_counts>);
static_assert(jitcm::ref_counting<jitcm::refcount::never>);

TEST_CASE("scoped: retired code nothing uses is freed by collect", "[refcount][scoped]") {
  fake_module module;
  jitcm::refcount::scoped policy{module.free_code()};
  const jitcm::code& c = module.add();
  policy.retire(c);
  CHECK(policy.retired_count() == 1);
  CHECK(module.released() == 0);  // potentially dead until the stacks are reported
  CHECK(policy.collect(nothing_live) == 1);
  CHECK(module.released() == 1);
  CHECK(policy.retired_count() == 0);
  CHECK(policy.collect(nothing_live) == 0);
}

TEST_CASE("scoped: retired code stays until its scope ends and collect runs", "[refcount][scoped]") {
  fake_module module;
  jitcm::refcount::scoped policy{module.free_code()};
  const jitcm::code& c = module.add();
  {
    code_ref_scope scope;
    REQUIRE(policy.hold(c));
    CHECK(c.ref_count() == 2);
    CHECK(scope.size() == 1);
    policy.retire(c);
    CHECK(policy.collect(nothing_live) == 0);  // dead, but the scope holds it
    CHECK(module.owns(c));
    CHECK(c.instructions_size() == 64);  // still a live object (ASan would object otherwise)
    CHECK(policy.retired_count() == 1);
  }
  CHECK(module.released() == 0);  // scope ended: freed by the next collect, not before
  CHECK(policy.retired_count() == 1);
  CHECK(policy.collect(nothing_live) == 1);
  CHECK(module.released() == 1);
  CHECK(policy.retired_count() == 0);
}

TEST_CASE("scoped: code reported live on a stack is kept", "[refcount][scoped]") {
  fake_module module;
  jitcm::refcount::scoped policy{module.free_code()};
  const jitcm::code& running = module.add();
  const jitcm::code& idle = module.add();
  policy.retire(running);
  policy.retire(idle);
  const jitcm::code* live[] = {&running};
  CHECK(policy.collect(live) == 1);  // only `idle`
  CHECK(module.owns(running));
  CHECK(module.released() == 1);
  CHECK(policy.retired_count() == 1);
  CHECK(policy.collect(nothing_live) == 1);  // off the stack now
  CHECK(module.released() == 2);
}

TEST_CASE("scoped: installed code is never freed, held or not", "[refcount][scoped]") {
  fake_module module;
  jitcm::refcount::scoped policy{module.free_code()};
  const jitcm::code& installed = module.add();
  {
    code_ref_scope scope;
    REQUIRE(policy.hold(installed));
    REQUIRE(policy.hold(installed));
    CHECK(installed.ref_count() == 3);
  }
  CHECK(installed.ref_count() == 1);
  CHECK(policy.collect(nothing_live) == 0);
  CHECK(module.owns(installed));
}

TEST_CASE("scoped: hold without an open scope holds nothing", "[refcount][scoped]") {
  fake_module module;
  jitcm::refcount::scoped policy{module.free_code()};
  const jitcm::code& c = module.add();
  REQUIRE(code_ref_scope::innermost() == nullptr);
  CHECK_FALSE(policy.hold(c));
  CHECK(c.ref_count() == 1);
}

TEST_CASE("code_ref_scope: scopes nest; code goes to the innermost", "[refcount][scoped]") {
  fake_module module;
  jitcm::refcount::scoped policy{module.free_code()};
  const jitcm::code& outer_code = module.add();
  const jitcm::code& inner_code = module.add();
  code_ref_scope outer;
  CHECK(code_ref_scope::innermost() == &outer);
  REQUIRE(policy.hold(outer_code));
  {
    code_ref_scope inner;
    CHECK(code_ref_scope::innermost() == &inner);
    REQUIRE(policy.hold(inner_code));
    CHECK(inner.size() == 1);
    policy.retire(inner_code);
    policy.retire(outer_code);
    CHECK(policy.collect(nothing_live) == 0);
  }
  CHECK(code_ref_scope::innermost() == &outer);
  CHECK(policy.collect(nothing_live) == 1);  // inner_code; outer_code is still held
  CHECK(module.owns(outer_code));
  CHECK(outer_code.ref_count() == 1);
}

TEST_CASE("scoped: a scope may outlive the policy and module", "[refcount][scoped]") {
  // The documented outcome: the module frees its code when it goes; a scope
  // still holding that code ends without touching it (AddressSanitizer
  // checks that nothing reads the freed code).
  code_ref_scope scope;
  {
    fake_module module;
    jitcm::refcount::scoped policy{module.free_code()};
    const jitcm::code& c = module.add();
    REQUIRE(policy.hold(c));
    policy.retire(c);
    CHECK(policy.collect(nothing_live) == 0);
    CHECK(module.released() == 0);
  }
  CHECK(scope.size() == 1);
}

TEST_CASE("scoped: many threads hold, retire and collect at once", "[refcount][scoped][threads]") {
  fake_module module;
  jitcm::refcount::scoped policy{module.free_code()};
  constexpr int threads_count = 4, codes_per_thread = 200;
  std::vector<const jitcm::code*> codes;
  for (int i = 0; i < threads_count * codes_per_thread; ++i) codes.push_back(&module.add());

  std::atomic<bool> done{false};
  std::atomic<int> failures{0};
  std::thread collector([&] {
    while (!done.load()) {
      policy.collect(nothing_live);
      std::this_thread::yield();
    }
  });
  std::vector<std::thread> workers;
  for (int t = 0; t < threads_count; ++t) {
    workers.emplace_back([&, t] {
      for (int i = 0; i < codes_per_thread; ++i) {
        const jitcm::code& c = *codes[static_cast<std::size_t>(t * codes_per_thread + i)];
        code_ref_scope scope;
        if (!policy.hold(c)) failures.fetch_add(1);  // c is installed: alive
        policy.retire(c);                            // leaves the table while held
        for (int k = 0; k < 3; ++k) {
          if (c.instructions_size() != 64) failures.fetch_add(1);  // alive while the scope lives
          std::this_thread::yield();
        }
      }
    });
  }
  for (auto& w : workers) w.join();
  done.store(true);
  collector.join();
  policy.collect(nothing_live);
  CHECK(failures.load() == 0);
  CHECK(module.released() == codes.size());
  CHECK(policy.retired_count() == 0);
}

TEST_CASE("atomic_counts: code is freed the moment nothing holds it", "[refcount][atomic_counts]") {
  fake_module module;
  jitcm::refcount::atomic_counts policy{module.free_code()};
  const jitcm::code& unheld = module.add();
  policy.retire(unheld);
  CHECK(module.released() == 1);
  CHECK(policy.retired_count() == 0);

  const jitcm::code& held = module.add();
  {
    code_ref_scope scope;
    REQUIRE(policy.hold(held));
    policy.retire(held);
    CHECK(module.owns(held));
    CHECK(policy.retired_count() == 1);
    CHECK(policy.collect(nothing_live) == 0);  // stacks do not matter; the scope does
  }
  CHECK(module.released() == 2);
  CHECK(policy.retired_count() == 0);
}

TEST_CASE("atomic_counts: the last of many threads to let go frees", "[refcount][atomic_counts][threads]") {
  fake_module module;
  jitcm::refcount::atomic_counts policy{module.free_code()};
  std::vector<const jitcm::code*> codes;
  for (int i = 0; i < 64; ++i) codes.push_back(&module.add());

  std::atomic<int> holding{0};
  std::atomic<int> failures{0};
  std::atomic<bool> retired{false};
  std::vector<std::thread> threads;
  constexpr int threads_count = 4;
  for (int t = 0; t < threads_count; ++t) {
    threads.emplace_back([&] {
      code_ref_scope scope;
      for (const jitcm::code* c : codes) {
        if (!policy.hold(*c)) failures.fetch_add(1);
      }
      holding.fetch_add(1);
      while (!retired.load()) std::this_thread::yield();
      for (const jitcm::code* c : codes) {
        if (c->instructions_size() != 64) failures.fetch_add(1);
      }
    });
  }
  while (holding.load() < threads_count) std::this_thread::yield();
  for (const jitcm::code* c : codes) policy.retire(*c);
  CHECK(module.released() == 0);
  retired.store(true);
  for (auto& t : threads) t.join();
  CHECK(failures.load() == 0);
  CHECK(module.released() == codes.size());
  CHECK(policy.retired_count() == 0);
}

TEST_CASE("never: retired code stays with the module", "[refcount][never]") {
  fake_module module;
  jitcm::refcount::never policy{module.free_code()};
  const jitcm::code& c = module.add();
  jitcm::refcount::never::scope scope;
  CHECK(policy.hold(c));
  policy.retire(c);
  CHECK(policy.collect(nothing_live) == 0);
  CHECK(policy.retired_count() == 1);
  CHECK(module.owns(c));
  CHECK(module.released() == 0);
  (void)scope;
}

TEST_CASE("code_ref_scope: one scope holds code of several modules", "[refcount][scoped]") {
  fake_module first_module, second_module;
  jitcm::refcount::scoped first{first_module.free_code()};
  {
    code_ref_scope scope;  // outlives `second`, below
    jitcm::refcount::atomic_counts second{second_module.free_code()};
    const jitcm::code& a1 = first_module.add();
    const jitcm::code& b1 = second_module.add();
    const jitcm::code& a2 = first_module.add();
    REQUIRE(first.hold(a1));
    REQUIRE(second.hold(b1));
    REQUIRE(first.hold(a2));
    REQUIRE(first.hold(a1));
    CHECK(scope.size() == 4);
    first.retire(a1);
    first.retire(a2);
    CHECK(first.collect(nothing_live) == 0);
    CHECK(a1.ref_count() == 2);
    // `second` goes before the scope ends: the scope then drops only the
    // first policy's references and leaves b1 alone.
  }
  CHECK(second_module.released() == 0);
  CHECK(first_module.released() == 0);
  CHECK(first.collect(nothing_live) == 2);
  CHECK(first_module.released() == 2);
}

TEST_CASE("code_ref_scope: many codes from alternating policies", "[refcount][scoped]") {
  fake_module first_module, second_module;
  jitcm::refcount::scoped first{first_module.free_code()};
  jitcm::refcount::atomic_counts second{second_module.free_code()};
  std::vector<const jitcm::code*> firsts, seconds;
  for (int i = 0; i < 20; ++i) {
    firsts.push_back(&first_module.add());
    seconds.push_back(&second_module.add());
  }
  {
    code_ref_scope scope;
    // Runs of 3 of one policy, then 1 of the other, past the scope's inline room.
    for (int i = 0; i < 20; ++i) {
      REQUIRE(first.hold(*firsts[static_cast<std::size_t>(i)]));
      if (i % 3 == 2) REQUIRE(second.hold(*seconds[static_cast<std::size_t>(i)]));
    }
    CHECK(scope.size() == 26);
    for (const jitcm::code* c : firsts) first.retire(*c);
    for (const jitcm::code* c : seconds) second.retire(*c);
    CHECK(second_module.released() == 14);  // the ones no scope holds went at once
    CHECK(first.collect(nothing_live) == 0);
  }
  CHECK(second_module.released() == 20);
  CHECK(first.collect(nothing_live) == 20);
  CHECK(first.retired_count() == 0);
  CHECK(second.retired_count() == 0);
}
