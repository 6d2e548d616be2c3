// expect: jitcm: the code_allocator policy must have free(const block&) returning jitcm::result<void>
// An allocator that cannot give memory back is refused by name.
#include <span>

#include <jitcm/code_manager.hpp>
#include <jitcm/protection/rwx.hpp>

struct allocator_without_free {
  using options = jitcm::allocator::options;
  using block = jitcm::code_block;
  using write_scope = jitcm::protection::rwx::write_scope;
  allocator_without_free() = default;
  explicit allocator_without_free(const options&) {}
  jitcm::result<block> allocate(std::size_t);
  jitcm::result<block> allocate_in_region(std::size_t, jitcm::address_region);
  jitcm::result<write_scope> begin_write(jitcm::address_region);
  std::uintptr_t writable(std::uintptr_t) const;
  std::span<const jitcm::code_space> code_spaces() const;
  bool contains(std::uintptr_t) const;
  jitcm::allocator_stats stats() const;
};

jitcm::basic_code_manager<allocator_without_free> manager;
