// The mini JIT's two code generators, x86-64 with asmjit: a baseline tier
// that compiles fast and counts calls, and an optimizing tier that folds
// constants, keeps right operands out of the stack and branches on
// comparisons directly. Both emit into an asmjit::CodeHolder that
// jitcm::adapters::publish puts into the module; calls between functions go
// to the callee's jump-table slot through jitcm::adapters::function_label.
#pragma once

#include <cstdint>

#include <asmjit/x86.h>

#include <jitcm/adapters/asmjit.hpp>

#include "language.hpp"

namespace mini_jit {

/// What the baseline code of each function does on entry: count the call,
/// and on the call that reaches `threshold` call `tier_up(context, index)`
/// (a C++ function) before running its body.
struct call_counting {
  std::int64_t* counters = nullptr;  // one per function
  std::int64_t threshold = 0;
  void (*tier_up)(void* context, std::uint32_t index) = nullptr;
  void* context = nullptr;
};

enum class tier { baseline, optimized };

namespace x86 = asmjit::x86;

class code_generator {
 public:
  code_generator(asmjit::CodeHolder& code, const program& source, tier level, const call_counting& counting)
      : a_{&code}, program_{source}, tier_{level}, counting_{counting} {}

  void compile(std::uint32_t index) {
    const function& f = program_.functions[index];
    const std::uint32_t frame = (static_cast<std::uint32_t>(f.parameters.size()) * 8 + 15) & ~15u;
    a_.push(x86::rbp);
    a_.mov(x86::rbp, x86::rsp);
    if (frame != 0) a_.sub(x86::rsp, frame);
    for (std::uint32_t i = 0; i < f.parameters.size(); ++i) a_.mov(parameter(i), argument_registers[i]);
    if (tier_ == tier::baseline) count_call(index);
    value(tier_ == tier::optimized ? fold_constants(f.body) : f.body);
    a_.leave();
    a_.ret();
  }

 private:
  static constexpr x86::Gp argument_registers[max_parameters] = {x86::rdi, x86::rsi, x86::rdx,
                                                                 x86::rcx, x86::r8,  x86::r9};

  static x86::Mem parameter(std::uint32_t i) { return x86::qword_ptr(x86::rbp, -8 * static_cast<int>(i + 1)); }

  void count_call(std::uint32_t index) {
    asmjit::Label counted = a_.newLabel();
    a_.mov(x86::rax, reinterpret_cast<std::uint64_t>(&counting_.counters[index]));
    a_.mov(x86::ecx, 1);
    a_.lock().xadd(x86::qword_ptr(x86::rax), x86::rcx);
    a_.mov(x86::rax, counting_.threshold - 1);  // exactly one call sees the count pass the threshold
    a_.cmp(x86::rcx, x86::rax);
    a_.jne(counted);
    a_.mov(x86::rdi, reinterpret_cast<std::uint64_t>(counting_.context));
    a_.mov(x86::esi, index);
    a_.mov(x86::rax, reinterpret_cast<std::uint64_t>(counting_.tier_up));
    a_.call(x86::rax);  // the frame keeps rsp 16-byte aligned here
    a_.bind(counted);
  }

  // Every value ends in rax. Temporaries live on the stack: `depth_` counts
  // the 8-byte pushes outstanding, so calls can keep rsp 16-byte aligned.
  void value(const node& n) {
    switch (n.what) {
      case node::kind::number:
        a_.mov(x86::rax, n.value);
        break;
      case node::kind::parameter:
        a_.mov(x86::rax, parameter(n.index));
        break;
      case node::kind::negate:
        value(n.operands[0]);
        a_.neg(x86::rax);
        break;
      case node::kind::binary:
        binary(n);
        break;
      case node::kind::if_then_else:
        if_then_else(n);
        break;
      case node::kind::call:
        call(n);
        break;
    }
  }

  /// rcx = the right operand, rax = the left one.
  void operands(const node& lhs, const node& rhs) {
    if (tier_ == tier::optimized && simple(rhs)) {
      value(lhs);
      load(x86::rcx, rhs);
      return;
    }
    value(lhs);
    push();
    value(rhs);
    a_.mov(x86::rcx, x86::rax);
    pop(x86::rax);
  }
  static bool simple(const node& n) { return n.what == node::kind::number || n.what == node::kind::parameter; }
  void load(const x86::Gp& to, const node& n) {
    if (n.what == node::kind::number) {
      a_.mov(to, n.value);
    } else {
      a_.mov(to, parameter(n.index));
    }
  }

