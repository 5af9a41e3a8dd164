// Where guardrails read and write text in the canonical (OpenAI) JSON: the
// string items a hook inspects, in document order, and writing the edited
// texts back.
//
//   request   llm_input      every message's text (string content or text
//                            parts), a completion's prompt, embeddings' input
//             mcp_post_tool  tool results: the content of role "tool" messages
//   response  llm_output     each choice's message content (or text)
//             mcp_pre_tool   each tool call's arguments, before the caller runs it
#pragma once

#include <cjson/cJSON.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "pipeline/guardrails.h"

namespace sluice::pipeline {

class GuardedJson {
 public:
  // False when `json` is not a JSON object.
  bool parse(std::string_view json);
  // Takes a tree parsed already (and frees it); false when it is not an object.
  bool adopt(cJSON* root);
  // The string items `hook` inspects in a request body / a whole response, into `out`
  // (its buffer reused).
  void requestItems(GuardHook hook, std::vector<cJSON*>* out) const;
  void responseItems(GuardHook hook, std::vector<cJSON*>* out) const;
  std::string print() const;

  // Their texts into `out` (its strings' buffers reused), and writing edited texts back; true
  // when one changed.
  static void texts(const std::vector<cJSON*>& items, std::vector<std::string>* out);
  static bool write(const std::vector<cJSON*>& items, const std::vector<std::string>& texts);

 private:
  struct Free {
    void operator()(cJSON* p) const { cJSON_Delete(p); }
  };
  std::unique_ptr<cJSON, Free> root_;
};

}  // namespace sluice::pipeline
