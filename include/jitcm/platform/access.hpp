// What a page may be used for.
#pragma once

namespace jitcm::platform {

/// The access of a page: a set of read, write and execute.
enum class access : unsigned {
  none = 0,
  read = 1,
  read_write = 3,
  read_execute = 5,
  read_write_execute = 7,
};

[[nodiscard]] constexpr bool is_writable(access a) noexcept { return (static_cast<unsigned>(a) & 2u) != 0; }
[[nodiscard]] constexpr bool is_executable(access a) noexcept { return (static_cast<unsigned>(a) & 4u) != 0; }

}  // namespace jitcm::platform
