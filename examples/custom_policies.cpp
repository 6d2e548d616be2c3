// custom_policies: plug your own policies into basic_code_manager. Here a
// tiering policy with three tiers, a lookup policy, a ref-counting policy and
// an allocator free-space policy of our own, each put into the default
// manager with a `with_*` alias (<jitcm/presets.hpp>); the W^X strategy and
// the jump tables stay the library's.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <span>
#include <system_error>
#include <vector>

#include <jitcm/jitcm.hpp>

#include "machine_code.hpp"

namespace {

/// Three tiers: an interpreter-like quick tier, a baseline and an optimizing
/// compiler. New code is installed only if it is strictly better than what is
/// installed, and a module can be capped at a tier (say, while profiling).
/// It satisfies jitcm::tiering_filter (see <jitcm/tiering/concept.hpp>).
struct three_tiers {
  static constexpr jitcm::tier quick{1};
  static constexpr jitcm::tier baseline{2};
  static constexpr jitcm::tier optimized{3};

  struct module_state {
    jitcm::tier cap = optimized;  ///< never install code above this tier
  };
  /// Removes code of the tiers below `below`.
  struct removal_filter {
    jitcm::tier below;
  };

  bool should_install(const jitcm::code& candidate, const jitcm::code* installed, const module_state& state) const {
    if (candidate.tier() > state.cap) return false;
    return installed == nullptr || candidate.tier() > installed->tier();
  }
  bool should_remove(const jitcm::code& installed, const removal_filter& filter) const {
    return installed.tier() < filter.below;
  }
  /// Under memory pressure keep only optimized code; the rest recompiles lazily.
  removal_filter memory_pressure_filter() const { return {optimized}; }
};

/// A lookup policy: code sorted by address in a vector, searched by binary
/// search under a mutex, counting its searches. It satisfies
/// jitcm::code_lookup (see <jitcm/lookup/concept.hpp>).
class counting_lookup {
 public:
  jitcm::result<void> insert(const jitcm::code* c) {
    if (c == nullptr) return jitcm::failure{jitcm::errc::invalid_argument};
    std::lock_guard lock{mutex_};
    const auto at = std::lower_bound(codes_.begin(), codes_.end(), c, by_start);
    if ((at != codes_.end() && (*at)->instructions().overlaps(c->instructions())) ||
        (at != codes_.begin() && (*(at - 1))->instructions().overlaps(c->instructions()))) {
      return jitcm::failure{jitcm::errc::overlapping_region};
    }
    codes_.insert(at, c);
    return {};
  }
  jitcm::result<void> erase(const jitcm::code* c) {
    std::lock_guard lock{mutex_};
    const auto at = std::find(codes_.begin(), codes_.end(), c);
    if (at == codes_.end()) return jitcm::failure{jitcm::errc::not_owned};
    codes_.erase(at);
    return {};
  }
  const jitcm::code* find(std::uintptr_t pc) const {
    std::lock_guard lock{mutex_};
    ++searches_;
    const auto after = std::upper_bound(codes_.begin(), codes_.end(), pc, [](std::uintptr_t p, const jitcm::code* c) {
      return p < c->instruction_start();
    });
    if (after == codes_.begin() || !(*(after - 1))->contains(pc)) return nullptr;
    return *(after - 1);
  }
  std::size_t searches() const {
    std::lock_guard lock{mutex_};
    return searches_;
  }

 private:
  static bool by_start(const jitcm::code* a, const jitcm::code* b) {
    return a->instruction_start() < b->instruction_start();
  }
  mutable std::mutex mutex_;
  mutable std::size_t searches_ = 0;
  std::vector<const jitcm::code*> codes_;
};

/// A ref-counting policy for a VM that reclaims code at safepoints: retired
/// code waits until the embedder calls collect with the code its stacks still
/// run, at a point where no other thread runs JIT code or holds a code
/// pointer (a stop-the-world safepoint), so scopes need to count nothing. It
/// satisfies jitcm::ref_counting (see <jitcm/refcount/concept.hpp>).
class safepoint_reclaim {
 public:
  struct scope {};
  explicit safepoint_reclaim(jitcm::refcount::free_callback free_code) : free_code_{free_code} {}
  bool hold(const jitcm::code&) { return true; }
  void retire(const jitcm::code& c) {
    std::lock_guard lock{mutex_};
    retired_.push_back(&c);
  }
  std::size_t collect(std::span<const jitcm::code* const> live) {
    std::lock_guard lock{mutex_};
    const auto still_running = [live](const jitcm::code* c) {
      return std::find(live.begin(), live.end(), c) != live.end();
    };
    // std::partition, not std::ranges::partition: clang 14 with libstdc++ 12
    // cannot instantiate the ranges form's subrange.
    const auto dead = std::partition(retired_.begin(), retired_.end(), still_running);
    const auto released = static_cast<std::size_t>(retired_.end() - dead);
    for (auto c = dead; c != retired_.end(); ++c) free_code_(**c);
    retired_.erase(dead, retired_.end());
    return released;
  }
  std::size_t retired_count() const {
    std::lock_guard lock{mutex_};
    return retired_.size();
  }

