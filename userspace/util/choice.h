// The one parser of flag values that name one of a few choices (--format,
// --by, --root, --weight, --sort keys): a table of names per enum instead of
// an if-chain per flag, and the same error everywhere:
//   "--by 'colour': unknown value (expected func, goid or tid)".
// Pure functions over constant tables; thread-safe.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "cgotrace/result.h"

namespace cgotrace {

template <typename E>
struct Choice {
  std::string_view name;
  E value;
  bool listed = true;  // false: an accepted alias left out of messages
};

// "a, b or c" from the listed names of `choices`.
template <typename E>
std::string ChoiceList(std::span<const Choice<E>> choices) {
  std::vector<std::string_view> names;
  for (const Choice<E>& c : choices) {
    if (c.listed) {
      names.push_back(c.name);
    }
  }
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) {
    out += i == 0 ? "" : (i + 1 == names.size() ? " or " : ", ");
    out += names[i];
  }
  return out;
}

// Exact, case-sensitive match against the names in `choices`.
template <typename E>
Result<E> ParseChoice(std::string_view flag, std::string_view text,
                      std::span<const Choice<E>> choices) {
  for (const Choice<E>& c : choices) {
    if (c.name == text) {
      return c.value;
    }
  }
  return MakeError("{} '{}': unknown value (expected {})", flag, text, ChoiceList(choices));
}

// The name of `value` in `choices` (its first listed entry), "" if absent.
template <typename E>
std::string_view ChoiceName(std::span<const Choice<E>> choices, E value) {
  for (const Choice<E>& c : choices) {
    if (c.value == value && c.listed) {
      return c.name;
    }
  }
  return {};
}

}  // namespace cgotrace
