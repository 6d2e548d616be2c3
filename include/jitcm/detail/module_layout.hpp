// What a module's options imply before anything is allocated: the headers of
// every code space, the largest code space, the allocator's limits, and
// whether the options can work at all.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "../allocator/allocator_traits.hpp"
#include "../allocator/commit_budget.hpp"
#include "../base/result.hpp"
#include "../jump_table/emitter_traits.hpp"
#include "../jump_table/lazy_trampoline.hpp"
#include "../module_options.hpp"
#include "jump_table_set.hpp"

namespace jitcm::detail {

/// The layout of a module with emitter `JumpTable`: pure functions of its
/// options, so native_module checks them before it allocates anything.
template <class JumpTable>
struct module_layout {
  using tables = jump_table_set<JumpTable>;
  using emitter = jump_table::emitter_traits<JumpTable>;

  [[nodiscard]] static std::uint32_t slots(const module_options& o) noexcept { return o.functions - o.imported; }

  /// Bytes at the start of every code space: the jump table and, with a
  /// lazy_compile_callback, its context entry.
  [[nodiscard]] static std::size_t code_header_bytes(const module_options& o) noexcept {
    return tables::code_header_bytes(slots(o), o.lazy.function != nullptr);
  }

  /// No code space is larger: every slot reaches every instruction of its space.
  [[nodiscard]] static std::size_t max_code_space_size(const module_options& o) noexcept {
    return std::min<std::size_t>(o.max_code_space_size, emitter::max_code_space_size);
  }

  /// What the module's allocator is built with.
  [[nodiscard]] static allocator::module_limits allocator_limits(const module_options& o,
                                                                 commit_budget* budget) noexcept {
    return {.max_code_space_size = max_code_space_size(o),
            .max_committed = o.max_committed,
            .budget = budget,
            .space_code_header = code_header_bytes(o),
            .space_data_header = tables::data_header_bytes(slots(o)),
            .initial_reservation = o.initial_reservation,
            .preferred_range = o.preferred_range};
  }

  /// The errors native_module::create documents for bad options, found
  /// before anything is allocated. `budget` may be null.
  [[nodiscard]] static result<void> check(const module_options& o, const commit_budget* budget) noexcept {
    if (o.imported > o.functions) return failure{errc::invalid_argument};
    const std::uint32_t n = slots(o);
    const bool has_callback = o.lazy.function != nullptr;
    if (n > 0 && has_callback == (o.lazy_entry != 0)) return failure{errc::invalid_argument};
    if (n > 0 && has_callback && !(tables::has_context_entry && jump_table::has_lazy_trampoline)) {
      return failure{errc::unsupported};
    }
    if (n > emitter::max_functions) return failure{errc::limit_exceeded};
    // The tables of every code space must fit in one, and in the limits,
    // with room for code.
    const std::size_t headers = code_header_bytes(o) + tables::data_header_bytes(n);
    if (headers >= max_code_space_size(o)) return failure{errc::limit_exceeded};
    if (o.max_committed != 0 && headers > o.max_committed) return failure{errc::limit_exceeded};
    if (budget != nullptr && budget->maximum() != 0 && headers > budget->maximum()) {
      return failure{errc::limit_exceeded};
    }
    return {};
  }
};

}  // namespace jitcm::detail
