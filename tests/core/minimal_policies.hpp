// The minimal conforming policies the concept headers show, compiled:
// tests/core/test_minimal_policies.cpp builds a manager of them and
// publishes, and each tests/compile_fail case defines one OMIT_* macro
// before including this header to take one required member away.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <span>
#include <vector>

#include <jitcm/allocator/concept.hpp>
#include <jitcm/base/code.hpp>
#include <jitcm/jump_table/concept.hpp>
#include <jitcm/platform/virtual_memory.hpp>
#include <jitcm/protection/rwx.hpp>
#include <jitcm/refcount/free_callback.hpp>

namespace minimal {

/// code_allocator: one code space, handed out front to back, never reused.
/// (rwx by name: the example is about the allocator contract, not W^X.)
class arena {
 public:
#if !defined(OMIT_ALLOCATOR_BLOCK)
  using block = jitcm::code_block;
#endif
#if !defined(OMIT_ALLOCATOR_WRITE_SCOPE)
  using write_scope = jitcm::protection::rwx::write_scope;
#endif
#if !defined(OMIT_ALLOCATOR_LIMITS_CONSTRUCTOR)
  explicit arena(const jitcm::allocator::module_limits& limits) : limits_{limits} {}
#endif
  ~arena() {
    if (limits_.budget != nullptr) limits_.budget->refund(committed_);
  }
  arena(const arena&) = delete;
  arena& operator=(const arena&) = delete;

#if !defined(OMIT_ALLOCATOR_ALLOCATE)
  jitcm::result<jitcm::code_block> allocate(std::size_t bytes) {
    if (bytes == 0) return jitcm::failure{jitcm::errc::invalid_argument};
    if (spaces_.empty()) {
      if (auto reserved = reserve(); !reserved) return jitcm::forward_error(reserved);
    }
    const std::size_t size = (bytes + 63) & ~std::size_t{63};
    if (size > spaces_[0].code.end() - next_) return jitcm::failure{jitcm::errc::out_of_memory};
    const jitcm::code_block b{next_, next_, size};
    next_ += size;
    live_ += size;
    return b;
  }
#endif
#if !defined(OMIT_ALLOCATOR_FREE)
  jitcm::result<void> free(const jitcm::code_block& b) {
    if (!contains(b.executable()) || b.size() > live_) return jitcm::failure{jitcm::errc::not_owned};
    live_ -= b.size();
    freed_ += b.size();
    return {};
  }
#endif
#if !defined(OMIT_ALLOCATOR_BEGIN_WRITE)
  jitcm::result<jitcm::protection::rwx::write_scope> begin_write(jitcm::address_region r) {
    return space_.begin_write(r);
  }
#endif
#if !defined(OMIT_ALLOCATOR_WRITABLE)
  std::uintptr_t writable(std::uintptr_t address) const { return address; }
#endif
#if !defined(OMIT_ALLOCATOR_CODE_SPACES)
  std::span<const jitcm::code_space> code_spaces() const { return spaces_; }
#endif
#if !defined(OMIT_ALLOCATOR_CONTAINS)
  bool contains(std::uintptr_t address) const { return !spaces_.empty() && spaces_[0].region.contains(address); }
#endif
#if !defined(OMIT_ALLOCATOR_STATS)
  jitcm::allocator_stats stats() const {
    return {.reserved = spaces_.empty() ? 0 : spaces_[0].region.size(),
            .committed = committed_,
            .live = live_,
            .freed = freed_,
            .code_spaces = spaces_.size()};
  }
#endif

 private:
  static constexpr std::size_t space_size = std::size_t{1} << 20;

  /// The space: code header (jump-table slots), data header on pages of its
  /// own, then code; all committed at once and charged to the budget.
  jitcm::result<void> reserve() {
    const std::size_t page = jitcm::platform::page_size();
    const auto round = [page](std::size_t n) { return (n + page - 1) & ~(page - 1); };
    const std::size_t code_header = round(limits_.space_code_header);
    const std::size_t data_header = round(limits_.space_data_header);
    const std::size_t size = std::min(space_size, limits_.max_code_space_size);
    if (code_header + data_header >= size) return jitcm::failure{jitcm::errc::limit_exceeded};
    if (limits_.budget != nullptr && !limits_.budget->try_charge(size)) {
      return jitcm::failure{jitcm::errc::limit_exceeded};
    }
    auto space = jitcm::protection::rwx::reserve(size);
    if (!space) {
      if (limits_.budget != nullptr) limits_.budget->refund(size);
      return jitcm::forward_error(space);
    }
    const std::uintptr_t base = space->region().begin();
    const jitcm::address_region data{base + code_header, data_header};
    const jitcm::address_region code{data.end(), size - code_header - data_header};
    if (code_header != 0) {
      if (auto ok = space->commit({base, code_header}); !ok) return ok;
    }
    if (data_header != 0) {
      if (auto ok = space->commit_data(data); !ok) return ok;
    }
    if (auto ok = space->commit(code); !ok) return ok;
    space_ = std::move(*space);
    spaces_.push_back({.region = space_.region(),
                       .code_header = {base, limits_.space_code_header},
                       .data_header = data,
                       .code = code});
    next_ = code.begin();
    committed_ = size;
    return {};
  }

