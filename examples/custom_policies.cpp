// custom_policies: plug your own policies into basic_code_manager. Here a
// tiering policy with three tiers and a lookup policy of our own; the
// allocator, jump tables and ref counting stay the library's.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <mutex>
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
  static bool by_start(const jitcm::code* a, const jitcm::code* b) { return a->instruction_start() < b->instruction_start(); }
  mutable std::mutex mutex_;
  mutable std::size_t searches_ = 0;
  std::vector<const jitcm::code*> codes_;
};

using manager_type = jitcm::basic_code_manager<jitcm::allocator::default_allocator<>, jitcm::jump_table::host,
                                               counting_lookup, three_tiers, jitcm::refcount::scoped>;
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
              installed ? tier_name(installed->tier()) : "lazy stub",
              example::function_at(*module.call_target(0))(), found ? std::string(found->name()).c_str() : "none");
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
  std::printf("removed %zu (%zu bytes of code); f() = %d (the lazy stub)\n", all.count, all.code_bytes,
              example::function_at(*module.call_target(0))());
  std::printf("retired code freed by collect: %zu; the lookup policy searched %zu times\n", manager.collect({}),
              manager.lookup_policy().searches());
  return all.count == 1 && removed.count == 0 ? 0 : 1;
}
