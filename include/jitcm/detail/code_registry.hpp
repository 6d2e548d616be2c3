// Which code objects a module owns, the memory each lives in, and whether
// it has left the code table.
#pragma once

#include <algorithm>
#include <cstddef>
#include <memory>
#include <unordered_map>
#include <utility>
#include <vector>

#include "../base/code.hpp"

namespace jitcm::detail {

/// The code a module owns, from publication until it is freed: each code
/// object with the allocator block under its instructions and whether it
/// was retired (left the code table, waiting for the ref-counting policy).
/// `Block` is the allocator's block type.
///
/// | expression               | result            | guarantees |
/// |--------------------------|-------------------|------------|
/// | `r.adopt(object, block)` | `void`            | `object` and its block are owned from now on |
/// | `r.find(c)`              | `entry*`          | the entry of `c`, or nullptr if not owned (c may be null) |
/// | `r.erase(c)`             | `void`            | drops `c`'s entry (and with it the code object); nothing if not owned |
/// | `r.size()`               | `size_t`          | code objects owned |
/// | `r.bytes()`              | `owned_bytes`     | instruction and metadata bytes of everything owned |
/// | `r.by_descending_address()` | `vector<entry*>` | every entry, highest instruction start first |
/// | `r.clear()`              | `void`            | drops every entry |
///
///     detail::code_registry<code_block> owned;
///     owned.adopt(std::move(*created), block);
///     if (auto* entry = owned.find(c); entry != nullptr && !entry->retired) entry->retired = true;
///
/// Thread safety: none of its own; the owner serialises every call
/// (native_module: these are fields guarded by its `mutex_`).
template <class Block>
class code_registry {
 public:
  struct entry {
    std::unique_ptr<code> object;
    Block memory;
    bool retired = false;
  };
  struct owned_bytes {
    std::size_t code = 0;
    std::size_t metadata = 0;
  };

  void adopt(std::unique_ptr<code> object, const Block& memory) {
    if (!entries_) entries_ = std::make_unique<table>();
    const code* key = object.get();
    entries_->map.emplace(key, entry{std::move(object), memory, false});
  }

  [[nodiscard]] entry* find(const code* c) noexcept {
    if (!entries_) return nullptr;
    const auto found = entries_->map.find(c);
    return found == entries_->map.end() ? nullptr : &found->second;
  }

  [[nodiscard]] bool contains(const code* c) const noexcept { return entries_ && entries_->map.contains(c); }

  void erase(const code* c) noexcept {
    if (entries_) entries_->map.erase(c);
  }

  void clear() noexcept { entries_.reset(); }

  [[nodiscard]] std::size_t size() const noexcept { return entries_ ? entries_->map.size() : 0; }

  [[nodiscard]] owned_bytes bytes() const noexcept {
    owned_bytes total;
    if (!entries_) return total;
    for (const auto& [pointer, owned] : entries_->map) {
      total.code += pointer->instructions_size();
      total.metadata += pointer->metadata_bytes();
    }
    return total;
  }

  /// Code freed together goes in descending address order, which keeps
  /// unwind-info deregistration linear (observe/unwind_registry.hpp).
  [[nodiscard]] std::vector<entry*> by_descending_address() {
    std::vector<entry*> sorted;
    if (!entries_) return sorted;
    sorted.reserve(entries_->map.size());
    for (auto& [pointer, owned] : entries_->map) sorted.push_back(&owned);
    std::sort(sorted.begin(), sorted.end(), [](const entry* a, const entry* b) {
      return a->object->instruction_start() > b->object->instruction_start();
    });
    return sorted;
  }

 private:
  // Declared here and defined below, and created by the first adopt: a
  // module's class (which every TU of a separately compiled program
  // instantiates through an extern declaration) then names the hash map
  // without instantiating it.
  struct table;
  std::unique_ptr<table> entries_;
};

template <class Block>
struct code_registry<Block>::table {
  std::unordered_map<const code*, entry> map;
};

}  // namespace jitcm::detail
