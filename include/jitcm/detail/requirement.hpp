// Requirement pieces: each member a policy concept asks for is written once,
// as a small named concept with the sentence that reports its absence.
//
// A policy concept is the conjunction of a requirement_list of pieces, and
// basic_code_manager diagnoses a policy with the same list, so the concept
// and its diagnostics cannot drift apart:
//
//   namespace jitcm::lookup::requirement {
//   JITCM_REQUIREMENT(find, "Lookup", "has no member `find(pc) const` returning const jitcm::code*",
//                     requires(const Policy& l, std::uintptr_t pc) {
//                       { l.find(pc) } -> std::same_as<const code*>;
//                     });
//   }
//   // defines the concept jitcm::lookup::requirement::find<L> and the piece
//   // jitcm::lookup::requirement::find_piece, whose diagnose<L>() fails with
//   //   "jitcm: basic_code_manager's Lookup policy has no member `find(pc) const` returning const jitcm::code*"
//   // (the compiler names L in the instantiation note beside it).
//
// | expression                         | result | guarantees |
// |------------------------------------|--------|------------|
// | `JITCM_REQUIREMENT(n, role, text, constraint)` | a concept `n<Policy>` and a piece `n_piece` | `constraint` may name `Policy`; the sentence is "jitcm: basic_code_manager's <role> policy <text>" |
// | `requirement_list<P...>::satisfied_by<X>` | `bool` constant | every piece holds for X |
// | `requirement_list<P...>::diagnose<X>()` | `bool`, consteval | the same value; every piece that does not hold fails one static_assert with its sentence (all of them, not only the first) |
#pragma once

namespace jitcm::detail {

/// Whether every value is true. Unlike `&&`, which stops at the first false
/// operand, every operand has been evaluated by the call: each diagnosis
/// reports its own failure, so a policy that lacks several members hears of
/// each.
template <class... Values>
consteval bool all_of_evaluated(Values... values) {
  return (0 + ... + (values ? 1 : 0)) == static_cast<int>(sizeof...(values));
}

/// The pieces a policy concept is made of, in the order they are reported.
template <class... Pieces>
struct requirement_list {
  template <class Policy>
  static constexpr bool satisfied_by = (Pieces::template holds<Policy> && ...);

  template <class Policy>
  static consteval bool diagnose() {
    return all_of_evaluated(Pieces::template diagnose<Policy>()...);
  }
};

}  // namespace jitcm::detail

/// Defines the requirement piece `name` (see the table above). The
/// constraint is the last argument, so the commas of a requires-expression
/// need no parentheses.
#define JITCM_REQUIREMENT(name, role, text, ...)                                        \
  template <class Policy>                                                               \
  concept name = __VA_ARGS__;                                                           \
  struct name##_piece {                                                                 \
    template <class Policy>                                                             \
    static constexpr bool holds = name<Policy>;                                         \
    template <class Policy>                                                             \
    static consteval bool diagnose() {                                                  \
      static_assert(name<Policy>, "jitcm: basic_code_manager's " role " policy " text); \
      return name<Policy>;                                                              \
    }                                                                                   \
  }
