// Result<T>: the one error-carrying return type of cgotrace.
//
// Every fallible operation in cgotrace_core returns Result<T>. An Error carries
// a single human-readable line that names what was wrong (the binary, symbol,
// offset or PID concerned); the CLI prints it as "cgotrace: <message>" and
// exits non-zero. Results are values: no ownership beyond T's own, and no
// shared state, so they are as thread-safe as T.
#pragma once

#include <fmt/format.h>

#include <string>
#include <utility>
#include <variant>

namespace cgotrace {

struct Error {
  std::string message;
};

// Builds an Error from a fmt format string.
template <typename... Args>
Error MakeError(fmt::format_string<Args...> format, Args&&... args) {
  return Error{fmt::format(format, std::forward<Args>(args)...)};
}

template <typename T>
class [[nodiscard]] Result {
 public:
  // NOLINTNEXTLINE(google-explicit-constructor): returning T or Error must be implicit
  Result(T value) : v_(std::move(value)) {}
  Result(Error error) : v_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  // Precondition: ok().
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  // Precondition: !ok().
  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  // NOLINTNEXTLINE(google-explicit-constructor): functions return Error directly
  Result(Error error) : error_(std::move(error)), ok_(false) {}

  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const { return error_; }

 private:
  Error error_;
  bool ok_ = true;
};

inline Result<void> Ok() { return {}; }

}  // namespace cgotrace

// Propagates an error from an expression returning Result<...>.
#define CGT_TRY(expr)                 \
  do {                                \
    auto cgt_try_result_ = (expr);    \
    if (!cgt_try_result_.ok()) {      \
      return cgt_try_result_.error(); \
    }                                 \
  } while (0)
