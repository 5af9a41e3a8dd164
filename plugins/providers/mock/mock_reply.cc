#include "mock_reply.h"

#include <cjson/cJSON.h>

#include <cmath>
#include <cstring>
#include <memory>
#include <string_view>

#include "json_out.h"

namespace sluice::mock {
namespace {

struct JsonDeleter {
  void operator()(cJSON* j) const { cJSON_Delete(j); }
};
using JsonPtr = std::unique_ptr<cJSON, JsonDeleter>;

constexpr size_t kEchoBytes = 100;  // how much of the user's message the default reply echoes
constexpr int kDefaultDims = 8;
constexpr int kMaxDims = 4096;

// ---- text measures --------------------------------------------------------

size_t utf8Chars(std::string_view s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

// The longest prefix of `s` of at most `max` bytes that ends on a character.
size_t utf8Prefix(std::string_view s, size_t max) {
  if (s.size() <= max) return s.size();
  while (max > 0 && (static_cast<unsigned char>(s[max]) & 0xC0) == 0x80) max--;
  return max;
}

bool isSpace(char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; }

int64_t countWords(std::string_view s) {
  int64_t n = 0;
  for (size_t i = 0; i < s.size(); i++) n += !isSpace(s[i]) && (i == 0 || isSpace(s[i - 1]));
  return n;
}

int64_t tokensForChars(size_t chars) { return static_cast<int64_t>((chars + 3) / 4); }

// The end of the first `words` words of `s`.
size_t wordsPrefix(std::string_view s, int64_t words) {
  int64_t seen = 0;
  for (size_t i = 0; i < s.size(); i++) {
    if (!isSpace(s[i]) && (i == 0 || isSpace(s[i - 1]))) {
      if (seen++ == words) return i;
    }
  }
  return s.size();
}

// Stream pieces: one per word (leading whitespace joins the word after it),
// or `chunks` pieces of about equal size; together they are exactly `s`.
std::vector<std::string_view> pieces(std::string_view s, uint32_t chunks) {
  std::vector<std::string_view> out;
  if (s.empty()) return out;
  if (chunks == 0) {
    size_t start = 0;
    for (size_t i = 1; i < s.size(); i++) {
      if (isSpace(s[i]) && !isSpace(s[i - 1])) {
        out.push_back(s.substr(start, i - start));
        start = i;
      }
    }
    out.push_back(s.substr(start));
    return out;
  }
  size_t start = 0;
  for (uint32_t k = 1; k <= chunks && start < s.size(); k++) {
    size_t end = k == chunks ? s.size() : s.size() * k / chunks;
    while (end < s.size() && (static_cast<unsigned char>(s[end]) & 0xC0) == 0x80) end++;
    if (end > start) out.push_back(s.substr(start, end - start));
    start = end > start ? end : start;
  }
  return out;
}

// ---- request reading ------------------------------------------------------

// Text of a message `content`: a string, or an array of {"type":"text"} parts.
std::string contentText(const cJSON* content) {
  if (cJSON_IsString(content)) return content->valuestring;
  std::string text;
  const cJSON* part = nullptr;
  cJSON_ArrayForEach(part, content) {
    const cJSON* t = cJSON_GetObjectItemCaseSensitive(part, "text");
    if (cJSON_IsString(t)) text.append(t->valuestring);
  }
  return text;
}

int64_t intOr(const cJSON* obj, const char* key, int64_t fallback) {
  const cJSON* v = cJSON_GetObjectItemCaseSensitive(obj, key);
  return cJSON_IsNumber(v) ? static_cast<int64_t>(v->valuedouble) : fallback;
}

bool includeUsage(const cJSON* req) {
  const cJSON* opts = cJSON_GetObjectItemCaseSensitive(req, "stream_options");
  return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(opts, "include_usage"));
}

// The status an error trigger asks for: upstream model "error-NNN", or the
// request field "mock_status". 0: none. -1: mock_status is malformed.
int triggeredStatus(std::string_view model, const cJSON* req) {
  if (model.size() == 9 && model.substr(0, 6) == "error-") {
    int status = 0;
    for (char c : model.substr(6)) status = c >= '0' && c <= '9' ? status * 10 + (c - '0') : -1000;
    if (status >= 400 && status <= 599) return status;
  }
  const cJSON* ms = cJSON_GetObjectItemCaseSensitive(req, "mock_status");
  if (!ms) return 0;
  if (!cJSON_IsNumber(ms) || ms->valuedouble != std::floor(ms->valuedouble) ||
      ms->valuedouble < 400 || ms->valuedouble > 599) {
    return -1;
  }
  return static_cast<int>(ms->valuedouble);
}

// ---- writers --------------------------------------------------------------

Reply errorReply(int status, std::string_view message, const char* param) {
  const char* type = status >= 500   ? "server_error"
                     : status == 401 ? "authentication_error"
                     : status == 403 ? "permission_error"
                     : status == 429 ? "rate_limit_error"
                                     : "invalid_request_error";
  const char* code = status == 401   ? "invalid_api_key"
                     : status == 404 ? "model_not_found"
                     : status == 429 ? "rate_limit_exceeded"
                                     : nullptr;
  Reply r;
  r.status = status;
  r.body = "{\"error\":{\"message\":";
  appendString(&r.body, message);
  r.body += ",\"type\":\"";
  r.body += type;
  r.body += "\",\"param\":";
  if (param) {
    appendString(&r.body, param);
  } else {
    r.body += "null";
  }
  r.body += ",\"code\":";
  if (code) {
    appendString(&r.body, code);
  } else {
    r.body += "null";
  }
  r.body += "}}";
  r.cuts.push_back(r.body.size());
  return r;
}

void appendUsage(std::string* out, int64_t prompt, int64_t completion) {
  *out += "\"usage\":{\"prompt_tokens\":";
  appendInt(out, prompt);
  *out += ",\"completion_tokens\":";
  appendInt(out, completion);
  *out += ",\"total_tokens\":";
  appendInt(out, prompt + completion);
  *out += '}';
}

// Everything a text answer (chat or completions) needs.
struct TextAnswer {
  bool chat;
  std::string id;  // full id, "chatcmpl-mock-..." or "cmpl-mock-..."
  std::string_view model;
  int64_t created;
  std::string text;
  const char* finish;
  int64_t prompt_tokens;
  int64_t completion_tokens;
};

// `{"id":...,"object":...,"created":...,"model":...,` shared by every object.
std::string head(const TextAnswer& a, const char* object) {
  std::string h = "{\"id\":";
  appendString(&h, a.id);
  h += ",\"object\":\"";
  h += object;
  h += "\",\"created\":";
  appendInt(&h, a.created);
  h += ",\"model\":";
  appendString(&h, a.model);
  h += ',';
  return h;
}

void writeBody(const TextAnswer& a, Reply* r) {
  std::string& b = r->body;
  b = head(a, a.chat ? "chat.completion" : "text_completion");
  if (a.chat) {
    b += "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":";
    appendString(&b, a.text);
    b += "},\"finish_reason\":\"";
  } else {
    b += "\"choices\":[{\"text\":";
    appendString(&b, a.text);
    b += ",\"index\":0,\"logprobs\":null,\"finish_reason\":\"";
  }
  b += a.finish;
  b += "\"}],";
  appendUsage(&b, a.prompt_tokens, a.completion_tokens);
  b += '}';
  r->cuts.push_back(b.size());
}

// One stream choice: a chat delta or a completions text piece.
void appendChoice(const TextAnswer& a, std::string* b, const char* role, std::string_view text,
                  const char* finish) {
  if (a.chat) {
    *b += "[{\"index\":0,\"delta\":{";
    if (role) {
      *b += "\"role\":\"";
      *b += role;
      *b += "\",\"content\":\"\"";
    } else if (!finish) {
      *b += "\"content\":";
      appendString(b, text);
    }
    *b += "},\"finish_reason\":";
  } else {
    *b += "[{\"text\":";
    appendString(b, text);
    *b += ",\"index\":0,\"logprobs\":null,\"finish_reason\":";
  }
  if (finish) {
    *b += '"';
    *b += finish;
    *b += '"';
  } else {
    *b += "null";
  }
  *b += "}]";
}

void writeStream(const TextAnswer& a, uint32_t chunks, bool usage, Reply* r) {
  r->content_type = "text/event-stream";
  std::string prefix = "data: " + head(a, a.chat ? "chat.completion.chunk" : "text_completion");
  prefix += "\"choices\":";
  std::string& b = r->body;
  auto end = [r]() {
    r->body += "}\n\n";
    r->cuts.push_back(r->body.size());
  };
  if (a.chat) {
    b += prefix;
    appendChoice(a, &b, "assistant", {}, nullptr);
    end();
  }
  for (std::string_view piece : pieces(a.text, chunks)) {
    b += prefix;
    appendChoice(a, &b, nullptr, piece, nullptr);
    end();
  }
  b += prefix;
  appendChoice(a, &b, nullptr, {}, a.finish);
  end();
  if (usage) {
    b += prefix;
    b += "[],";
    appendUsage(&b, a.prompt_tokens, a.completion_tokens);
    end();
  }
  b += "data: [DONE]\n\n";
  r->cuts.push_back(b.size());
}

// The reply text, cut to max_tokens words (then finish_reason is "length").
void finishText(const Config& cfg, const cJSON* req, std::string echo, TextAnswer* a) {
  if (cfg.has_reply) {
    a->text = cfg.reply;
  } else if (echo.empty()) {
    a->text = "Mock reply.";
  } else {
    echo.resize(utf8Prefix(echo, kEchoBytes));
    a->text = "Mock reply to: " + echo;
  }
  a->finish = "stop";
  int64_t limit = intOr(req, "max_completion_tokens", intOr(req, "max_tokens", -1));
  if (limit >= 0 && countWords(a->text) > limit) {
    a->text.resize(wordsPrefix(a->text, limit));
    a->finish = "length";
  }
  a->completion_tokens = countWords(a->text);
}

Reply textReply(const Config& cfg, const sluice_provider_call* call, const cJSON* req,
                TextAnswer a) {
  std::string echo;
  size_t prompt_chars = 0;
  if (a.chat) {
    const cJSON* messages = cJSON_GetObjectItemCaseSensitive(req, "messages");
    if (!cJSON_IsArray(messages) || cJSON_GetArraySize(messages) == 0) {
      return errorReply(400, "messages must be a non-empty array", "messages");
    }
    const cJSON* m = nullptr;
    cJSON_ArrayForEach(m, messages) {
      std::string text = contentText(cJSON_GetObjectItemCaseSensitive(m, "content"));
      prompt_chars += utf8Chars(text);
      const cJSON* role = cJSON_GetObjectItemCaseSensitive(m, "role");
      if (cJSON_IsString(role) && strcmp(role->valuestring, "user") == 0) echo = std::move(text);
    }
  } else {
    const cJSON* prompt = cJSON_GetObjectItemCaseSensitive(req, "prompt");
    if (cJSON_IsArray(prompt)) prompt = cJSON_GetArrayItem(prompt, 0);
    if (cJSON_IsString(prompt)) echo = prompt->valuestring;
    prompt_chars = utf8Chars(echo);
  }
  a.prompt_tokens = tokensForChars(prompt_chars);
  finishText(cfg, req, std::move(echo), &a);
  Reply r;
  if (call->stream) {
    writeStream(a, cfg.chunks, includeUsage(req), &r);
  } else {
    writeBody(a, &r);
  }
  return r;
}

// ---- embeddings -----------------------------------------------------------

uint64_t fnv1a(std::string_view s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ull;
  return h;
}

uint64_t splitmix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// A unit vector that depends only on `text`.
std::vector<float> embed(std::string_view text, int dims) {
  std::vector<double> v(dims);
  uint64_t h = fnv1a(text);
  double norm = 0;
  for (int i = 0; i < dims; i++) {
    v[i] = static_cast<double>(splitmix(h + i) >> 11) * 0x1.0p-53 * 2.0 - 1.0;
    norm += v[i] * v[i];
  }
  norm = norm > 0 ? std::sqrt(norm) : 1;
  std::vector<float> out(dims);
  for (int i = 0; i < dims; i++) out[i] = static_cast<float>(v[i] / norm);
  return out;
}

// Little-endian float32 bytes in base64, as OpenAI's encoding_format=base64.
void appendBase64Floats(std::string* out, const std::vector<float>& v) {
  static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string bytes;
  for (float f : v) {
    uint32_t u;
    memcpy(&u, &f, 4);
    for (int k = 0; k < 4; k++) bytes.push_back(static_cast<char>((u >> (8 * k)) & 0xff));
  }
  out->push_back('"');
  for (size_t i = 0; i < bytes.size(); i += 3) {
    uint32_t n = static_cast<unsigned char>(bytes[i]) << 16;
    if (i + 1 < bytes.size()) n |= static_cast<unsigned char>(bytes[i + 1]) << 8;
    if (i + 2 < bytes.size()) n |= static_cast<unsigned char>(bytes[i + 2]);
    out->push_back(kAlphabet[(n >> 18) & 63]);
    out->push_back(kAlphabet[(n >> 12) & 63]);
    out->push_back(i + 1 < bytes.size() ? kAlphabet[(n >> 6) & 63] : '=');
    out->push_back(i + 2 < bytes.size() ? kAlphabet[n & 63] : '=');
  }
  out->push_back('"');
}

// One input: its hashed text and its token count.
struct EmbedInput {
  std::string text;
  int64_t tokens;
};

// Token arrays hash their numbers as "1,2,3" and count one token each.
EmbedInput tokenInput(const cJSON* arr) {
  EmbedInput in{"", cJSON_GetArraySize(arr)};
  const cJSON* n = nullptr;
  cJSON_ArrayForEach(n, arr) {
    if (!in.text.empty()) in.text += ',';
    appendInt(&in.text, static_cast<int64_t>(n->valuedouble));
  }
  return in;
}

Reply embeddingsReply(std::string_view model, const cJSON* req) {
  const cJSON* input = cJSON_GetObjectItemCaseSensitive(req, "input");
  std::vector<EmbedInput> inputs;
  if (cJSON_IsString(input)) {
    inputs.push_back({input->valuestring, tokensForChars(utf8Chars(input->valuestring))});
  } else if (cJSON_IsArray(input) && cJSON_IsNumber(cJSON_GetArrayItem(input, 0))) {
    inputs.push_back(tokenInput(input));
  } else if (cJSON_IsArray(input)) {
    const cJSON* item = nullptr;
    cJSON_ArrayForEach(item, input) {
      if (cJSON_IsString(item)) {
        inputs.push_back({item->valuestring, tokensForChars(utf8Chars(item->valuestring))});
      } else if (cJSON_IsArray(item)) {
        inputs.push_back(tokenInput(item));
      } else {
        return errorReply(400, "input must be a string or an array of strings", "input");
      }
    }
  }
  if (inputs.empty()) {
    return errorReply(400, "input must be a string or an array of strings", "input");
  }
  int64_t dims = intOr(req, "dimensions", kDefaultDims);
  if (dims < 1 || dims > kMaxDims) return errorReply(400, "dimensions out of range", "dimensions");
  const cJSON* format = cJSON_GetObjectItemCaseSensitive(req, "encoding_format");
  bool base64 = cJSON_IsString(format) && strcmp(format->valuestring, "base64") == 0;

  Reply r;
  std::string& b = r.body;
  b = "{\"object\":\"list\",\"data\":[";
  int64_t tokens = 0;
  for (size_t i = 0; i < inputs.size(); i++) {
    tokens += inputs[i].tokens;
    std::vector<float> v = embed(inputs[i].text, static_cast<int>(dims));
    b += i ? ",{\"object\":\"embedding\",\"index\":" : "{\"object\":\"embedding\",\"index\":";
    appendInt(&b, static_cast<int64_t>(i));
    b += ",\"embedding\":";
    if (base64) {
      appendBase64Floats(&b, v);
    } else {
      b += '[';
      for (size_t k = 0; k < v.size(); k++) {
        char num[32];
        int n = snprintf(num, sizeof(num), k ? ",%.9g" : "%.9g", v[k]);
        b.append(num, n);
      }
      b += ']';
    }
    b += '}';
  }
  b += "],\"model\":";
  appendString(&b, model);
  b += ",\"usage\":{\"prompt_tokens\":";
  appendInt(&b, tokens);
  b += ",\"total_tokens\":";
  appendInt(&b, tokens);
  b += "}}";
  r.cuts.push_back(b.size());
  return r;
}

Reply modelsReply(const Config& cfg) {
  Reply r;
  r.body = "{\"object\":\"list\",\"data\":[";
  for (size_t i = 0; i < cfg.models.size(); i++) {
    r.body += i ? ",{\"id\":" : "{\"id\":";
    appendString(&r.body, cfg.models[i]);
    r.body += ",\"object\":\"model\",\"created\":1700000000,\"owned_by\":\"sluice-mock\"}";
  }
  r.body += "]}";
  r.cuts.push_back(r.body.size());
  return r;
}

bool nonNegativeInt(const cJSON* cfg, const char* key, uint64_t max, uint64_t* out,
                    std::string* err) {
  const cJSON* v = cJSON_GetObjectItemCaseSensitive(cfg, key);
  if (!v || cJSON_IsNull(v)) return true;
  if (!cJSON_IsNumber(v) || v->valuedouble != std::floor(v->valuedouble) || v->valuedouble < 0 ||
      v->valuedouble > static_cast<double>(max)) {
    *err = std::string(key) + " must be an integer from 0 to ";
    appendInt(err, static_cast<int64_t>(max));
    return false;
  }
  *out = static_cast<uint64_t>(v->valuedouble);
  return true;
}

}  // namespace

bool parseConfig(const char* json, Config* cfg, std::string* err) {
  JsonPtr root(cJSON_Parse(json ? json : "{}"));
  if (!root || !cJSON_IsObject(root.get())) {
    *err = "config must be a JSON object";
    return false;
  }
  const cJSON* c = root.get();
  uint64_t chunks = 0;
  if (!nonNegativeInt(c, "latency_ms", 600000, &cfg->latency_ms, err) ||
      !nonNegativeInt(c, "chunk_delay_ms", 60000, &cfg->chunk_delay_ms, err) ||
      !nonNegativeInt(c, "chunks", 10000, &chunks, err)) {
    return false;
  }
  cfg->chunks = static_cast<uint32_t>(chunks);
  const cJSON* reply = cJSON_GetObjectItemCaseSensitive(c, "reply");
  if (reply && !cJSON_IsNull(reply)) {
    if (!cJSON_IsString(reply)) {
      *err = "reply must be a string";
      return false;
    }
    cfg->has_reply = true;
    cfg->reply = reply->valuestring;
  }
  const cJSON* models = cJSON_GetObjectItemCaseSensitive(c, "models");
  if (models && !cJSON_IsNull(models)) {
    if (!cJSON_IsArray(models)) {
      *err = "models must be a list of strings";
      return false;
    }
    cfg->models.clear();
    const cJSON* m = nullptr;
    cJSON_ArrayForEach(m, models) {
      if (!cJSON_IsString(m)) {
        *err = "models must be a list of strings";
        return false;
      }
      cfg->models.emplace_back(m->valuestring);
    }
  }
  return true;
}

bool supported(sluice_endpoint ep) {
  return ep == SLUICE_EP_CHAT || ep == SLUICE_EP_COMPLETIONS || ep == SLUICE_EP_EMBEDDINGS ||
         ep == SLUICE_EP_MODELS;
}

Reply buildReply(const Config& cfg, const sluice_provider_call* call, const std::string& id,
                 int64_t created) {
  if (call->endpoint == SLUICE_EP_MODELS) return modelsReply(cfg);
  JsonPtr req(cJSON_ParseWithLength(call->body.ptr ? call->body.ptr : "", call->body.len));
  if (!req || !cJSON_IsObject(req.get())) {
    return errorReply(400, "request body must be a JSON object", nullptr);
  }
  std::string model(call->model.ptr ? call->model.ptr : "", call->model.len);
  if (model.empty()) {
    const cJSON* m = cJSON_GetObjectItemCaseSensitive(req.get(), "model");
    model = cJSON_IsString(m) ? m->valuestring : "mock";
  }
  int status = triggeredStatus(model, req.get());
  if (status < 0) {
    return errorReply(400, "mock_status must be an integer from 400 to 599", "mock_status");
  }
  if (status > 0) {
    std::string message = "mock error: status ";
    appendInt(&message, status);
    return errorReply(status, message + " requested", nullptr);
  }
  switch (call->endpoint) {
    case SLUICE_EP_CHAT:
      return textReply(cfg, call, req.get(),
                       TextAnswer{true, "chatcmpl-mock-" + id, model, created, {}, "stop", 0, 0});
    case SLUICE_EP_COMPLETIONS:
      return textReply(cfg, call, req.get(),
                       TextAnswer{false, "cmpl-mock-" + id, model, created, {}, "stop", 0, 0});
    case SLUICE_EP_EMBEDDINGS:
      return embeddingsReply(model, req.get());
    default:
      return errorReply(404, "the mock provider does not serve this endpoint", nullptr);
  }
}

}  // namespace sluice::mock
