// platform::dual_mapped_reservation on Windows: a pagefile-backed section
// (CreateFileMapping with SEC_RESERVE, so only committed pages count against
// the commit limit) mapped twice, once for execution and once for writing.
//
// The views are mapped with MapViewOfFile3 (Windows 10 1803 and later), or
// where the process has no MapViewOfFile3, with MapViewOfFileEx; the
// executable view at an aligned range platform::reserve found free a moment
// before (Windows cannot align a view itself: MapViewOfFile3's alignment
// requirement is not honoured by Wine 8), retried elsewhere when another
// thread took the range in between.
//
// Windows cannot decommit pages of a section view (VirtualFree refuses):
// decommit zeroes the pages through the writable view, tells the OS their
// contents may be dropped (MEM_RESET) and makes both views inaccessible, so
// the pages read as zero when committed again, as everywhere else.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <utility>

#include "../reservation.hpp"
#include "windows_api.hpp"
#include "page_calls.hpp"
#include "windows_virtual_memory.hpp"

#if defined(JITCM_OS_WINDOWS)

namespace jitcm::platform {

namespace detail {

/// How the views of a dual mapping are placed.
enum class windows_view_api {
  best,                 ///< MapViewOfFile3 where the process has it, else MapViewOfFileEx
  map_view_of_file3,    ///< MapViewOfFile3 only (errc::unsupported where it is missing)
  map_view_of_file_ex,  ///< MapViewOfFileEx only
};

using map_view_of_file3_function = PVOID(WINAPI*)(HANDLE, HANDLE, PVOID, ULONG64, SIZE_T, ULONG, ULONG,
                                                  MEM_EXTENDED_PARAMETER*, ULONG);

/// MapViewOfFile3 from kernelbase.dll, or nullptr before Windows 10 1803
/// (looked up at run time so that the program still starts there).
[[nodiscard]] inline map_view_of_file3_function map_view_of_file3() noexcept {
  static const map_view_of_file3_function function = [] {
    HMODULE kernelbase = GetModuleHandleW(L"kernelbase.dll");
    if (kernelbase == nullptr) return map_view_of_file3_function{nullptr};
    return reinterpret_cast<map_view_of_file3_function>(
        reinterpret_cast<void*>(GetProcAddress(kernelbase, "MapViewOfFile3")));
  }();
  return function;
}

[[nodiscard]] inline std::error_code windows_error(DWORD code = GetLastError()) noexcept {
  return {static_cast<int>(code), std::system_category()};
}

/// The page protection of each view and the access MapViewOfFileEx asks for.
struct windows_view_kind {
  ULONG protection;
  DWORD desired_access;
};
inline constexpr windows_view_kind executable_view{PAGE_EXECUTE_READ, FILE_MAP_READ | FILE_MAP_EXECUTE};
inline constexpr windows_view_kind writable_view{PAGE_READWRITE, FILE_MAP_WRITE};

/// Maps all `size` bytes of `section` at `at` (0: where the OS likes).
/// Returns nullptr with GetLastError() set (ERROR_INVALID_ADDRESS when
/// something else lies at `at`).
[[nodiscard]] inline void* map_section_view(HANDLE section, std::size_t size, std::uintptr_t at, windows_view_kind kind,
                                            windows_view_api api) noexcept {
  if (api != windows_view_api::map_view_of_file_ex) {
    if (map_view_of_file3_function map = map_view_of_file3()) {
      return map(section, GetCurrentProcess(), reinterpret_cast<void*>(at), 0, size, 0, kind.protection, nullptr, 0);
    }
    if (api == windows_view_api::map_view_of_file3) {
      SetLastError(ERROR_NOT_SUPPORTED);
      return nullptr;
    }
  }
  return MapViewOfFileEx(section, kind.desired_access, 0, 0, size, reinterpret_cast<void*>(at));
}

}  // namespace detail

/// A reservation whose pages are one pagefile-backed section seen at two
/// addresses: `executable()` (read-execute once committed) and `writable()`
/// (read-write once committed). Offsets match: the byte at executable
/// address `a` is written at `a + write_offset()`.
///
/// Every operation that changes both views changes both or, when the OS
/// refuses the second, undoes the first and reports the error.
///
/// Thread safety: as platform::reservation.
class dual_mapped_reservation {
 public:
  dual_mapped_reservation() noexcept = default;

