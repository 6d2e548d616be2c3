// How a jump-table patch asks for permission to write code.
#pragma once

#include <concepts>
#include <utility>

#include "../base/address_region.hpp"
#include "../base/result.hpp"

namespace jitcm::jump_table {

/// A callable that opens a write scope over executable addresses, as
/// `protection::strategy` spaces do with `begin_write`:
///
/// | expression     | result                | guarantees |
/// |----------------|-----------------------|------------|
/// | `open(r)`      | `result<Scope>`       | on success the calling thread may write `r` through the space's writable view until the scope ends |
/// | `scope.end()`  | `result<void>`        | ends the scope; reports a failed protection change |
///
/// Example: `[&space](address_region r) { return space.begin_write(r); }`,
/// or write_scopes_of(space).
template <class Opener>
concept write_scope_opener = requires(Opener& open, address_region region) {
  {static_cast<bool>(open(region))};
  { (*open(region)).end() } -> std::same_as<result<void>>;
};

/// The write_scope_opener of a protection::strategy space.
/// Thread safety: as the space's begin_write.
template <class Space>
[[nodiscard]] auto write_scopes_of(Space& space) noexcept {
  return [&space](address_region region) { return space.begin_write(region); };
}

/// An opener for code that is already writable (a test buffer, or a caller
/// that holds a write scope over the whole table): opens nothing.
struct already_writable {
  struct scope {
    result<void> end() noexcept { return {}; }
  };
  result<scope> operator()(address_region) const noexcept { return scope{}; }
};

}  // namespace jitcm::jump_table
