// What a reservation's answer means for the request: go on (with the
// x-ratelimit-* headers), go on with a cheaper model, or refuse with a 429
// (or a 503 when the state backend is down and the manifest says fail_closed).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "governance/counter_store.h"
#include "http/headers.h"
#include "governance/limits.h"

namespace sluice::governance {

using HeaderList = http::Headers;

struct Decision {
  enum class Kind { Admit, Refuse, Downgrade } kind = Kind::Admit;
  bool reserved = false;  // the store holds this plan's reservation (settle it)
  // Refuse:
  int status = 0;
  std::string code;
  std::string message;
  // Downgrade: the budget whose limit sent the request to a cheaper model.
  const manifest::BudgetRule* downgrade = nullptr;
  HeaderList headers;  // Retry-After, x-ratelimit-*
};

Decision decide(const Plan& plan, const ReserveResult& result, int64_t now_ms, bool fail_closed);

// x-ratelimit-{limit,remaining,reset}-{requests,tokens} of the tightest rate
// rule of each unit; `admitted` counts this request's reservation in.
void appendRateLimitHeaders(const Plan& plan, const std::vector<int64_t>& before, int64_t now_ms,
                            bool admitted, HeaderList* out);

// "$1.25" for nano-dollars, "1200 tokens" for token budgets.
std::string formatAmount(CounterKind kind, int64_t amount);

}  // namespace sluice::governance
