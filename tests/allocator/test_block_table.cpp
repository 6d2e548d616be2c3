// detail::block_table on its own: the start bitmap, the free-end entries and
// their bitmap, against plain vectors; across word boundaries, at the ends,
// and when the allocation is refused.
#include <jitcm/allocator/detail/block_table.hpp>

#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

#include "../faults/fault_injector.hpp"
#include "catch.hpp"

using jitcm::allocator::detail::block_table;

namespace {

// The model's answers to the table's two searches.
std::size_t model_next_start(const std::vector<bool>& starts, std::size_t g) {
  for (std::size_t k = g + 1; k < starts.size(); ++k) {
    if (starts[k]) return k;
  }
  return starts.size();
}

std::size_t model_start_at_or_below(const std::vector<bool>& starts, std::size_t g) {
  for (std::size_t k = g + 1; k-- > 0;) {
    if (starts[k]) return k;
  }
  return 0;  // granule 0 always holds a start in these tests
}

}  // namespace

TEST_CASE("block_table searches start bits across words and stops at its end", "[allocator][block_table]") {
  auto t = block_table::make(200);
  REQUIRE(t);
  REQUIRE(t->granules() == 200);
  t->set_start(0);
  REQUIRE(t->next_start(0) == 200);  // nothing above: the end
  t->set_start(63);
  t->set_start(64);
  t->set_start(190);
  REQUIRE(t->next_start(0) == 63);
  REQUIRE(t->next_start(63) == 64);
  REQUIRE(t->next_start(64) == 190);  // two words on
  REQUIRE(t->next_start(190) == 200);
  REQUIRE(t->next_start(199) == 200);
  REQUIRE(t->start_at_or_below(62) == 0);
  REQUIRE(t->start_at_or_below(63) == 63);
  REQUIRE(t->start_at_or_below(189) == 64);
  REQUIRE(t->start_at_or_below(199) == 190);
  t->clear_start(64);
  REQUIRE_FALSE(t->is_start(64));
  REQUIRE(t->next_start(63) == 190);
  REQUIRE(t->start_at_or_below(150) == 63);
}

TEST_CASE("block_table free-end entries and their bits agree and leave the start bits alone",
          "[allocator][block_table]") {
  auto t = block_table::make(130);
  REQUIRE(t);
  for (std::size_t g = 0; g < 130; ++g) {
    REQUIRE(t->free_end(g) == 0);  // zeroed: no free block anywhere
    REQUIRE_FALSE(t->is_free_end(g));
    REQUIRE_FALSE(t->is_start(g));
  }
  t->set_free_end(64, 7);
  t->set_free_end(129, 0xFFFFFFFF);
  REQUIRE(t->free_end(64) == 7);
  REQUIRE(t->is_free_end(64));
  REQUIRE(t->free_end(129) == 0xFFFFFFFF);
  REQUIRE(t->is_free_end(129));
  // The interleaved words do not leak into each other.
  REQUIRE_FALSE(t->is_start(64));
  REQUIRE(t->next_start(0) == 130);
  t->set_start(65);
  REQUIRE_FALSE(t->is_free_end(65));
  t->set_free_end(64, 0);
  REQUIRE(t->free_end(64) == 0);
  REQUIRE_FALSE(t->is_free_end(64));
  REQUIRE(t->is_start(65));
}

TEST_CASE("block_table matches a model under random updates", "[allocator][block_table]") {
  const std::size_t granules = GENERATE(std::size_t{1}, std::size_t{64}, std::size_t{65}, std::size_t{1000});
  auto t = block_table::make(granules);
  REQUIRE(t);
  std::vector<bool> starts(granules, false);
  std::vector<std::uint32_t> ends(granules, 0);
  t->set_start(0);
  starts[0] = true;
  std::mt19937_64 rng{granules};
  for (int step = 0; step < 20000; ++step) {
    const std::size_t g = rng() % granules;
    switch (rng() % 4) {
      case 0:
        t->set_start(g);
        starts[g] = true;
        break;
      case 1:
        if (g != 0) {
          t->clear_start(g);
          starts[g] = false;
        }
        break;
      case 2: {
        const auto value = static_cast<std::uint32_t>(rng() % 3 == 0 ? 0 : rng());
        t->set_free_end(g, value);
        ends[g] = value;
        break;
      }
      default:
        break;
    }
    const std::size_t probe = rng() % granules;
    REQUIRE(t->is_start(probe) == starts[probe]);
    REQUIRE(t->free_end(probe) == ends[probe]);
    REQUIRE(t->is_free_end(probe) == (ends[probe] != 0));
    REQUIRE(t->next_start(probe) == model_next_start(starts, probe));
    REQUIRE(t->start_at_or_below(probe) == model_start_at_or_below(starts, probe));
  }
}

