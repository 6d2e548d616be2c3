// The allocator workloads of issue 3, written once for every allocator: the
// script of sizes and orders, and the three phases the benchmark times and
// the instruction counter counts.
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

/// Phase (a): allocates block i with script size i, into `blocks` (sized by
/// the caller).
template <class Subject, class Handles>
void allocate_blocks(Subject& subject, Handles& blocks, const script& s) {
  for (std::size_t i = 0; i < blocks.size(); ++i) blocks[i] = subject.allocate(s.sizes[i]);
}

/// Phase (b): frees every block of phase (a) in the script's random order.
template <class Subject, class Handles>
void free_blocks(Subject& subject, const Handles& blocks, const script& s) {
  for (std::size_t i : s.free_order) subject.free(blocks[i]);
}

/// Phase (c): frees a random one of churn_live blocks and allocates another
/// in its slot, `steps` times; `sizes` follows what is live.
template <class Subject, class Handles>
void churn_blocks(Subject& subject, Handles& blocks, std::vector<std::size_t>& sizes, const script& s,
                  std::size_t steps = churn_steps) {
  for (std::size_t i = 0; i < steps; ++i) {
    const std::size_t slot = s.churn_slot[i];
    subject.free(blocks[slot]);
    blocks[slot] = subject.allocate(s.churn_size[i]);
    sizes[slot] = s.churn_size[i];
  }
}

}  // namespace bench
