// Normalises the wire quirks of OpenAI-compatible servers into canonical
// OpenAI chat JSON (see the plugin's description for the list).
#pragma once

#include <cjson/cJSON.h>

#include <cstdint>
#include <vector>

namespace sluice::openai_compatible {

struct Usage {
  bool found = false;
  int64_t prompt = 0;
  int64_t completion = 0;
  int64_t cached = 0;
};

// Reads `usage` (after moving Groq's x_groq.usage there when it is the only
// copy). Returns true when the object changed.
bool takeUsage(cJSON* root, Usage* usage);

// A Mistral content array becomes a string: text parts joined, thinking parts
// joined into reasoning_content, other parts dropped. Groq's `reasoning`
// becomes `reasoning_content`. `holder` is a delta or a message.
bool normalizeContent(cJSON* holder);

// Per-stream state for chunk objects.
class StreamNormalizer {
 public:
  // Rewrites one chat.completion.chunk (or text_completion chunk) in place.
  // Returns true when it changed.
  bool chunk(cJSON* root, Usage* usage);

 private:
  bool toolCalls(cJSON* delta, int choice);
  std::vector<int> next_tool_index_;  // by choice index: the index the next new call gets
};

// Rewrites one non-streaming chat.completion or text_completion body in place.
// Returns true when it changed.
bool normalizeBody(cJSON* root, Usage* usage);

}  // namespace sluice::openai_compatible