TEST_CASE("a refused block_table allocation is reported as none", "[allocator][block_table][faults]") {
  jitcm::testing::fault_injector refuse{jitcm::testing::fault_injector::every_call,
                                        {jitcm::platform::fault_point::side_allocation}};
  REQUIRE_FALSE(block_table::make(100));
}

TEST_CASE("a group with more entries than its line holds spills them and takes them back", "[allocator][block_table]") {
  auto t = block_table::make(192);
  REQUIRE(t);
  // Every granule of the middle group gets an entry, in a scattered order;
  // the groups on either side keep theirs inline.
  t->set_free_end(63, 1000);
  t->set_free_end(128, 2000);
  std::vector<std::size_t> order(64);
  for (std::size_t k = 0; k < 64; ++k) order[k] = 64 + (k * 37) % 64;
  for (std::size_t k = 0; k < 64; ++k) {
    t->set_free_end(order[k], static_cast<std::uint32_t>(order[k] + 1));
    for (std::size_t j = 0; j <= k; ++j) REQUIRE(t->free_end(order[j]) == order[j] + 1);
  }
  REQUIRE(t->free_end(63) == 1000);
  REQUIRE(t->free_end(128) == 2000);
  t->set_free_end(100, 7);  // overwriting a spilled entry
  REQUIRE(t->free_end(100) == 7);
  // Removed down to none, then the group is inline again and clean.
  for (std::size_t k = 0; k < 64; ++k) {
    t->set_free_end(order[k], 0);
    REQUIRE_FALSE(t->is_free_end(order[k]));
    REQUIRE(t->free_end(order[k]) == 0);
    for (std::size_t j = k + 1; j < 64; ++j) REQUIRE(t->free_end(order[j]) == (order[j] == 100 ? 7 : order[j] + 1));
  }
  for (std::size_t g = 64; g < 128; ++g) REQUIRE(t->free_end(g) == 0);
  for (std::size_t g = 64; g < 64 + block_table::inline_entries + 1; ++g) t->set_free_end(g, 5);
  for (std::size_t g = 64; g < 64 + block_table::inline_entries + 1; ++g) REQUIRE(t->free_end(g) == 5);
  REQUIRE(t->free_end(63) == 1000);
  REQUIRE(t->free_end(128) == 2000);
}

TEST_CASE("block_table moves an entry within a group, across groups and out of a spilled group",
          "[allocator][block_table]") {
  auto t = block_table::make(256);
  REQUIRE(t);
  t->set_free_end(3, 11);
  t->set_free_end(5, 22);
  t->move_free_end(3, 40);  // within the group, another entry beside it
  REQUIRE_FALSE(t->is_free_end(3));
  REQUIRE(t->free_end(3) == 0);
  REQUIRE(t->free_end(40) == 11);
  REQUIRE(t->free_end(5) == 22);
  t->move_free_end(40, 70);  // to the next group
  REQUIRE(t->free_end(40) == 0);
  REQUIRE(t->free_end(70) == 11);
  REQUIRE(t->free_end(5) == 22);
  for (std::size_t g = 128; g < 128 + block_table::inline_entries + 2; ++g) {
    t->set_free_end(g, static_cast<std::uint32_t>(g));  // the third group spills
  }
  t->move_free_end(130, 190);  // inside a spilled group
  REQUIRE(t->free_end(130) == 0);
  REQUIRE(t->free_end(190) == 130);
  t->move_free_end(131, 200);  // out of it
  REQUIRE(t->free_end(131) == 0);
  REQUIRE(t->free_end(200) == 131);
  for (std::size_t g = 128; g < 128 + block_table::inline_entries + 2; ++g) {
    if (g != 130 && g != 131) REQUIRE(t->free_end(g) == g);
  }
}