  void binary(const node& n) {
    operands(n.operands[0], n.operands[1]);
    switch (n.operation) {
      case op::add:
        a_.add(x86::rax, x86::rcx);
        break;
      case op::sub:
        a_.sub(x86::rax, x86::rcx);
        break;
      case op::mul:
        a_.imul(x86::rax, x86::rcx);
        break;
      case op::div:
      case op::mod:
        divide(n.operation);
        break;
      default:
        a_.cmp(x86::rax, x86::rcx);
        a_.emit(set_instruction(n.operation), x86::al);
        a_.movzx(x86::eax, x86::al);
        break;
    }
  }

  /// rax = rax / rcx or rax % rcx, without the traps of idiv (see language.hpp).
  void divide(op operation) {
    asmjit::Label by_zero = a_.newLabel(), by_minus_one = a_.newLabel(), done = a_.newLabel();
    a_.test(x86::rcx, x86::rcx);
    a_.jz(by_zero);
    a_.cmp(x86::rcx, -1);
    a_.je(by_minus_one);
    a_.cqo();
    a_.idiv(x86::rcx);
    if (operation == op::mod) a_.mov(x86::rax, x86::rdx);
    a_.jmp(done);
    a_.bind(by_minus_one);
    if (operation == op::div) {
      a_.neg(x86::rax);
      a_.jmp(done);
    }
    a_.bind(by_zero);
    a_.xor_(x86::eax, x86::eax);
    a_.bind(done);
  }

  void if_then_else(const node& n) {
    asmjit::Label otherwise = a_.newLabel(), done = a_.newLabel();
    const node& condition = n.operands[0];
    if (tier_ == tier::optimized && condition.what == node::kind::binary && is_comparison(condition.operation)) {
      operands(condition.operands[0], condition.operands[1]);
      a_.cmp(x86::rax, x86::rcx);
      a_.emit(jump_unless(condition.operation), otherwise);
    } else {
      value(condition);
      a_.test(x86::rax, x86::rax);
      a_.jz(otherwise);
    }
    value(n.operands[1]);
    a_.jmp(done);
    a_.bind(otherwise);
    value(n.operands[2]);
    a_.bind(done);
  }

  void call(const node& n) {
    for (const node& argument : n.operands) {
      value(argument);
      push();
    }
    for (std::size_t i = n.operands.size(); i-- > 0;) pop(argument_registers[i]);
    const bool pad = depth_ % 2 != 0;
    if (pad) a_.sub(x86::rsp, 8);
    a_.call(jitcm::adapters::function_label(a_, n.index));  // the callee's slot: tier-ups reach callers unpatched
    if (pad) a_.add(x86::rsp, 8);
  }

  void push() {
    a_.push(x86::rax);
    ++depth_;
  }
  void pop(const x86::Gp& to) {
    a_.pop(to);
    --depth_;
  }

  static bool is_comparison(op o) { return o >= op::less; }
  static asmjit::InstId set_instruction(op o) {
    switch (o) {
      case op::less:
        return x86::Inst::kIdSetl;
      case op::less_equal:
        return x86::Inst::kIdSetle;
      case op::greater:
        return x86::Inst::kIdSetg;
      case op::greater_equal:
        return x86::Inst::kIdSetge;
      case op::equal:
        return x86::Inst::kIdSete;
      default:
        return x86::Inst::kIdSetne;
    }
  }
  static asmjit::InstId jump_unless(op o) {
    switch (o) {
      case op::less:
        return x86::Inst::kIdJge;
      case op::less_equal:
        return x86::Inst::kIdJg;
      case op::greater:
        return x86::Inst::kIdJle;
      case op::greater_equal:
        return x86::Inst::kIdJl;
      case op::equal:
        return x86::Inst::kIdJne;
      default:
        return x86::Inst::kIdJe;
    }
  }

  x86::Assembler a_;
  const program& program_;
  tier tier_;
  const call_counting& counting_;
  int depth_ = 0;
};

}  // namespace mini_jit