  jitcm::allocator::module_limits limits_{};
  jitcm::protection::rwx::space space_{};
  std::vector<jitcm::code_space> spaces_;
  std::uintptr_t next_ = 0;
  std::size_t committed_ = 0, live_ = 0, freed_ = 0;
};

/// jump_table_emitter: a table of code addresses in the data area; callers
/// load cell i and call what it holds.
struct pointer_table {
#if !defined(OMIT_JUMP_TABLE_CODE_BYTES)
  static constexpr std::size_t code_bytes(std::size_t) { return 0; }
#endif
#if !defined(OMIT_JUMP_TABLE_DATA_BYTES)
  static constexpr std::size_t data_bytes(std::size_t n) { return 8 * n; }
#endif
#if !defined(OMIT_JUMP_TABLE_INITIALIZE)
  static jitcm::result<void> initialize(const jitcm::jump_table::table_view& v, std::uintptr_t entry) {
    for (std::uint32_t i = 0; i < v.slots; ++i) store(v, i, entry);
    return {};
  }
#endif
#if !defined(OMIT_JUMP_TABLE_CALL_TARGET)
  static std::uintptr_t call_target(const jitcm::jump_table::table_view& v, std::uint32_t i) {
    return i < v.slots ? v.data_base + 8 * i : 0;
  }
#endif
#if !defined(OMIT_JUMP_TABLE_PATCH)
  template <jitcm::jump_table::write_scope_opener Open>
  static jitcm::result<void> patch(const jitcm::jump_table::table_view& v, std::uint32_t i, std::uintptr_t t, Open&&) {
    return patch_far(v, i, t);
  }
#endif
#if !defined(OMIT_JUMP_TABLE_PATCH_FAR)
  static jitcm::result<void> patch_far(const jitcm::jump_table::table_view& v, std::uint32_t i, std::uintptr_t t) {
    if (i >= v.slots) return jitcm::failure{jitcm::errc::out_of_range};
    store(v, i, t);
    return {};
  }
#endif
#if defined(OMIT_JUMP_TABLE_SLOT_LAYOUT)
  static constexpr bool has_machine_code = true;  // says so, but tells nothing of where its slots are
#endif
  static void store(const jitcm::jump_table::table_view& v, std::uint32_t i, std::uintptr_t t) {
    std::atomic_ref{*reinterpret_cast<std::uintptr_t*>(v.data_writable_for(v.data_base + 8 * i))}.store(
        t, std::memory_order_release);
  }
};

/// code_lookup: a linear list under a lock.
class list_lookup {
 public:
#if defined(OMIT_LOOKUP_DEFAULT_CONSTRUCTOR)
  explicit list_lookup(int) {}
#endif
#if !defined(OMIT_LOOKUP_INSERT)
  jitcm::result<void> insert(const jitcm::code* c) {
    std::lock_guard lock{mutex_};
    if (!c) return jitcm::failure{jitcm::errc::invalid_argument};
    for (auto* o : codes_)
      if (o->instructions().overlaps(c->instructions())) return jitcm::failure{jitcm::errc::overlapping_region};
    codes_.push_back(c);
    return {};
  }
#endif
#if !defined(OMIT_LOOKUP_ERASE)
  jitcm::result<void> erase(const jitcm::code* c) {
    std::lock_guard lock{mutex_};
    auto it = std::find(codes_.begin(), codes_.end(), c);
    if (it == codes_.end()) return jitcm::failure{jitcm::errc::not_owned};
    codes_.erase(it);
    return {};
  }
#endif
#if !defined(OMIT_LOOKUP_FIND)
  const jitcm::code* find(std::uintptr_t pc) const {
    std::lock_guard lock{mutex_};
    for (auto* c : codes_)
      if (c->contains(pc)) return c;
    return nullptr;
  }
#endif

 private:
  mutable std::mutex mutex_;
  std::vector<const jitcm::code*> codes_;
};

/// tiering_filter: newest code wins, a flush drops everything.
struct newest_wins {
#if defined(OMIT_TIERING_DEFAULT_CONSTRUCTOR)
  explicit newest_wins(int) {}
#endif
#if !defined(OMIT_TIERING_MODULE_STATE)
  struct module_state {};
#endif
#if !defined(OMIT_TIERING_REMOVAL_FILTER)
  struct removal_filter {};
#endif
#if !defined(OMIT_TIERING_SHOULD_INSTALL)
  bool should_install(const jitcm::code&, const jitcm::code*, const module_state&) const { return true; }
#endif
#if !defined(OMIT_TIERING_SHOULD_REMOVE)
  bool should_remove(const jitcm::code&, const removal_filter&) const { return true; }
#endif
#if !defined(OMIT_TIERING_MEMORY_PRESSURE_FILTER)
  removal_filter memory_pressure_filter() const { return {}; }
#endif
};

/// ref_counting: frees nothing until the module goes.
struct keep_everything {
#if !defined(OMIT_REFCOUNT_SCOPE)
  struct scope {};
#endif
#if !defined(OMIT_REFCOUNT_RELEASE_CONSTRUCTOR)
  explicit keep_everything(jitcm::refcount::free_callback) {}
#endif
#if !defined(OMIT_REFCOUNT_HOLD)
  bool hold(const jitcm::code&) { return true; }
#endif
#if !defined(OMIT_REFCOUNT_RETIRE)
  void retire(const jitcm::code&) { ++retired_; }
#endif
#if !defined(OMIT_REFCOUNT_COLLECT)
  std::size_t collect(std::span<const jitcm::code* const>) { return 0; }
#endif
#if !defined(OMIT_REFCOUNT_RETIRED_COUNT)
  std::size_t retired_count() const { return retired_; }
#endif
  std::atomic<std::size_t> retired_{0};
};

}  // namespace minimal