  /// Errors: as platform::reserve; the OS error of CreateFileMapping or of
  /// mapping a view (ERROR_NOT_SUPPORTED when `api` asks for MapViewOfFile3
  /// and the process has none); nothing is reserved or open on error.
  [[nodiscard]] static result<dual_mapped_reservation> reserve(
      std::size_t bytes, std::uintptr_t hint = 0, std::size_t alignment = 0,
      detail::windows_view_api api = detail::windows_view_api::best) noexcept {
    dual_mapped_reservation dual;
    for (int attempt = 1;; ++attempt) {
      // A free range of the right size and alignment (platform::reserve
      // checks and rounds the request), given back for the executable view.
      auto range = platform::reserve(bytes, hint, alignment);
      if (!range) return forward_error(range);
      (void)platform::unmap(*range);
      if (dual.section_ == nullptr) {
        if (auto ok = dual.create_section(range->size()); !ok) return failure{ok.error()};
      }
      auto mapped = dual.map(dual.executable_, range->size(), range->begin(), detail::executable_view, api);
      if (mapped) break;
      // Another thread took the range in between: look again, elsewhere.
      if (mapped.error() != detail::windows_error(ERROR_INVALID_ADDRESS) ||
          attempt == detail::windows_placement_attempts) {
        return failure{mapped.error()};
      }
      hint = 0;
    }
    if (auto ok = dual.map(dual.writable_, dual.executable_.size(), 0, detail::writable_view, api); !ok) {
      return failure{ok.error()};
    }
    return dual;
  }

  dual_mapped_reservation(dual_mapped_reservation&& other) noexcept
      : executable_{std::exchange(other.executable_, {})},
        writable_{std::exchange(other.writable_, {})},
        section_{std::exchange(other.section_, nullptr)} {}
  dual_mapped_reservation& operator=(dual_mapped_reservation&& other) noexcept {
    if (this != &other) {
      (void)unmap();
      executable_ = std::exchange(other.executable_, {});
      writable_ = std::exchange(other.writable_, {});
      section_ = std::exchange(other.section_, nullptr);
    }
    return *this;
  }
  dual_mapped_reservation(const dual_mapped_reservation&) = delete;
  dual_mapped_reservation& operator=(const dual_mapped_reservation&) = delete;
  ~dual_mapped_reservation() { (void)unmap(); }

  /// The addresses code runs at.
  [[nodiscard]] address_region executable() const noexcept { return executable_; }
  /// The addresses code is written at.
  [[nodiscard]] address_region writable() const noexcept { return writable_; }
  [[nodiscard]] std::uintptr_t write_offset() const noexcept { return writable_.begin() - executable_.begin(); }

  /// Commits `part` (executable addresses) with access `executable_access`
  /// in the executable view and read-write in the writable view. On error
  /// both views of `part` are inaccessible, as before.
  [[nodiscard]] result<void> commit(address_region part,
                                    access executable_access = access::read_execute) const noexcept {
    if (auto ok = check(part); !ok) return ok;
    if (auto ok = commit_view(part, executable_access); !ok) return ok;
    if (auto ok = commit_view(shifted(part), access::read_write); !ok) {
      (void)detail::change_protection(part, access::none, fault_point::protect);
      return ok;
    }
    return {};
  }

