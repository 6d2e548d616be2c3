// Cutting a batch into consecutive chunks of bounded total size.
#pragma once

#include <cstddef>
#include <span>
#include <vector>

namespace jitcm::detail {

/// Splits `items` into consecutive chunks whose `size_of` sum stays within
/// `limit`; an item larger than `limit` forms a chunk of its own. Order is
/// kept and no chunk is empty. (A plain size-based grouping: range-v3's
/// views::chunk groups by count, not by size, and would make range-v3 a
/// dependency of every user of these headers.)
template <class T, class SizeOf>
[[nodiscard]] std::vector<std::span<T>> size_chunks(std::span<T> items, std::size_t limit, SizeOf size_of) {
  std::vector<std::span<T>> chunks;
  std::size_t begin = 0;
  std::size_t total = 0;
  for (std::size_t i = 0; i < items.size(); ++i) {
    const std::size_t size = size_of(items[i]);
    if (i > begin && (size > limit || total > limit - size)) {
      chunks.push_back(items.subspan(begin, i - begin));
      begin = i;
      total = 0;
    }
    total += size;
  }
  if (begin < items.size()) chunks.push_back(items.subspan(begin));
  return chunks;
}

}  // namespace jitcm::detail
