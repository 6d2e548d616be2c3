// Definitions of <jitcm/protection/dual_mapping_or_mprotect.hpp> (see
// mprotect_toggle.ipp): the visits of the two spaces are compiled here.
#pragma once

#include <cstdlib>
#include <cstring>
#include <utility>

#include "../dual_mapping_or_mprotect.hpp"
#include "../probe.hpp"

namespace jitcm::protection {

#if defined(JITCM_HAS_DUAL_MAPPING)

JITCM_DECL wx_choice dual_mapping_or_mprotect::chosen() noexcept {
  static const wx_choice choice = choose(std::getenv("JITCM_WX"));
  return choice;
}

JITCM_DECL const char* dual_mapping_or_mprotect::chosen_name() noexcept {
  return chosen() == wx_choice::dual_mapping ? dual_mapping::name : mprotect_toggle::name;
}

JITCM_DECL wx_choice dual_mapping_or_mprotect::choose(const char* setting) noexcept {
  if (setting != nullptr && std::strcmp(setting, "mprotect") == 0) return wx_choice::mprotect_toggle;
  if (setting != nullptr && std::strcmp(setting, "dual_mapping") == 0) return wx_choice::dual_mapping;
  return detail::try_strategy<dual_mapping>() ? wx_choice::mprotect_toggle : wx_choice::dual_mapping;
}

JITCM_DECL bool dual_mapping_or_mprotect::write_revokes_execute() noexcept {
  return chosen() == wx_choice::mprotect_toggle;
}

JITCM_DECL result<void> dual_mapping_or_mprotect::write_scope::end() noexcept {
  auto dual = dual_.end();
  auto toggled = toggled_.end();
  return dual ? toggled : dual;
}

template <class Self, class F>
auto dual_mapping_or_mprotect::space::with_memory(Self& self, F f) {
  return self.uses_dual_ ? f(self.dual_) : f(self.toggled_);
}

namespace detail {
// writable(a) - a of a space.
template <class Space>
std::uintptr_t write_offset_of(const Space& s) noexcept {
  const std::uintptr_t begin = s.region().begin();
  return s.writable(begin) - begin;
}
}  // namespace detail

JITCM_DECL dual_mapping_or_mprotect::space::space(dual_mapping::space memory) noexcept
    : dual_{std::move(memory)}, uses_dual_{true}, write_offset_{detail::write_offset_of(dual_)} {}

JITCM_DECL dual_mapping_or_mprotect::space::space(mprotect_toggle::space memory) noexcept
    : toggled_{std::move(memory)}, uses_dual_{false}, write_offset_{detail::write_offset_of(toggled_)} {}

JITCM_DECL address_region dual_mapping_or_mprotect::space::region() const noexcept {
  return with_memory(*this, [](const auto& s) { return s.region(); });
}

JITCM_DECL result<void> dual_mapping_or_mprotect::space::commit(address_region part) const noexcept {
  return with_memory(*this, [part](const auto& s) { return s.commit(part); });
}

JITCM_DECL result<void> dual_mapping_or_mprotect::space::commit_data(address_region part) const noexcept {
  return with_memory(*this, [part](const auto& s) { return s.commit_data(part); });
}

JITCM_DECL result<void> dual_mapping_or_mprotect::space::decommit(address_region part) const noexcept {
  return with_memory(*this, [part](const auto& s) { return s.decommit(part); });
}

JITCM_DECL result<dual_mapping_or_mprotect::write_scope> dual_mapping_or_mprotect::space::begin_write(
    address_region part) noexcept {
  return with_memory(*this, [part](auto& s) -> result<write_scope> {
    auto scope = s.begin_write(part);
    if (!scope) return forward_error(scope);
    return write_scope{std::move(*scope)};
  });
}

template <class Space>
result<dual_mapping_or_mprotect::space> dual_mapping_or_mprotect::wrapped(result<Space> reserved) noexcept {
  if (!reserved) return forward_error(reserved);
  return space{std::move(*reserved)};
}

JITCM_DECL result<dual_mapping_or_mprotect::space> dual_mapping_or_mprotect::reserve(std::size_t bytes,
                                                                                     std::uintptr_t hint,
                                                                                     std::size_t alignment) noexcept {
  if (chosen() == wx_choice::dual_mapping) return wrapped(dual_mapping::reserve(bytes, hint, alignment));
  return wrapped(mprotect_toggle::reserve(bytes, hint, alignment));
}

#endif  // JITCM_HAS_DUAL_MAPPING

}  // namespace jitcm::protection
