// The mini JIT's language: integer functions of up to six parameters.
//
//     # comments run to the end of the line
//     fib(n) = if n < 2 then n else fib(n - 1) + fib(n - 2);
//     main(n) = fib(n);
//
// Values are 64-bit integers that wrap; `x / 0` and `x % 0` are 0, and so
// is `x % -1` (no trap, whatever the program does). Comparisons give 0 or 1.
// A program runs its function `main` with the integers given after it.
#pragma once

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mini_jit {

enum class op { add, sub, mul, div, mod, less, less_equal, greater, greater_equal, equal, not_equal };

struct node {
  enum class kind { number, parameter, negate, binary, if_then_else, call };
  kind what = kind::number;
  op operation = op::add;      // binary
  std::int64_t value = 0;      // number
  std::uint32_t index = 0;     // parameter: its position; call: the callee's function index
  std::vector<node> operands;  // negate: 1; binary: 2; if_then_else: 3; call: the arguments
};

[[nodiscard]] inline node make_node(node::kind what, std::int64_t value = 0, std::uint32_t index = 0) {
  node n;
  n.what = what;
  n.value = value;
  n.index = index;
  return n;
}

struct function {
  std::string name;
  std::vector<std::string> parameters;
  node body;
};

struct program {
  std::vector<function> functions;
  [[nodiscard]] std::optional<std::uint32_t> find(std::string_view name) const {
    for (std::uint32_t i = 0; i < functions.size(); ++i) {
      if (functions[i].name == name) return i;
    }
    return std::nullopt;
  }
};

inline constexpr std::size_t max_parameters = 6;  // the System V integer argument registers

/// What the generated code computes for `lhs operation rhs`; the constant
/// folder uses it, so folded and compiled arithmetic agree.
[[nodiscard]] constexpr std::int64_t apply(op operation, std::int64_t lhs, std::int64_t rhs) noexcept {
  const auto wrap = [](std::uint64_t v) { return static_cast<std::int64_t>(v); };
  const auto u = [](std::int64_t v) { return static_cast<std::uint64_t>(v); };
  switch (operation) {
    case op::add:
      return wrap(u(lhs) + u(rhs));
    case op::sub:
      return wrap(u(lhs) - u(rhs));
    case op::mul:
      return wrap(u(lhs) * u(rhs));
    case op::div:
      return rhs == 0 ? 0 : rhs == -1 ? wrap(0 - u(lhs)) : lhs / rhs;
    case op::mod:
      return rhs == 0 || rhs == -1 ? 0 : lhs % rhs;
    case op::less:
      return lhs < rhs;
    case op::less_equal:
      return lhs <= rhs;
    case op::greater:
      return lhs > rhs;
    case op::greater_equal:
      return lhs >= rhs;
    case op::equal:
      return lhs == rhs;
    case op::not_equal:
      return lhs != rhs;
  }
  return 0;
}

/// Parses a whole program: every function declared before any body is
/// read, so functions may call each other in any order. On error, returns
/// nothing and sets `error` to "line N: what".
class parser {
 public:
  explicit parser(std::string_view source) : source_{source} {}

  [[nodiscard]] std::optional<program> parse(std::string& error) {
    program result;
    if (!declare_all(result)) return fail(error);
    position_ = 0;
    line_ = 1;
    for (function& f : result.functions) {
      skip_header();
      current_ = &f;
      program_ = &result;
      auto body = expression();
      if (!body || !expect(";")) return fail(error);
      f.body = std::move(*body);
    }
    if (!result.find("main")) {
      message_ = "no function main";
      return fail(error);
    }
    return result;
  }

 private:
  // ---- lexing
  void skip_space() {
    while (position_ < source_.size()) {
      const char c = source_[position_];
      if (c == '#') {
        while (position_ < source_.size() && source_[position_] != '\n') ++position_;
      } else if (std::isspace(static_cast<unsigned char>(c))) {
        if (c == '\n') ++line_;
        ++position_;
      } else {
        break;
      }
    }
  }
  [[nodiscard]] bool at_end() {
    skip_space();
    return position_ >= source_.size();
  }
  /// Consumes `token` (punctuation, or a keyword not followed by a name character).
  bool accept(std::string_view token) {
    skip_space();
    if (source_.substr(position_, token.size()) != token) return false;
    const std::size_t after = position_ + token.size();
    if (std::isalpha(static_cast<unsigned char>(token[0])) && after < source_.size() &&
        (std::isalnum(static_cast<unsigned char>(source_[after])) || source_[after] == '_')) {
      return false;
    }
    // "<" must not eat the first character of "<=".
    if ((token == "<" || token == ">") && after < source_.size() && source_[after] == '=') return false;
    position_ = after;
    return true;
  }
  bool expect(std::string_view token) {
    if (accept(token)) return true;
    message_ = "expected '" + std::string(token) + "'";
    return false;
  }
  std::optional<std::string> name() {
    skip_space();
    const std::size_t start = position_;
    while (position_ < source_.size() &&
           (std::isalnum(static_cast<unsigned char>(source_[position_])) || source_[position_] == '_')) {
      ++position_;
    }
    if (position_ == start || std::isdigit(static_cast<unsigned char>(source_[start]))) {
      position_ = start;
      message_ = "expected a name";
      return std::nullopt;
    }
    return std::string(source_.substr(start, position_ - start));
  }
  std::optional<std::int64_t> number() {
    skip_space();
    std::uint64_t value = 0;
    const std::size_t start = position_;
    while (position_ < source_.size() && std::isdigit(static_cast<unsigned char>(source_[position_]))) {
      value = value * 10 + static_cast<std::uint64_t>(source_[position_++] - '0');  // wraps, as the values do
    }
    if (position_ == start) return std::nullopt;
    return static_cast<std::int64_t>(value);
  }

  // ---- declarations: `name(params) =`, then the body is skipped to ';'
  bool declare_all(program& result) {
    while (!at_end()) {
      function f;
      auto n = name();
      if (!n || !expect("(")) return false;
      f.name = *n;
      if (result.find(f.name)) {
        message_ = "function " + f.name + " defined twice";
        return false;
      }
      if (!accept(")")) {
        do {
          auto p = name();
          if (!p) return false;
          f.parameters.push_back(*p);
        } while (accept(","));
        if (!expect(")")) return false;
      }
      if (f.parameters.size() > max_parameters) {
        message_ = f.name + " has more than 6 parameters";
        return false;
      }
      if (!expect("=")) return false;
      // The body is read in the second pass; comments may hold a ';'.
      while (!at_end() && source_[position_] != ';') ++position_;
      if (!expect(";")) return false;
      result.functions.push_back(std::move(f));
    }
    return true;
  }
  /// Reads again a header declare_all accepted.
  void skip_header() {
    (void)name();
    (void)accept("(");
    while (!accept(")")) {
      (void)name();
      (void)accept(",");
    }
    (void)accept("=");
  }

  // ---- expressions
  std::optional<node> expression() {
    if (accept("if")) {
      node n = make_node(node::kind::if_then_else);
      for (const char* next : {"then", "else", ""}) {
        auto part = expression();
        if (!part) return std::nullopt;
        n.operands.push_back(std::move(*part));
        if (*next != '\0' && !expect(next)) return std::nullopt;
      }
      return n;
    }
    return comparison();
  }
  std::optional<node> comparison() {
    auto lhs = sum();
    if (!lhs) return std::nullopt;
    static constexpr std::pair<const char*, op> comparisons[] = {{"<=", op::less_equal}, {">=", op::greater_equal},
                                                                 {"==", op::equal},      {"!=", op::not_equal},
                                                                 {"<", op::less},        {">", op::greater}};
    for (const auto& [token, operation] : comparisons) {
      if (accept(token)) return binary(operation, std::move(*lhs), sum());
    }
    return lhs;
  }
  std::optional<node> sum() { return left_associative(&parser::product, {{"+", op::add}, {"-", op::sub}}); }
  std::optional<node> product() {
    return left_associative(&parser::unary, {{"*", op::mul}, {"/", op::div}, {"%", op::mod}});
  }
  /// operand {operator operand}, grouped from the left.
  std::optional<node> left_associative(std::optional<node> (parser::*operand)(),
                                       std::initializer_list<std::pair<const char*, op>> operators) {
    auto lhs = (this->*operand)();
    while (lhs) {
      const auto* found = std::find_if(operators.begin(), operators.end(),
                                       [this](const auto& candidate) { return accept(candidate.first); });
      if (found == operators.end()) break;
      lhs = binary(found->second, std::move(*lhs), (this->*operand)());
    }
    return lhs;
  }
  std::optional<node> unary() {
    if (accept("-")) {
      auto operand = unary();
      if (!operand) return std::nullopt;
      node n = make_node(node::kind::negate);
      n.operands.push_back(std::move(*operand));
      return n;
    }
    return primary();
  }
  std::optional<node> primary() {
    if (accept("(")) {
      auto inner = expression();
      if (!inner || !expect(")")) return std::nullopt;
      return inner;
    }
    if (auto value = number()) return make_node(node::kind::number, *value);
    auto n = name();
    if (!n) {
      message_ = "expected a number, a name or '('";
      return std::nullopt;
    }
    if (accept("(")) return call(*n);
    for (std::uint32_t i = 0; i < current_->parameters.size(); ++i) {
      if (current_->parameters[i] == *n) return make_node(node::kind::parameter, 0, i);
    }
    message_ = "unknown name " + *n;
    return std::nullopt;
  }
  std::optional<node> call(const std::string& callee) {
    const auto index = program_->find(callee);
    if (!index) {
      message_ = "unknown function " + callee;
      return std::nullopt;
    }
    node n = make_node(node::kind::call, 0, *index);
    if (!accept(")")) {
      do {
        auto argument = expression();
        if (!argument) return std::nullopt;
        n.operands.push_back(std::move(*argument));
      } while (accept(","));
      if (!expect(")")) return std::nullopt;
    }
    if (n.operands.size() != program_->functions[*index].parameters.size()) {
      message_ = callee + " takes " + std::to_string(program_->functions[*index].parameters.size()) + " arguments";
      return std::nullopt;
    }
    return n;
  }
  static std::optional<node> binary(op operation, node lhs, std::optional<node> rhs) {
    if (!rhs) return std::nullopt;
    node n = make_node(node::kind::binary);
    n.operation = operation;
    n.operands.push_back(std::move(lhs));
    n.operands.push_back(std::move(*rhs));
    return n;
  }

  std::optional<program> fail(std::string& error) const {
    error = "line " + std::to_string(line_) + ": " + message_;
    return std::nullopt;
  }

  std::string_view source_;
  std::size_t position_ = 0;
  int line_ = 1;
  std::string message_;
  const function* current_ = nullptr;
  const program* program_ = nullptr;
};

/// The optimizing tier's first pass: operations on constants computed now,
/// `if` on a constant replaced by the branch taken.
[[nodiscard]] inline node fold_constants(const node& n) {
  node folded = n;
  for (node& operand : folded.operands) operand = fold_constants(operand);
  const auto constant = [](const node& x) { return x.what == node::kind::number; };
  switch (folded.what) {
    case node::kind::negate:
      if (constant(folded.operands[0]))
        return make_node(node::kind::number, apply(op::sub, 0, folded.operands[0].value));
      break;
    case node::kind::binary:
      if (constant(folded.operands[0]) && constant(folded.operands[1])) {
        return make_node(node::kind::number,
                         apply(folded.operation, folded.operands[0].value, folded.operands[1].value));
      }
      break;
    case node::kind::if_then_else:
      if (constant(folded.operands[0])) return folded.operands[folded.operands[0].value != 0 ? 1 : 2];
      break;
    default:
      break;
  }
  return folded;
}

}  // namespace mini_jit
