// Definitions of <jitcm/observe/unwind_registry.hpp> (see environment.ipp).
#pragma once

#include "../../base/config.hpp"

#if !defined(JITCM_OS_WINDOWS)

#include <algorithm>
#include <map>
#include <memory>
#include <unordered_map>
#include <vector>
#include <atomic>
#include <cstring>
#include <utility>

#include "../../base/code.hpp"
#include "../eh_frame.hpp"
#include "../unwind_registry.hpp"

namespace jitcm::observe {

struct unwind_registry::section {
  std::vector<std::byte> bytes;         // rebased entries + the zero terminator
  std::vector<std::size_t> fde_starts;  // offsets of the FDEs' length fields
  std::size_t live = 0;                 // code objects whose FDEs are in it
  std::uint64_t sequence = 0;           // registration order: the key in sections
};

struct unwind_registry::placement {
  section* home = nullptr;
  std::vector<std::size_t> fde_starts;  // this code's FDEs in `home`
};

struct unwind_registry::tables {
  std::map<std::uint64_t, std::unique_ptr<section>> sections;  // by registration order
  std::unordered_map<const code*, placement> placements;
  std::vector<const code*> batch;  // registered alone since the last batch end
};

JITCM_DECL unwind_registry::unwind_registry(registration_style style) : style_{style}, tables_{new tables{}} {}

JITCM_DECL unwind_registry::~unwind_registry() {
  {
    std::lock_guard lock{mutex_};
    // Newest first: the order libgcc's list finds fastest.
    for (auto s = tables_->sections.rbegin(); s != tables_->sections.rend(); ++s) deregister(*s->second);
  }
  delete tables_;
}

JITCM_DECL std::size_t unwind_registry::registered() const {
  std::lock_guard lock{mutex_};
  return tables_->placements.size();
}

JITCM_DECL std::size_t unwind_registry::sections() const {
  std::lock_guard lock{mutex_};
  return tables_->sections.size();
}

JITCM_DECL std::size_t unwind_registry::rejected() const {
  std::lock_guard lock{mutex_};
  return rejected_;
}

JITCM_DECL void unwind_registry::on_code_added(const code& c) noexcept {
  if (c.unwind_info().empty()) return;
  auto bytes = eh_frame::rebase(c.unwind_info(), c.instruction_start());
  auto fdes = eh_frame::parse(c.unwind_info());
  std::lock_guard lock{mutex_};
  if (!bytes || !fdes) {
    ++rejected_;
    return;
  }
  // Registered at once, alone: the code may run (and be unwound through)
  // as soon as it is installed, before the batch ends.
  auto alone = std::make_unique<section>();
  alone->bytes = std::move(*bytes);
  placement where{alone.get(), {}};
  // An FDE's length field sits 8 bytes before its initial location.
  for (const eh_frame::fde& f : *fdes) where.fde_starts.push_back(f.location_offset - 8);
  alone->fde_starts = where.fde_starts;
  alone->live = 1;
  register_frames(*alone);
  own(std::move(alone));
  tables_->placements.insert_or_assign(&c, std::move(where));
  tables_->batch.push_back(&c);
}

JITCM_DECL void unwind_registry::on_code_freed(const code& c) noexcept {
  std::lock_guard lock{mutex_};
  const auto found = tables_->placements.find(&c);
  if (found == tables_->placements.end()) return;
  std::erase(tables_->batch, &c);
  section& home = *found->second.home;
  if (--home.live == 0) {
    deregister(home);
    tables_->sections.erase(home.sequence);
  } else {
    for (std::size_t start : found->second.fde_starts) retire_fde(home, start);
  }
  tables_->placements.erase(found);
}

JITCM_DECL void unwind_registry::on_batch_end() noexcept {
  std::lock_guard lock{mutex_};
  if (tables_->batch.size() >= 2) merge_batch();
  tables_->batch.clear();
}

JITCM_DECL void unwind_registry::merge_batch() {
  auto merged = std::make_unique<section>();
  std::vector<section*> singles;
  for (const code* c : tables_->batch) {
    placement& where = tables_->placements.at(c);
    const std::size_t base = merged->bytes.size();
    const std::vector<std::byte>& single = where.home->bytes;
    merged->bytes.insert(merged->bytes.end(), single.begin(), single.end() - 4);  // without its terminator
    singles.push_back(where.home);
    where.home = merged.get();
    for (std::size_t& start : where.fde_starts) {
      start += base;
      merged->fde_starts.push_back(start);
    }
    ++merged->live;
  }
  merged->bytes.resize(merged->bytes.size() + 4, std::byte{0});
  register_frames(*merged);
  // The singles were registered last, so deregistering them newest first
  // finds each near the head of libgcc's list.
  for (auto s = singles.rbegin(); s != singles.rend(); ++s) {
    deregister(**s);
    tables_->sections.erase((*s)->sequence);
  }
  own(std::move(merged));
}

JITCM_DECL void unwind_registry::retire_fde(section& home, std::size_t start) const noexcept {
  if (style_ == registration_style::per_fde) {
    __deregister_frame(home.bytes.data() + start);
    return;
  }
  std::byte* range = home.bytes.data() + start + 16;
  if (reinterpret_cast<std::uintptr_t>(range) % alignof(std::uint64_t) == 0) {
    std::atomic_ref<std::uint64_t>{*reinterpret_cast<std::uint64_t*>(range)}.store(0, std::memory_order_release);
  } else {
    std::memset(range, 0, sizeof(std::uint64_t));
  }
}

JITCM_DECL void unwind_registry::own(std::unique_ptr<section> s) {
  s->sequence = next_sequence_++;
  tables_->sections.emplace(s->sequence, std::move(s));
}

JITCM_DECL void unwind_registry::register_frames(const section& s) const noexcept {
  if (style_ == registration_style::whole_section) {
    __register_frame(s.bytes.data());
  } else {
    for (std::size_t start : s.fde_starts) __register_frame(s.bytes.data() + start);
  }
}

JITCM_DECL void unwind_registry::deregister(const section& s) const noexcept {
  if (style_ == registration_style::whole_section) {
    __deregister_frame(s.bytes.data());
  } else {
    for (auto start = s.fde_starts.rbegin(); start != s.fde_starts.rend(); ++start) {
      __deregister_frame(s.bytes.data() + *start);
    }
  }
}

}  // namespace jitcm::observe

#endif  // !JITCM_OS_WINDOWS
