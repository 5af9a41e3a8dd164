// The query string of a request target, decoded: "?a=1&b=x%20y" ->
// {{"a","1"},{"b","x y"}} ('+' is a space, as forms send it).
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sluice::http {

using QueryParams = std::vector<std::pair<std::string, std::string>>;

QueryParams parseQuery(std::string_view target);
// Percent-decoding; a malformed escape stays as it is.
std::string percentDecode(std::string_view s);

}  // namespace sluice::http
