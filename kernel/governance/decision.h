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

// x-ratelimit-{limit,remaining,reset}-{requests,tokens}: the figures of the
// tightest rate rule of each unit.
struct RateLimitHeaders {
  struct Figures {
    bool set = false;  // the unit has a rate rule
    int64_t limit = 0;
    int64_t remaining = 0;
    int64_t reset_ms = 0;  // from the decision's time
  };
  Figures requests;
  Figures tokens;

  void appendTo(HeaderList* out) const;
};

struct Decision {
  enum class Kind { Admit, Refuse, Downgrade } kind = Kind::Admit;
  bool reserved = false;  // the store holds this plan's reservation (settle it)
  // Refuse:
  int status = 0;
  std::string code;
  std::string message;
  // Downgrade: the budget whose limit sent the request to a cheaper model.
  const manifest::BudgetRule* downgrade = nullptr;
  HeaderList headers;  // Refuse: Retry-After, x-ratelimit-*
  // Admit: the x-ratelimit-* figures, written into the answer's headers
  // when it goes out (no header text is built per request before then).
  RateLimitHeaders limits;
};

Decision decide(const Plan& plan, const ReserveResult& result, int64_t now_ms, bool fail_closed);

// The tightest rate rule of each unit; `admitted` counts this request's
// reservation in.
RateLimitHeaders rateLimitHeaders(const Plan& plan, const std::vector<int64_t>& before,
                                  int64_t now_ms, bool admitted);

// "$1.25" for nano-dollars, "1200 tokens" for token budgets.
std::string formatAmount(CounterKind kind, int64_t amount);

}  // namespace sluice::governance
