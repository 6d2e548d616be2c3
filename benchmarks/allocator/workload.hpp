// The allocator workloads of issue 3, written once for every allocator.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <numeric>
#include <random>
#include <vector>

namespace bench {

inline constexpr std::size_t block_count = 100'000;
inline constexpr std::size_t churn_live = 50'000;
inline constexpr std::size_t churn_steps = 1'000'000;
inline constexpr std::size_t min_block = 8;
inline constexpr std::size_t max_block = 1031;

/// Precomputed random choices, so every allocator sees the same sequence and
/// the timed loops draw no random numbers.
struct script {
  std::vector<std::size_t> sizes;       ///< block_count sizes, uniform in [8, 1031]
  std::vector<std::size_t> free_order;  ///< a permutation of [0, block_count)
  std::vector<std::size_t> churn_slot;  ///< churn_steps slots in [0, churn_live)
  std::vector<std::size_t> churn_size;  ///< churn_steps sizes

  static const script& get() {
    static const script s = [] {
      script out;
      std::mt19937_64 rng{42};
      std::uniform_int_distribution<std::size_t> size(min_block, max_block);
      std::uniform_int_distribution<std::size_t> slot(0, churn_live - 1);
      out.sizes.resize(block_count);
      for (auto& s : out.sizes) s = size(rng);
      out.free_order.resize(block_count);
      std::iota(out.free_order.begin(), out.free_order.end(), std::size_t{0});
      std::shuffle(out.free_order.begin(), out.free_order.end(), rng);
      out.churn_slot.resize(churn_steps);
      out.churn_size.resize(churn_steps);
      for (std::size_t i = 0; i < churn_steps; ++i) {
        out.churn_slot[i] = slot(rng);
        out.churn_size[i] = size(rng);
      }
      return out;
    }();
    return s;
  }
};

}  // namespace bench
