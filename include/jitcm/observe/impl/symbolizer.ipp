// Definitions of <jitcm/observe/symbolizer.hpp> (see environment.ipp).
#pragma once

#include <iterator>
#include <map>

#include "../symbolizer.hpp"

namespace jitcm::observe {

struct symbolizer::slot_map {
  std::map<std::uintptr_t, jump_table_slot> slots;
};

JITCM_DECL symbolizer::symbolizer() : slots_{new slot_map{}} {}

JITCM_DECL symbolizer::~symbolizer() { delete slots_; }

JITCM_DECL void symbolizer::on_jump_table_added(std::span<const jump_table_slot> slots) noexcept {
  std::lock_guard lock{mutex_};
  for (const jump_table_slot& s : slots) slots_->slots.insert_or_assign(s.instructions.begin(), s);
}

JITCM_DECL void symbolizer::on_jump_table_freed(std::span<const jump_table_slot> slots) noexcept {
  std::lock_guard lock{mutex_};
  for (const jump_table_slot& s : slots) slots_->slots.erase(s.instructions.begin());
}

JITCM_DECL std::size_t symbolizer::slot_count() const {
  std::lock_guard lock{mutex_};
  return slots_->slots.size();
}

JITCM_DECL std::optional<symbol> symbolizer::slot_symbol(std::uintptr_t pc) const {
  std::lock_guard lock{mutex_};
  auto after = slots_->slots.upper_bound(pc);
  if (after == slots_->slots.begin()) return std::nullopt;
  const jump_table_slot& s = std::prev(after)->second;
  if (!s.instructions.contains(pc)) return std::nullopt;
  return symbol{std::string{slot_name{s}.view()}, s.instructions.begin(), pc - s.instructions.begin()};
}

}  // namespace jitcm::observe
