// W^X per thread on Apple silicon: MAP_JIT pages are writable for the thread
// that switched write protection off and executable for every other thread.
#pragma once

#include "../detail/assert.hpp"
#include "../base/config.hpp"

#if defined(JITCM_OS_MACOS) && defined(JITCM_ARCH_ARM64)

#include <pthread.h>
#include <sys/mman.h>

#include <cerrno>

#include <utility>

#include "../platform/instruction_cache.hpp"
#include "../platform/virtual_memory.hpp"
#include "detail/page_span.hpp"

namespace jitcm::protection {

/// macOS on Apple silicon forbids writable-then-executable anonymous pages;
/// MAP_JIT pages are RWX but each thread sees them either writable or
/// executable, switched by pthread_jit_write_protect_np, which costs a
/// register write rather than a system call. A write scope switches the
/// current thread to writing and back; other threads keep executing.
///
/// Thread safety: every member from any thread; a scope affects only the
/// thread that began it and must end there.
struct thread_toggle {
  static constexpr const char* name = "thread_toggle";
  // A scope makes pages writable for the thread that opened it only.
  static constexpr bool write_revokes_execute = false;

  class write_scope {
   public:
    write_scope() noexcept = default;
    write_scope(write_scope&& other) noexcept : executable_{std::exchange(other.executable_, {})} {}
    write_scope& operator=(write_scope&& other) noexcept {
      if (this != &other) {
        JITCM_ASSERT_CLEANUP(end());
        executable_ = std::exchange(other.executable_, {});
      }
      return *this;
    }
    ~write_scope() { JITCM_ASSERT_CLEANUP(end()); }

    result<void> end() noexcept {
      if (executable_.empty()) return {};
      if (--depth() == 0) pthread_jit_write_protect_np(1);
      platform::flush_instruction_cache(executable_.begin(), executable_.size());
      executable_ = {};
      return {};
    }

   private:
    friend class space;
    explicit write_scope(address_region executable) noexcept : executable_{executable} {
      if (depth()++ == 0) pthread_jit_write_protect_np(0);
    }
    static int& depth() noexcept {
      thread_local int open_scopes = 0;
      return open_scopes;
    }
    address_region executable_;
  };

  class space {
   public:
    space() noexcept = default;
    space(space&& other) noexcept : region_{std::exchange(other.region_, {})} {}
    space& operator=(space&& other) noexcept {
      if (this != &other) {
        if (!region_.empty()) JITCM_ASSERT_CLEANUP(platform::unmap(region_));
        region_ = std::exchange(other.region_, {});
      }
      return *this;
    }
    ~space() {
      if (!region_.empty()) JITCM_ASSERT_CLEANUP(platform::unmap(region_));
    }

    [[nodiscard]] address_region region() const noexcept { return region_; }
    // MAP_JIT pages are committed and RWX from the start; commit only checks.
    [[nodiscard]] result<void> commit(address_region part) const noexcept { return check(part); }
    [[nodiscard]] result<void> commit_data(address_region part) const noexcept { return check(part); }
    [[nodiscard]] result<void> decommit(address_region part) const noexcept {
      if (auto ok = check(part); !ok) return ok;
      if (std::error_code refused = platform::detail::injected_fault(platform::fault_point::decommit, part)) {
        return failure{refused};
      }
      if (::madvise(part.pointer(), part.size(), MADV_FREE) != 0) return system_failure(errno);
      return {};
    }
    [[nodiscard]] std::uintptr_t writable(std::uintptr_t executable_address) const noexcept {
      return executable_address;
    }
    [[nodiscard]] result<write_scope> begin_write(address_region part) const noexcept {
      if (auto ok = detail::check_inside(region_, part); !ok) return forward_error(ok);
      return write_scope{part};
    }

   private:
    friend struct thread_toggle;
    explicit space(address_region region) noexcept : region_{region} {}
    [[nodiscard]] result<void> check(address_region part) const noexcept {
      if (!platform::is_page_aligned(part)) return failure{errc::misaligned};
      return detail::check_inside(region_, part);
    }
    address_region region_;
  };

  [[nodiscard]] static result<space> reserve(std::size_t bytes, std::uintptr_t hint = 0,
                                             std::size_t alignment = 0) noexcept {
    (void)alignment;  // MAP_JIT regions cannot be trimmed to an alignment
    auto size = platform::round_up(bytes, platform::page_size());
    if (bytes == 0) return failure{errc::invalid_argument};
    if (!size) return forward_error(size);
    if (std::error_code refused = platform::detail::injected_fault(platform::fault_point::reserve, {hint, *size})) {
      return platform::detail::reservation_failure(refused);
    }
    void* base = ::mmap(reinterpret_cast<void*>(hint), *size, PROT_READ | PROT_WRITE | PROT_EXEC,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_JIT, -1, 0);
    if (base == MAP_FAILED) return platform::detail::reservation_failure({errno, std::system_category()});
    return space{address_region{reinterpret_cast<std::uintptr_t>(base), *size}};
  }
};

}  // namespace jitcm::protection

#endif
