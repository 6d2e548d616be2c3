// What the lookup benchmarks share: V8's lookup written out as the peer,
// and code objects laid out as an allocator hands them out.
#pragma once

#include <jitcm/base/code.hpp>

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <vector>

#include <range/v3/range/conversion.hpp>
#include <range/v3/view/generate_n.hpp>

namespace jitcm_bench {

/// V8's WasmCodeManager::LookupCodeSpace / NativeModule::Lookup shape: a
/// std::map keyed by start address under a mutex. Written here so the
/// comparison does not depend on jitcm's own sorted_map.
class map_under_mutex {
 public:
  jitcm::result<void> insert(const jitcm::code* c) {
    std::lock_guard lock{mutex_};
    codes_.emplace(c->instructions().begin(), c);
    return {};
  }
  jitcm::result<void> erase(const jitcm::code* c) {
    std::lock_guard lock{mutex_};
    codes_.erase(c->instructions().begin());
    return {};
  }
  const jitcm::code* find(std::uintptr_t pc) const {
    std::lock_guard lock{mutex_};
    auto it = codes_.upper_bound(pc);
    if (it == codes_.begin()) return nullptr;
    --it;
    return it->second->instructions().contains(pc) ? it->second : nullptr;
  }

 private:
  mutable std::mutex mutex_;
  std::map<std::uintptr_t, const jitcm::code*> codes_;
};

/// N code objects of 64..1087 bytes at 64-byte-aligned made-up addresses,
/// back to back in code spaces of 16 MiB with 1 GiB between them (never
/// executed; lookups only read their ranges), and the pcs to look up.
struct code_population {
  std::vector<std::unique_ptr<jitcm::code>> codes;
  std::vector<std::uintptr_t> random_pcs;  // uniformly over all code: a sampling profiler
  std::vector<std::uintptr_t> hot_pcs;     // 64 return addresses in 16 functions: stack walks of a hot loop

  static constexpr std::size_t pc_count = 4096;  // a power of two

  explicit code_population(std::size_t count) {
    constexpr std::uintptr_t first_space = std::uintptr_t{1} << 40;
    constexpr std::uintptr_t space_size = std::uintptr_t{16} << 20, space_stride = std::uintptr_t{1} << 30;
    std::mt19937_64 rng{42};
    std::uniform_int_distribution<std::size_t> size{64, 1087};
    std::uintptr_t space = first_space, at = first_space;
    for (std::size_t i = 0; i < count; ++i) {
      jitcm::code_desc desc;
      desc.instructions = {at, size(rng)};
      if (desc.instructions.end() > space + space_size) {
        space += space_stride;
        desc.instructions = {space, desc.instructions.size()};
      }
      desc.index = static_cast<std::uint32_t>(i);
      codes.push_back(std::move(*jitcm::code::create(desc)));
      at = desc.instructions.begin() + ((desc.instructions.size() + 63) & ~std::size_t{63});
    }
    std::uniform_int_distribution<std::size_t> pick{0, count - 1};
    const auto pc_in = [&](const jitcm::code& c) { return c.instructions().begin() + rng() % c.instructions().size(); };
    using ranges::views::generate_n;
    random_pcs = generate_n([&] { return pc_in(*codes[pick(rng)]); }, pc_count) | ranges::to<std::vector>();
    const auto return_addresses =
        generate_n([&] { return pc_in(*codes[pick(rng) % 16]); }, 64) | ranges::to<std::vector>();
    hot_pcs = generate_n([&] { return return_addresses[rng() % 64]; }, pc_count) | ranges::to<std::vector>();
  }
};

/// One population per size, made once.
inline const code_population& population(std::size_t count) {
  static std::map<std::size_t, std::unique_ptr<code_population>> made;
  static std::mutex lock;
  std::lock_guard guard{lock};
  auto& slot = made[count];
  if (!slot) slot = std::make_unique<code_population>(count);
  return *slot;
}

/// One lookup of each type per population size, holding all its code, made
/// once (building a million-code map takes longer than measuring it).
template <class Lookup>
Lookup& populated(std::size_t count) {
  static std::map<std::size_t, std::unique_ptr<Lookup>> made;
  static std::mutex lock;
  std::lock_guard guard{lock};
  auto& slot = made[count];
  if (!slot) {
    slot = std::make_unique<Lookup>();
    for (const auto& c : population(count).codes) (void)slot->insert(c.get());
  }
  return *slot;
}

}  // namespace jitcm_bench
