// Definitions of native_module's members (<jitcm/native_module.hpp>): a
// class template's, so included in every mode (JITCM_SEPARATE_COMPILATION
// too); kept apart from the class so that the API and its locking rules read
// on their own there, and the publish/retire logic here.
#pragma once

#include "../native_module.hpp"

namespace jitcm {

template <class A, class J, class L, class T, class R>
result<std::unique_ptr<native_module<A, J, L, T, R>>> native_module<A, J, L, T, R>::create(
    const manager_services& services, const module_options& options) noexcept {
  if (services.lookup == nullptr) return failure{errc::invalid_argument};
  if (auto ok = layout::check(options, services.budget); !ok) return forward_error(ok);
  if (detail::side_allocation_refused()) return failure{errc::out_of_memory};
  std::unique_ptr<native_module> module{new (std::nothrow) native_module{services, options}};
  if (!module) return failure{errc::out_of_memory};
  const bool revokes = allocator::allocator_traits<A>::write_revokes_execute(module->allocator_);
  if (auto ok = module->tables_.choose_routing(options.routing, revokes); !ok) return forward_error(ok);
  if (auto ok = module->tables_.open_lazy_door(); !ok) return forward_error(ok);

  auto table = detail::code_table::create(layout::slots(options));
  if (!table) return forward_error(table);
  module->code_table_ = std::move(*table);

  // The first code space, and with it the table call_target hands out. The
  // allocator reserves a space on its first allocation; that first block is
  // given straight back. No other thread knows the module yet, so mutex_ is
  // not taken: writing the first space's tables takes that space's write
  // lock (mprotect strategies), which a thread holding a pending_code there
  // holds while it may take mutex_ (see the lock order above).
  auto first = module->allocate_locked(1);
  if (!first) return forward_error(first);
  JITCM_ASSERT_CLEANUP(module->allocator_.free(*first));
  module->committed_may_have_grown();
  return module;
}

template <class A, class J, class L, class T, class R>
result<void> native_module<A, J, L, T, R>::check_desc(const code_desc& desc) const noexcept {
  if (desc.index && !declared(*desc.index)) return failure{errc::out_of_range};
  if (desc.kind == code_kind::function &&
      (!desc.index || !tiering::tiering_traits<T>::knows_tier(tiering_, desc.tier))) {
    return failure{errc::invalid_argument};
  }
  return {};
}

template <class A, class J, class L, class T, class R>
native_module<A, J, L, T, R>::~native_module() {
  if (services_.module_destroyed != nullptr) services_.module_destroyed(services_.manager, this);
  ref_counting_.reset();
  std::lock_guard lock{mutex_};
  for (owned_code* entry : owned_.by_descending_address()) forget_locked(*entry);
  owned_.clear();
  // The jump tables go with the code spaces.
  if (services_.observers != nullptr && slots() > 0) {
    for (const auto& view : tables_.views()) services_.observers->template jump_table_freed<J>(view);
  }
}

template <class A, class J, class L, class T, class R>
result<std::uintptr_t> native_module<A, J, L, T, R>::call_target_near(std::uint32_t index,
                                                                      std::uintptr_t caller) const {
  if (!declared(index)) return failure{errc::out_of_range};
  std::lock_guard lock{mutex_};
  const auto spaces = allocator_.code_spaces();
  std::size_t space = 0;
  for (const code_space& s : spaces) {
    if (space < tables_.size() && s.region.contains(caller)) {
      return J::call_target(tables_.views()[space], slot_of(index));
    }
    ++space;
  }
  return failure{errc::out_of_range};
}

template <class A, class J, class L, class T, class R>
result<const code*> native_module<A, J, L, T, R>::installed(std::uint32_t index) const {
  if (!declared(index)) return failure{errc::out_of_range};
  std::lock_guard lock{mutex_};
  const code* c = code_table_.load(slot_of(index));
  // Installed code is alive (the table holds it), so hold fails only for want of a scope.
  if (c != nullptr && !ref_counting_->hold(*c)) return failure{errc::scope_required};
  return c;
}

template <class A, class J, class L, class T, class R>
const code* native_module<A, J, L, T, R>::find_and_hold(std::uintptr_t pc) const {
  // Code is freed under mutex_ (free_code), after leaving owned_: what owned_
  // holds now is alive, and hold refuses it once its count reached zero.
  std::lock_guard lock{mutex_};
  const code* c = services_.lookup->find(pc);
  if (c == nullptr || !owned_.contains(c)) return nullptr;
  return ref_counting_->hold(*c) ? c : nullptr;
}

template <class A, class J, class L, class T, class R>
auto native_module<A, J, L, T, R>::allocate_locked(std::size_t bytes) -> result<block> {
  // A space whose tables could not be written earlier gets another chance
  // before any code goes into it.
  if (auto ready = set_up_new_spaces_locked(); !ready) return forward_error(ready);
  auto memory = allocator_.allocate(bytes);
  if (!memory) return memory;
  if (auto ready = set_up_new_spaces_locked(); !ready) {
    JITCM_ASSERT_CLEANUP(allocator_.free(*memory));
    return forward_error(ready);
  }
  return memory;
}

template <class A, class J, class L, class T, class R>
result<void> native_module<A, J, L, T, R>::set_up_new_spaces_locked() {
  const auto spaces = allocator_.code_spaces();
  const std::size_t space_count = static_cast<std::size_t>(std::ranges::size(spaces));
  while (tables_.size() < space_count) {
    const code_space& space = *std::next(std::ranges::begin(spaces), static_cast<std::ptrdiff_t>(tables_.size()));
    auto added = tables_.add_space(space, allocator_.writable(space.code_header.begin()),
                                   allocator_.writable(space.data_header.begin()), write_scopes(),
                                   [this](std::uint32_t slot) { return code_table_.target(slot); });
    if (!added) return added;
    // Tools learn the names and addresses of the new jump slots and lazy slots.
    if (services_.observers != nullptr && slots() > 0) {
      services_.observers->template jump_table_added<J>(tables_.views().back());
    }
  }
  return {};
}

template <class A, class J, class L, class T, class R>
result<void> native_module<A, J, L, T, R>::retarget_everywhere_locked(std::uint32_t slot, const code* target,
                                                                      bool& stranded) {
  const std::uintptr_t address = detail::code_table::address_of(target);
  if (auto ok = tables_.retarget(slot, address, code_table_.target(slot), write_scopes(), stranded); !ok) return ok;
  code_table_.set(slot, target);
  return {};
}

template <class A, class J, class L, class T, class R>
auto native_module<A, J, L, T, R>::allocate(std::size_t bytes) -> result<pending_code> {
  result<block> memory = failure{errc::invalid_argument};
  {
    std::lock_guard lock{mutex_};
    memory = allocate_locked(bytes);
    if (!memory) return forward_error(memory);
  }
  committed_may_have_grown();
  auto scope = allocator_.begin_write(memory->region());
  if (!scope) {
    std::lock_guard lock{mutex_};
    JITCM_ASSERT_CLEANUP(allocator_.free(*memory));
    return forward_error(scope);
  }
  return pending_code{this, *memory, std::move(*scope)};
}

template <class A, class J, class L, class T, class R>
result<published_code> native_module<A, J, L, T, R>::publish(pending_code& pending, const code_desc& desc) {
  if (pending.published_) return failure{errc::already_published};
  if (pending.module_ != this) return failure{errc::not_owned};
  if (auto ok = check_desc(desc); !ok) return forward_error(ok);
  const block& memory = pending.memory_;
  code_desc final_desc = desc;
  if (desc.instructions.size() == 0) {
    final_desc.instructions = memory.region();
  } else {
    if (desc.instructions.begin() != 0 && desc.instructions.begin() != memory.executable())
      return failure{errc::out_of_range};
    if (desc.instructions.size() > memory.size()) return failure{errc::out_of_range};
    final_desc.instructions = address_region{memory.executable(), desc.instructions.size()};
  }
  // Written code becomes visible to instruction fetch before it can be
  // installed (the scope's end flushes the instruction cache), and the
  // space's write lock is not held while the module's lock is taken.
  if (auto ended = pending.end_write(); !ended) return forward_error(ended);

  retire_list retired;
  result<published_code> published = failure{errc::invalid_argument};
  bool adopted = false;
  {
    std::lock_guard lock{mutex_};
    published = adopt_locked(final_desc, memory, retired, adopted);
  }
  retire(retired);
  pending.published_ = adopted;
  if (services_.observers != nullptr) services_.observers->batch_ended();
  return published;
}

template <class A, class J, class L, class T, class R>
template <class Relocate>
result<std::vector<published_code>> native_module<A, J, L, T, R>::add_code(std::span<const finished_code> batch,
                                                                           Relocate&& relocate) {
  for (const finished_code& item : batch) {
    if (item.bytes.empty()) return failure{errc::invalid_argument};
    if (auto ok = check_desc(item.desc); !ok) return forward_error(ok);
  }
  std::vector<published_code> published;
  published.reserve(batch.size());
  const std::size_t chunk_limit = max_code_space_size() / 2;

  for (const auto chunk :
       detail::size_chunks(batch, chunk_limit, [](const finished_code& item) { return item.bytes.size(); })) {
    std::vector<block> memory;
    memory.reserve(chunk.size());
    {
      std::lock_guard lock{mutex_};
      for (const finished_code& item : chunk) {
        auto room = allocate_locked(item.bytes.size());
        if (!room) {
          for (const block& b : memory) JITCM_ASSERT_CLEANUP(allocator_.free(b));
          return forward_error(room);
        }
        memory.push_back(*room);
      }
    }
    committed_may_have_grown();
    // The blocks are this call's alone until published, so they are written
    // without the module's lock (no lock order between it and the spaces'
    // write locks). One outermost write scope per code space the chunk
    // touches: the nested scopes of one space only add pages to it.
    if (auto copied = detail::copy_batch(allocator_, chunk, memory, relocate); !copied) {
      for (const block& b : memory) JITCM_ASSERT_CLEANUP(allocator_.free(b));
      return forward_error(copied);
    }
    retire_list retired;
    result<void> outcome;
    {
      std::lock_guard lock{mutex_};
      for (std::size_t i = 0; i < chunk.size(); ++i) {
        code_desc desc = chunk[i].desc;
        desc.instructions = address_region{memory[i].executable(), chunk[i].bytes.size()};
        bool adopted = false;
        auto c = adopt_locked(desc, memory[i], retired, adopted);
        if (!c) {
          for (std::size_t rest = adopted ? i + 1 : i; rest < chunk.size(); ++rest)
            JITCM_ASSERT_CLEANUP(allocator_.free(memory[rest]));
          outcome = forward_error(c);
          break;
        }
        published.push_back(*c);
      }
    }
    retire(retired);
    if (services_.observers != nullptr) services_.observers->batch_ended();
    if (!outcome) return forward_error(outcome);
  }
  return published;
}

template <class A, class J, class L, class T, class R>
result<published_code> native_module<A, J, L, T, R>::adopt_locked(code_desc desc, const block& memory,
                                                                  retire_list& retired, bool& adopted) {
  if (auto ok = check_desc(desc); !ok) return forward_error(ok);
  desc.owner = this;
  auto created = code::create(desc);
  if (!created) return forward_error(created);
  const code* c = created->get();
  // Every step that can fail comes before the module takes the memory; each
  // undoes what came before it, so an error leaves no trace.
  if (auto registered = services_.lookup->insert(c); !registered) return forward_error(registered);
  const bool is_function = c->kind() == code_kind::function;
  const std::uint32_t slot = is_function ? slot_of(*c->index()) : 0;
  const code* current = is_function ? code_table_.at(slot) : nullptr;
  const bool install = is_function && tiering_.should_install(*c, current, tiering_state_);
  result<void> installed;
  bool stranded = false;
  if (install) installed = retarget_everywhere_locked(slot, c, stranded);
  if (!installed && !stranded) {
    JITCM_ASSERT_CLEANUP(services_.lookup->erase(c));
    return forward_error(installed);
  }
  // From here on the module owns the memory.
  adopted = true;
  owned_.adopt(std::move(*created), memory);
  ++published_count_;
  if (services_.observers != nullptr) services_.observers->added(*c);
  // A stranded code may be where a slot leads: it is kept, never retired.
  if (!installed) return forward_error(installed);
  const bool held = ref_counting_->hold(*c);
  if (is_function && !install) {
    owned_.find(c)->retired = true;
    retired.push_back(c);
  }
  if (install && current != nullptr) {
    owned_.find(current)->retired = true;
    retired.push_back(current);
  }
  return published_code{held ? c : nullptr, install};
}

template <class A, class J, class L, class T, class R>
result<void> native_module<A, J, L, T, R>::take_out_locked(owned_code& entry, removed_code& removed,
                                                           retire_list& retired) {
  const code* c = entry.object.get();
  if (c->kind() == code_kind::function) {
    const std::uint32_t slot = slot_of(*c->index());
    if (code_table_.at(slot) == c) {
      // Back to the lazy-compile slot. Should a table refuse, the code stays
      // installed; it is not retired then, so it is never freed while a
      // slot still leads to it.
      bool stranded = false;
      if (auto ok = retarget_everywhere_locked(slot, nullptr, stranded); !ok) return ok;
    }
  }
  entry.retired = true;
  retired.push_back(c);
  ++removed.count;
  removed.code_bytes += c->instructions_size();
  removed.metadata_bytes += c->metadata_bytes();
  return {};
}

template <class A, class J, class L, class T, class R>
removed_code native_module<A, J, L, T, R>::remove_code(const removal_filter& filter) {
  removed_code removed;
  retire_list retired;
  {
    std::lock_guard lock{mutex_};
    for (std::uint32_t slot = 0; slot < slots(); ++slot) {
      const code* c = code_table_.at(slot);
      if (c == nullptr || !tiering_.should_remove(*c, filter)) continue;
      JITCM_ASSERT_CLEANUP(take_out_locked(*owned_.find(c), removed, retired));
    }
  }
  retire(retired);
  return removed;
}

template <class A, class J, class L, class T, class R>
result<removed_code> native_module<A, J, L, T, R>::remove(const code* c) {
  removed_code removed;
  retire_list retired;
  {
    std::lock_guard lock{mutex_};
    owned_code* found = owned_.find(c);
    if (c == nullptr || found == nullptr) return failure{errc::not_owned};
    if (found->retired) return failure{errc::double_free};
    if (auto ok = take_out_locked(*found, removed, retired); !ok) return forward_error(ok);
  }
  retire(retired);
  return removed;
}

template <class A, class J, class L, class T, class R>
void native_module<A, J, L, T, R>::free_code(const code& dead) noexcept {
  std::lock_guard lock{mutex_};
  owned_code* found = owned_.find(&dead);
  if (found == nullptr) return;
  forget_locked(*found);
  owned_.erase(&dead);
}

template <class A, class J, class L, class T, class R>
void native_module<A, J, L, T, R>::forget_locked(owned_code& entry) noexcept {
  const code& c = *entry.object;
  JITCM_ASSERT_CLEANUP(services_.lookup->erase(&c));
  if (services_.observers != nullptr) services_.observers->freed(c);
  JITCM_ASSERT_CLEANUP(allocator_.free(entry.memory));
  ++freed_count_;
}

template <class A, class J, class L, class T, class R>
std::size_t native_module<A, J, L, T, R>::collect(std::span<const code* const> live) {
  return ref_counting_->collect(live);
}

template <class A, class J, class L, class T, class R>
module_stats native_module<A, J, L, T, R>::stats() const {
  module_stats s;
  s.functions = options_.functions;
  s.imported = options_.imported;
  s.retired = ref_counting_->retired_count();
  std::lock_guard lock{mutex_};
  s.code_objects = owned_.size();
  s.installed = code_table_.installed();
  const auto bytes = owned_.bytes();
  s.code_bytes = bytes.code;
  s.metadata_bytes = bytes.metadata;
  s.published = published_count_;
  s.freed = freed_count_;
  for (const code_space& space : allocator_.code_spaces()) {
    s.jump_table_bytes += space.code_header.size() + space.data_header.size();
  }
  s.memory = allocator_.stats();
  return s;
}

}  // namespace jitcm