 private:
  jitcm::refcount::free_callback free_code_;
  mutable std::mutex mutex_;
  std::vector<const jitcm::code*> retired_;
};

/// An allocator free-space policy: first fit over a list of free regions,
/// without merging neighbours (fine for a JIT whose code comes and goes in
/// few sizes). It satisfies jitcm::allocator::free_space_policy (see
/// <jitcm/allocator/basic_allocator.hpp>); jitcm::allocator::basic_allocator
/// adds code spaces, W^X and commit accounting around it.
class first_fit {
 public:
  static constexpr bool returns_memory = false;  // freed pages stay committed
  explicit first_fit(std::size_t /*alignment*/) {}
  bool add_space(jitcm::address_region code) {
    free_.push_back(code);
    return true;
  }
  jitcm::address_region allocate(std::size_t bytes) { return allocate_in_region(bytes, {0, ~std::uintptr_t{0}}); }
  jitcm::address_region allocate_in_region(std::size_t bytes, jitcm::address_region within) {
    for (auto f = free_.begin(); f != free_.end(); ++f) {
      const std::uintptr_t begin = std::max(f->begin(), within.begin());
      const std::uintptr_t end = std::min(f->end(), within.end());
      if (begin >= end || end - begin < bytes) continue;
      const jitcm::address_region before{f->begin(), begin - f->begin()},
          after{begin + bytes, f->end() - begin - bytes};
      free_.erase(f);
      for (const auto rest : {before, after}) {
        if (!rest.empty()) free_.push_back(rest);
      }
      live_[begin] = bytes;
      return {begin, bytes};
    }
    return {};
  }
  void undo(jitcm::address_region r) {
    live_.erase(r.begin());
    free_.push_back(r);
  }
  std::error_code free(jitcm::address_region r) {
    const auto block = live_.find(r.begin());
    if (block == live_.end()) return make_error_code(jitcm::errc::double_free);
    if (block->second != r.size()) return make_error_code(jitcm::errc::invalid_argument);
    undo(r);
    return {};
  }

 private:
  std::vector<jitcm::address_region> free_;
  std::map<std::uintptr_t, std::size_t> live_;  // start -> size of every block handed out
};

// The default manager with four policies replaced, one alias each.
using allocator_type = jitcm::allocator::basic_allocator<jitcm::protection::host_default, first_fit>;
using manager_type = jitcm::with_ref_counting<
    jitcm::with_tiering<jitcm::with_lookup<jitcm::with_allocator<jitcm::code_manager, allocator_type>, counting_lookup>,
                        three_tiers>,
    safepoint_reclaim>;
using module_type = manager_type::module;

std::uintptr_t not_compiled_yet(void*, std::uint32_t) noexcept {
  return reinterpret_cast<std::uintptr_t>(+[]() -> int { return 0; });
}

const char* tier_name(jitcm::tier t) {
  return t == three_tiers::quick ? "quick" : t == three_tiers::baseline ? "baseline" : "optimized";
}

/// Compiles function 0 at `tier` (its code returns the tier's number) and
/// reports what the slot runs afterwards.
void compile(manager_type& manager, module_type& module, jitcm::tier tier) {
  const int result = static_cast<int>(tier);
  const example::return_constant machine_code{static_cast<std::uint32_t>(result)};
  const jitcm::finished_code item{machine_code.bytes, {.index = 0, .tier = tier, .name = tier_name(tier)}};
  manager_type::code_ref_scope scope;  // holds what add_code and installed return
  auto code = module.add_code(std::span{&item, 1});
  if (!code) {
    std::printf("add_code: %s\n", code.error().message().c_str());
    return;
  }
  const jitcm::code* installed = *module.installed(0);
  const jitcm::code* found = manager.lookup((*code)[0].code->instruction_start(), scope);
  std::printf("compiled %-9s -> slot runs %-9s f() = %d   (lookup of the new code: %s)\n", tier_name(tier),
              installed ? tier_name(installed->tier()) : "lazy slot", example::function_at(*module.call_target(0))(),
              found ? std::string(found->name()).c_str() : "none");
}

}  // namespace

int main() {
  manager_type manager;
  auto created = manager.new_module({.functions = 1, .lazy = {&not_compiled_yet, nullptr}});
  if (!created) return std::printf("new_module: %s\n", created.error().message().c_str()), 1;
  module_type& module = **created;

  std::printf("-- capped at baseline (profiling):\n");
  module.set_tiering({.cap = three_tiers::baseline});
  compile(manager, module, three_tiers::quick);
  compile(manager, module, three_tiers::optimized);  // above the cap: kept out of the table
  compile(manager, module, three_tiers::baseline);

  std::printf("-- cap lifted:\n");
  module.set_tiering({});
  compile(manager, module, three_tiers::quick);  // not better than baseline: not installed
  compile(manager, module, three_tiers::optimized);

  std::printf("-- remove code below optimized:\n");
  const jitcm::removed_code removed = module.remove_code({.below = three_tiers::optimized});
  std::printf("removed %zu installed code objects; f() = %d\n", removed.count,
              example::function_at(*module.call_target(0))());
  std::printf("-- remove everything below a tier above optimized:\n");
  const jitcm::removed_code all = module.remove_code({.below = jitcm::tier{4}});
  std::printf("removed %zu (%zu bytes of code); f() = %d (the lazy slot)\n", all.count, all.code_bytes,
              example::function_at(*module.call_target(0))());
  std::printf("retired code freed by collect: %zu; the lookup policy searched %zu times\n", manager.collect({}),
              manager.lookup_policy().searches());
  return all.count == 1 && removed.count == 0 ? 0 : 1;
}