  /// Zeroes `part` (executable addresses), lets the OS drop its memory and
  /// makes both views of it inaccessible; the range stays reserved and reads
  /// as zero once committed again. On error both views keep their access;
  /// the contents may already read as zero.
  [[nodiscard]] result<void> decommit(address_region part) const noexcept {
    if (auto ok = check(part); !ok) return ok;
    if (std::error_code refused = detail::injected_fault(fault_point::decommit, part)) return failure{refused};
    const address_region written = shifted(part);
    std::memset(written.pointer(), 0, written.size());
    // A hint: the pages are zero either way, whether the OS drops them or not.
    (void)VirtualAlloc(written.pointer(), written.size(), MEM_RESET, PAGE_NOACCESS);
    if (auto ok = detail::change_protection(written, access::none, fault_point::protect); !ok) return ok;
    if (auto ok = detail::change_protection(part, access::none, fault_point::protect); !ok) {
      (void)detail::change_protection(written, access::read_write, fault_point::protect);
      return ok;
    }
    return {};
  }

  /// Unmaps both views and closes the section. Errors: already_unmapped on
  /// a second call; the first OS error of a view whose unmapping was refused
  /// (the address space then stays taken; the section's memory goes back
  /// with its last view).
  result<void> unmap() noexcept {
    if (section_ == nullptr) return failure{errc::already_unmapped};
    result<void> outcome = unmap(executable_);
    if (auto ok = unmap(writable_); !ok && outcome) outcome = ok;
    CloseHandle(std::exchange(section_, nullptr));
    return outcome;
  }

 private:
  // Pages count against the commit limit only once committed (SEC_RESERVE).
  [[nodiscard]] result<void> create_section(std::size_t size) noexcept {
    if (std::error_code refused = detail::injected_fault(fault_point::create_shared_memory)) return failure{refused};
    const auto wide = static_cast<std::uint64_t>(size);
    section_ = CreateFileMappingW(INVALID_HANDLE_VALUE, nullptr, PAGE_EXECUTE_READWRITE | SEC_RESERVE,
                                  static_cast<DWORD>(wide >> 32), static_cast<DWORD>(wide), nullptr);
    if (section_ == nullptr) return failure{detail::windows_error()};
    return {};
  }

  [[nodiscard]] result<void> map(address_region& view, std::size_t size, std::uintptr_t at,
                                 detail::windows_view_kind kind, detail::windows_view_api api) noexcept {
    if (std::error_code refused = detail::injected_fault(fault_point::map_shared_memory, {at, size})) {
      return failure{refused};
    }
    void* base = detail::map_section_view(section_, size, at, kind, api);
    if (base == nullptr) return failure{detail::windows_error()};
    view = {reinterpret_cast<std::uintptr_t>(base), size};
    return {};
  }

  [[nodiscard]] static result<void> unmap(address_region& view) noexcept {
    if (view.empty()) return {};
    if (std::error_code refused = detail::injected_fault(fault_point::unmap, view)) return failure{refused};
    if (!UnmapViewOfFile(view.pointer())) return failure{detail::windows_error()};
    view = {};
    return {};
  }

  // Committing pages of a SEC_RESERVE section through one view commits them
  // in the section; each view still sets its own protection.
  [[nodiscard]] static result<void> commit_view(address_region part, access a) noexcept {
    if (std::error_code refused = detail::injected_fault(fault_point::commit, part, a)) return failure{refused};
    if (!VirtualAlloc(part.pointer(), part.size(), MEM_COMMIT, detail::native_protection(a))) {
      return failure{detail::windows_error()};
    }
    return {};
  }

  [[nodiscard]] result<void> check(address_region part) const noexcept {
    if (section_ == nullptr) return failure{errc::already_unmapped};
    if (part.empty()) return failure{errc::invalid_argument};
    if (!is_page_aligned(part)) return failure{errc::misaligned};
    if (!executable_.contains(part)) return failure{errc::out_of_range};
    return {};
  }

  [[nodiscard]] address_region shifted(address_region part) const noexcept {
    return {part.begin() + write_offset(), part.size()};
  }

  address_region executable_;
  address_region writable_;
  HANDLE section_ = nullptr;
};

}  // namespace jitcm::platform

#endif  // JITCM_OS_WINDOWS
