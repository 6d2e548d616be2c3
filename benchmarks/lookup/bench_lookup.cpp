// Program-counter lookup: jitcm's lookup policies against V8's design, a
// std::map keyed by start address under a mutex, written out here as the
// peer so the comparison does not depend on jitcm's own sorted_map.
//
// Workloads, each over N code objects of 64..1087 bytes laid out as an
// allocator would:
// - random:  pcs drawn uniformly from all code (a sampling profiler);
// - hot:     64 return addresses in 16 functions, over and over (stack walks
//            of a hot loop: what a hashed cache in front is for);
// - threads: the random workload on two threads at once (lock contention).
#include <benchmark/benchmark.h>

#include <jitcm/lookup/cached.hpp>
#include <jitcm/lookup/lock_free_array.hpp>
#include <jitcm/lookup/sorted_map.hpp>

#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <vector>

namespace {

/// V8's WasmCodeManager::LookupCodeSpace / NativeModule::Lookup shape.
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

/// N code objects at made-up addresses (never executed; lookup only reads
/// their ranges) and the pcs to look up.
struct code_population {
  std::vector<std::unique_ptr<jitcm::code>> codes;
  std::vector<std::uintptr_t> random_pcs;
  std::vector<std::uintptr_t> hot_pcs;

  explicit code_population(std::size_t count) {
    std::mt19937_64 rng{42};
    std::uniform_int_distribution<std::size_t> size{64, 1087};
    std::uintptr_t at = std::uintptr_t{1} << 40;
    for (std::size_t i = 0; i < count; ++i) {
      jitcm::code_desc desc;
      desc.instructions = {at, size(rng)};
      desc.index = static_cast<std::uint32_t>(i);
      codes.push_back(std::move(*jitcm::code::create(desc)));
      at += (desc.instructions.size() + 63) & ~std::size_t{63};
    }
    std::uniform_int_distribution<std::size_t> pick{0, count - 1};
    const auto pc_in = [&](const jitcm::code& c) {
      return c.instructions().begin() + rng() % c.instructions().size();
    };
    for (int i = 0; i < 4096; ++i) random_pcs.push_back(pc_in(*codes[pick(rng)]));
    // A hot loop's stack walks see the same few return addresses again and
    // again: 64 distinct pcs in 16 functions.
    std::vector<std::uintptr_t> return_addresses;
    for (int i = 0; i < 64; ++i) return_addresses.push_back(pc_in(*codes[pick(rng) % 16]));
    for (int i = 0; i < 4096; ++i) hot_pcs.push_back(return_addresses[rng() % 64]);
  }
};

const code_population& population(std::size_t count) {
  static std::map<std::size_t, std::unique_ptr<code_population>> made;
  static std::mutex lock;
  std::lock_guard guard{lock};
  auto& slot = made[count];
  if (!slot) slot = std::make_unique<code_population>(count);
  return *slot;
}

template <class Lookup>
void find_pcs(benchmark::State& state, bool hot) {
  static Lookup* shared = nullptr;
  const auto& codes = population(static_cast<std::size_t>(state.range(0)));
  if (state.thread_index() == 0) {
    shared = new Lookup{};
    for (const auto& c : codes.codes) (void)shared->insert(c.get());
  }
  const auto& pcs = hot ? codes.hot_pcs : codes.random_pcs;
  std::size_t i = static_cast<std::size_t>(state.thread_index()) * 997;
  for (auto _ : state) {
    benchmark::DoNotOptimize(shared->find(pcs[i++ & 4095]));
  }
  state.SetItemsProcessed(state.iterations());
  if (state.thread_index() == 0) {
    delete shared;
    shared = nullptr;
  }
}

template <class Lookup>
void random_pcs(benchmark::State& state) { find_pcs<Lookup>(state, false); }
template <class Lookup>
void hot_pcs(benchmark::State& state) { find_pcs<Lookup>(state, true); }

using jitcm::lookup::cached;
using jitcm::lookup::lock_free_array;
using jitcm::lookup::sorted_map;

#define JITCM_LOOKUP_BENCHMARKS(L)                                   \
  BENCHMARK_TEMPLATE(random_pcs, L)->Arg(1000)->Arg(20000);          \
  BENCHMARK_TEMPLATE(hot_pcs, L)->Arg(20000);                        \
  BENCHMARK_TEMPLATE(random_pcs, L)->Arg(20000)->Threads(2)->UseRealTime();

JITCM_LOOKUP_BENCHMARKS(map_under_mutex)
JITCM_LOOKUP_BENCHMARKS(sorted_map)
JITCM_LOOKUP_BENCHMARKS(lock_free_array)
JITCM_LOOKUP_BENCHMARKS(cached<sorted_map>)
JITCM_LOOKUP_BENCHMARKS(cached<lock_free_array>)

}  // namespace

BENCHMARK_MAIN();
