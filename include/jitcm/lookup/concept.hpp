// jitcm::code_lookup: maps a program counter to the code object containing it.
#pragma once

#include <concepts>
#include <cstdint>

#include "../base/code.hpp"
#include "../detail/requirement.hpp"
#include "../base/result.hpp"

namespace jitcm {

/// A lookup policy: the set of live code objects, searchable by address.
/// `basic_code_manager` holds one, inserts every code object it registers and
/// erases it before the code is freed.
///
/// | expression            | result         | OPTIONAL/default | guarantees |
/// |-----------------------|----------------|------------------|------------|
/// | `L l;`                |                | required | an empty set |
/// | `l.insert(c)`         | `result<void>` | required | `c` (non-null, alive until erased) becomes findable; errors: `invalid_argument` for null, `overlapping_region` if its instructions overlap code already inserted, `out_of_memory`/`limit_exceeded`; on error the set is unchanged |
/// | `l.erase(c)`          | `result<void>` | required | `c` is no longer found once this returns; `not_owned` if it was not inserted; on error the set is unchanged |
/// | `cl.find(pc)`         | `const code*`  | required | the inserted code whose instructions contain `pc`, else nullptr (also for null and one-past-the-end); never dereferences erased code after `erase` returned |
/// | `L::async_signal_safe` | `static constexpr bool` | OPTIONAL: defaults to: false | true promises that `find` takes no lock, allocates nothing, never blocks and may interrupt any other member on the same thread, so a signal handler may call it; read it through `lookup_traits<L>` |
///
/// (`l` is an `L&`, `cl` a `const L&`, `c` a `const code*`, `pc` a
/// `std::uintptr_t`.) Every operation may be called from any thread
/// concurrently with any other: a policy that is not thread-safe by nature
/// takes a lock. Which policies' `find` is also async-signal-safe is stated
/// in their headers and in `async_signal_safe` (`lookup::segment_map`, the
/// default, and `lookup::lock_free_array` set it); the trap handler attaches
/// only those.
///
/// A minimal conforming policy (a linear list under a lock):
///
///     class list_lookup {
///      public:
///       jitcm::result<void> insert(const jitcm::code* c) {
///         std::lock_guard lock{mutex_};
///         if (!c) return jitcm::failure{jitcm::errc::invalid_argument};
///         for (auto* o : codes_)
///           if (o->instructions().overlaps(c->instructions()))
///             return jitcm::failure{jitcm::errc::overlapping_region};
///         codes_.push_back(c);
///         return {};
///       }
///       jitcm::result<void> erase(const jitcm::code* c) {
///         std::lock_guard lock{mutex_};
///         auto it = std::find(codes_.begin(), codes_.end(), c);
///         if (it == codes_.end()) return jitcm::failure{jitcm::errc::not_owned};
///         codes_.erase(it);
///         return {};
///       }
///       const jitcm::code* find(std::uintptr_t pc) const {
///         std::lock_guard lock{mutex_};
///         for (auto* c : codes_) if (c->contains(pc)) return c;
///         return nullptr;
///       }
///      private:
///       mutable std::mutex mutex_;
///       std::vector<const jitcm::code*> codes_;
///     };
///     static_assert(jitcm::code_lookup<list_lookup>);
namespace lookup::requirement {

JITCM_REQUIREMENT(default_constructible, "Lookup", "is not default-constructible", std::default_initializable<Policy>);
JITCM_REQUIREMENT(
    insert, "Lookup", "has no member `insert(code)` returning jitcm::result<void>", requires(Policy& l, const code* c) {
      { l.insert(c) } -> std::same_as<result<void>>;
    });
JITCM_REQUIREMENT(
    erase, "Lookup", "has no member `erase(code)` returning jitcm::result<void>", requires(Policy& l, const code* c) {
      { l.erase(c) } -> std::same_as<result<void>>;
    });
JITCM_REQUIREMENT(
    find, "Lookup", "has no member `find(pc) const` returning const jitcm::code*",
    requires(const Policy& l, std::uintptr_t pc) {
      { l.find(pc) } -> std::same_as<const code*>;
    });

}  // namespace lookup::requirement

namespace lookup {
using lookup_requirements =
    jitcm::detail::requirement_list<requirement::default_constructible_piece, requirement::insert_piece,
                                    requirement::erase_piece, requirement::find_piece>;
}  // namespace lookup

template <class L>
concept code_lookup = lookup::lookup_requirements::satisfied_by<L>;

/// What a lookup policy promises beyond the concept, with the defaults of
/// the optional members filled in: `lookup_traits<L>::async_signal_safe`.
template <class L>
struct lookup_traits {
  static constexpr bool async_signal_safe = [] {
    if constexpr (requires {
                    { L::async_signal_safe } -> std::convertible_to<bool>;
                  }) {
      return bool{L::async_signal_safe};
    } else {
      return false;
    }
  }();
};

}  // namespace jitcm
