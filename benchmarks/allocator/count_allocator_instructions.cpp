// Instructions per allocator operation, for callgrind (user-space
// instructions only: what the kernel does in a system call is not counted):
//
//   cd build-bench/benchmarks/allocator
//   valgrind --tool=callgrind --callgrind-out-file=a.out --toggle-collect='*counted_*' ./count_allocator_instructions
//   callgrind_annotate --inclusive=yes a.out | grep counted_
//
// Each subject runs the benchmark's script (bench_allocators' phases); the
// inclusive count of `counted_allocate<S>` divided by block_count, of
// `counted_free<S>` by block_count and of `counted_churn<S>` by counted_churn_steps
// is the count per operation, with nothing else collected. Churn runs the
// first hundredth of the benchmark's steps (asmjit's churn is slow under
// valgrind). noipa: identical instantiations (asmjit's two subjects differ
// only in their constructor) must not be folded into one symbol.
#include <cstdio>
#include <memory>
#include <vector>

#include "subjects.hpp"
#include "workload.hpp"

namespace {

constexpr std::size_t counted_churn_steps = bench::churn_steps / 100;

template <class Subject>
[[gnu::noipa]] void counted_allocate(Subject& subject, std::vector<typename Subject::handle>& blocks) {
  bench::allocate_blocks(subject, blocks, bench::script::get());
}

template <class Subject>
[[gnu::noipa]] void counted_free(Subject& subject, const std::vector<typename Subject::handle>& blocks) {
  bench::free_blocks(subject, blocks, bench::script::get());
}

template <class Subject>
[[gnu::noipa]] void counted_churn(Subject& subject, std::vector<typename Subject::handle>& blocks,
                                  std::vector<std::size_t>& sizes) {
  bench::churn_blocks(subject, blocks, sizes, bench::script::get(), counted_churn_steps);
}

template <class Subject>
void count(const char* name) {
  const bench::script& s = bench::script::get();
  {
    auto subject = std::make_unique<Subject>();
    std::vector<typename Subject::handle> blocks(bench::block_count);
    counted_allocate(*subject, blocks);
    counted_free(*subject, blocks);
  }
  auto subject = std::make_unique<Subject>();
  std::vector<typename Subject::handle> blocks(bench::churn_live);
  std::vector<std::size_t> sizes(s.sizes.begin(), s.sizes.begin() + bench::churn_live);
  bench::allocate_blocks(*subject, blocks, s);
  counted_churn(*subject, blocks, sizes);
  std::printf("%-28s allocate/free: %zu ops each, churn: %zu steps\n", name, bench::block_count, counted_churn_steps);
}

}  // namespace

int main() {
  count<bench::default_subject>("jitcm::default_allocator");
  count<bench::default_dual_mapping>("jitcm::default_allocator<dual_mapping>");
  count<bench::tlsf_default>("jitcm::tlsf");
#if defined(JITCM_BENCH_ASMJIT)
  count<bench::asmjit_default>("asmjit");
  count<bench::asmjit_dual_mapping>("asmjit<dual_mapping>");
#endif
}
