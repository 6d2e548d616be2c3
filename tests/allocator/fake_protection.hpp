// A W^X strategy over pretend address space, for allocator unit tests: it
// hands out address ranges that are never mapped, remembers which pages are
// committed so tests can check the allocator's bookkeeping against it, and
// fails on request.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include <jitcm/address_region.hpp>
#include <jitcm/platform/virtual_memory.hpp>
#include <jitcm/protection/strategy.hpp>
#include <jitcm/base/result.hpp>

namespace jitcm::testing {

struct fake_protection {
  static constexpr const char* name = "fake";
  // Nothing is mapped, so nothing loses execute permission; blocks pack as
  // the allocator tests expect.
  static constexpr bool write_revokes_execute = false;

  /// Knobs shared by every fake space (tests that use them run alone).
  struct controls {
    std::atomic<int> commits_until_failure{-1};  ///< -1: never fail; n: the n+1-th commit fails
    std::atomic<bool> refuse_reserve{false};
    std::atomic<std::uintptr_t> next_base{std::uintptr_t{1} << 44};
    std::atomic<long> commit_calls{0};
    std::atomic<long> decommit_calls{0};
  };
  static controls& control() {
    static controls c;
    return c;
  }

  struct write_scope {
    result<void> end() { return {}; }
  };

  class space {
   public:
    space() = default;
    [[nodiscard]] address_region region() const { return region_; }
    [[nodiscard]] result<void> commit(address_region r) { return set(r, state::code); }
    [[nodiscard]] result<void> commit_data(address_region r) { return set(r, state::data); }
    [[nodiscard]] result<void> decommit(address_region r) {
      control().decommit_calls.fetch_add(1);
      if (auto ok = check(r); !ok) return ok;
      for (std::size_t p = first(r); p < first(r) + r.size() / page(); ++p) (*pages_)[p] = state::none;
      return {};
    }
    [[nodiscard]] std::uintptr_t writable(std::uintptr_t a) const { return a; }
    [[nodiscard]] result<write_scope> begin_write(address_region r) {
      if (!region_.contains(r)) return failure{errc::out_of_range};
      return write_scope{};
    }

    [[nodiscard]] bool committed_code(std::uintptr_t a) const {
      return region_.contains(a) && (*pages_)[(a - region_.begin()) / page()] == state::code;
    }
    [[nodiscard]] std::size_t committed_bytes() const {
      std::size_t n = 0;
      for (state s : *pages_) n += s != state::none ? page() : 0;
      return n;
    }

   private:
    friend struct fake_protection;
    enum class state : unsigned char { none, code, data };
    static std::size_t page() { return platform::page_size(); }
    std::size_t first(address_region r) const { return (r.begin() - region_.begin()) / page(); }
    result<void> check(address_region r) const {
      if (r.empty() || !platform::is_page_aligned(r)) return failure{errc::misaligned};
      if (!region_.contains(r)) return failure{errc::out_of_range};
      return {};
    }
    result<void> set(address_region r, state s) {
      control().commit_calls.fetch_add(1);
      if (auto ok = check(r); !ok) return ok;
      int left = control().commits_until_failure.load();
      if (left == 0) return failure{std::error_code{ENOMEM, std::system_category()}};
      if (left > 0) control().commits_until_failure.store(left - 1);
      for (std::size_t p = first(r); p < first(r) + r.size() / page(); ++p) (*pages_)[p] = s;
      return {};
    }

    address_region region_;
    std::unique_ptr<std::vector<state>> pages_;
  };

  static result<space> reserve(std::size_t bytes, std::uintptr_t = 0, std::size_t alignment = 0) {
    if (control().refuse_reserve.load()) return failure{errc::address_space_exhausted};
    if (bytes == 0) return failure{errc::invalid_argument};
    const std::size_t page = platform::page_size();
    const std::size_t align = alignment > page ? alignment : page;
    if (bytes > (std::size_t{1} << 46)) return failure{errc::address_space_exhausted};
    const std::size_t size = (bytes + page - 1) & ~(page - 1);
    // Spaces touch, as the OS often places them: allocators must not merge
    // free space across them.
    std::uintptr_t base = control().next_base.load();
    std::uintptr_t aligned = 0;
    do {
      aligned = (base + align - 1) & ~(align - 1);
    } while (!control().next_base.compare_exchange_weak(base, aligned + size));
    base = aligned;
    space s;
    s.region_ = {base, size};
    s.pages_ = std::make_unique<std::vector<space::state>>(size / page, space::state::none);
    return s;
  }
};

static_assert(protection::strategy<fake_protection>);

}  // namespace jitcm::testing
