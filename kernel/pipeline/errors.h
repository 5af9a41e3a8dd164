// OpenAI-shaped error bodies: {"error":{"message","type","code","param"}}.
#pragma once

#include <string>
#include <string_view>

namespace sluice::pipeline {

struct ApiError {
  int status = 500;
  std::string message;
  std::string type;   // invalid_request_error, authentication_error, ...
  std::string code;   // empty -> null
  std::string param;  // empty -> null
};

// The JSON body for an error (properly escaped).
std::string errorBody(const ApiError& e);
// The conventional `type` for a status.
const char* errorTypeFor(int status);
ApiError makeError(int status, std::string message, std::string code = "",
                   std::string param = "");

// Appends `s` to `out` as a JSON string literal (quotes included).
void appendJsonString(std::string* out, std::string_view s);

}  // namespace sluice::pipeline
