// Definitions of <jitcm/observe/gdb_jit.hpp> (see environment.ipp). The two
// symbols GDB looks up stay in the header, inline in both modes: that is what
// keeps one of each per process (see there).
#pragma once

#include <algorithm>
#include <memory>
#include <unordered_map>
#include <vector>
#include <string>
#include <utility>

#include "../../base/code.hpp"
#include "../detail/elf_image.hpp"
#include "../detail/names.hpp"
#include "../gdb_jit.hpp"

namespace jitcm::observe {

struct gdb_jit::entry {
  jit_code_entry node{};
  std::vector<std::byte> image;
  std::vector<detail::elf_symbol> symbols;
  std::vector<std::uintptr_t> keys;  // symbol i's key (its start address), or 0 once freed
  std::size_t live = 0;
  bool linked = false;
  bool stale = false;
};

struct gdb_jit::tables {
  std::vector<std::unique_ptr<entry>> entries;
  std::unordered_map<std::uintptr_t, entry*> owner_of;
  std::vector<detail::elf_symbol> pending;
  std::vector<std::uintptr_t> pending_keys;
};

JITCM_DECL gdb_jit::gdb_jit() : tables_{new tables{}} {}

JITCM_DECL gdb_jit::~gdb_jit() {
  {
    std::lock_guard lock{mutex_};
    for (auto& e : tables_->entries) unlink(*e);
  }
  delete tables_;
}

JITCM_DECL std::size_t gdb_jit::entries() const {
  std::lock_guard lock{mutex_};
  std::size_t linked = 0;
  for (const auto& e : tables_->entries) linked += e->linked ? 1 : 0;
  return linked;
}

JITCM_DECL void gdb_jit::on_code_added(const code& c) noexcept {
  std::lock_guard lock{mutex_};
  tables_->pending.push_back({detail::display_name(c), c.instructions()});
  tables_->pending_keys.push_back(c.instruction_start());
}

JITCM_DECL void gdb_jit::on_code_freed(const code& c) noexcept { forget(c.instruction_start()); }

JITCM_DECL void gdb_jit::on_code_moved(const code& c, address_region from) noexcept {
  forget(from.begin());
  on_code_added(c);
  on_batch_end();
}

JITCM_DECL void gdb_jit::on_jump_table_added(std::span<const jump_table_slot> slots) noexcept {
  std::lock_guard lock{mutex_};
  for (const jump_table_slot& s : slots) {
    tables_->pending.push_back({std::string{slot_name{s}.view()}, s.instructions});
    tables_->pending_keys.push_back(s.instructions.begin());
  }
  publish_pending_locked();
}

JITCM_DECL void gdb_jit::on_jump_table_freed(std::span<const jump_table_slot> slots) noexcept {
  for (const jump_table_slot& s : slots) forget(s.instructions.begin());
}

JITCM_DECL void gdb_jit::on_batch_end() noexcept {
  std::lock_guard lock{mutex_};
  // Entries that lost symbols are rebuilt first, so a name freed before
  // this batch never shows next to new code at a reused address.
  for (auto& e : tables_->entries) {
    if (e->stale) relink(*e);
  }
  publish_pending_locked();
}

JITCM_DECL void gdb_jit::publish_pending_locked() {
  if (tables_->pending.empty()) return;
  auto e = std::make_unique<entry>();
  e->symbols = std::move(tables_->pending);
  e->keys = std::move(tables_->pending_keys);
  e->live = e->symbols.size();
  tables_->pending.clear();
  tables_->pending_keys.clear();
  for (std::uintptr_t key : e->keys) tables_->owner_of[key] = e.get();
  link(*e);
  tables_->entries.push_back(std::move(e));
}

JITCM_DECL void gdb_jit::forget(std::uintptr_t key) noexcept {
  std::lock_guard lock{mutex_};
  const auto found = tables_->owner_of.find(key);
  if (found == tables_->owner_of.end()) {
    drop_pending(key);
    return;
  }
  entry& e = *found->second;
  tables_->owner_of.erase(found);
  const auto k = std::find(e.keys.begin(), e.keys.end(), key);
  if (k != e.keys.end()) *k = 0;
  if (--e.live > 0) {
    e.stale = true;
    return;
  }
  unlink(e);
  std::erase_if(tables_->entries, [&](const std::unique_ptr<entry>& owned) { return owned.get() == &e; });
}

JITCM_DECL void gdb_jit::drop_pending(std::uintptr_t key) {
  for (std::size_t i = 0; i < tables_->pending_keys.size(); ++i) {
    if (tables_->pending_keys[i] != key) continue;
    tables_->pending_keys.erase(tables_->pending_keys.begin() + static_cast<std::ptrdiff_t>(i));
    tables_->pending.erase(tables_->pending.begin() + static_cast<std::ptrdiff_t>(i));
    return;
  }
}

JITCM_DECL void gdb_jit::relink(entry& e) {
  unlink(e);
  std::vector<detail::elf_symbol> live;
  std::vector<std::uintptr_t> keys;
  for (std::size_t i = 0; i < e.symbols.size(); ++i) {
    if (e.keys[i] == 0) continue;
    live.push_back(std::move(e.symbols[i]));
    keys.push_back(e.keys[i]);
  }
  e.symbols = std::move(live);
  e.keys = std::move(keys);
  e.stale = false;
  link(e);
}

JITCM_DECL void gdb_jit::link(entry& e) {
  e.image = detail::build_elf_image(e.symbols);
  e.node.symfile_addr = reinterpret_cast<const char*>(e.image.data());
  e.node.symfile_size = e.image.size();
  std::lock_guard lock{gdb_jit_registration_mutex()};
  jit_descriptor& d = gdb_jit_descriptor();
  e.node.prev_entry = nullptr;
  e.node.next_entry = d.first_entry;
  if (d.first_entry != nullptr) d.first_entry->prev_entry = &e.node;
  d.first_entry = &e.node;
  d.relevant_entry = &e.node;
  d.action_flag = 1;
  __jit_debug_register_code();
  e.linked = true;
}

JITCM_DECL void gdb_jit::unlink(entry& e) noexcept {
  if (!e.linked) return;
  std::lock_guard lock{gdb_jit_registration_mutex()};
  jit_descriptor& d = gdb_jit_descriptor();
  if (e.node.prev_entry != nullptr)
    e.node.prev_entry->next_entry = e.node.next_entry;
  else
    d.first_entry = e.node.next_entry;
  if (e.node.next_entry != nullptr) e.node.next_entry->prev_entry = e.node.prev_entry;
  d.relevant_entry = &e.node;
  d.action_flag = 2;
  __jit_debug_register_code();
  e.linked = false;
}

}  // namespace jitcm::observe
