// Instructions per find, for callgrind (no hardware counters needed):
//
//   cd build-bench/benchmarks/lookup
//   valgrind --tool=callgrind --callgrind-out-file=find.out --toggle-collect='*finds_over*' ./count_find_instructions
//   callgrind_annotate --inclusive=yes find.out | grep finds_over
//
// Each `finds_over<L>` looks up the 4096 random pcs of a 100k-code
// population (bench_lookup's random_pcs workload) `rounds` times, so its
// inclusive instruction count divided by 4096 * rounds (printed) is the
// count per find, with nothing else collected.
#include <jitcm/lookup/cached.hpp>
#include <jitcm/lookup/lock_free_array.hpp>
#include <jitcm/lookup/segment_map.hpp>
#include <jitcm/lookup/sorted_map.hpp>

#include <cstdio>

#include "population.hpp"

namespace {

constexpr std::size_t codes = 100000;
constexpr int rounds = 10;

template <class Lookup>
[[gnu::noinline]] std::uintptr_t finds_over(const Lookup& lookup, const std::vector<std::uintptr_t>& pcs) {
  std::uintptr_t found = 0;
  for (int round = 0; round < rounds; ++round) {
    for (std::uintptr_t pc : pcs) found += reinterpret_cast<std::uintptr_t>(lookup.find(pc));
  }
  return found;
}

template <class Lookup>
void count(const char* name) {
  const Lookup& lookup = jitcm_bench::populated<Lookup>(codes);
  const std::uintptr_t checksum = finds_over(lookup, jitcm_bench::population(codes).random_pcs);
  std::printf("%-40s finds: %zu (checksum %zx)\n", name, jitcm_bench::code_population::pc_count * rounds,
              static_cast<std::size_t>(checksum));
}

}  // namespace

int main() {
  count<jitcm_bench::map_under_mutex>("map_under_mutex");
  count<jitcm::lookup::segment_map>("segment_map");
  count<jitcm::lookup::detail::basic_segment_map<false>>("unsynchronised_segment_map");
  count<jitcm::lookup::sorted_map>("sorted_map");
  count<jitcm::lookup::lock_free_array>("lock_free_array");
  count<jitcm::lookup::cached<jitcm::lookup::segment_map>>("cached<segment_map>");
}
