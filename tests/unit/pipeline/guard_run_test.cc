#include "pipeline/guard_run.h"

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "support/uv_test_loop.h"

namespace sluice::pipeline {
namespace {

using manifest::GuardMode;
using manifest::GuardOperation;

// A guardrail whose check() the test scripts; it records what it saw.
struct FakeGuard {
  std::function<int(const sluice_guard_input*, sluice_guard_result*)> check;
  std::vector<std::string> seen;            // content of every call
  std::vector<void*> states;                // *request_state at every call
  std::vector<void*> cancelled;             // tokens
  std::vector<void*> ended;                 // request_end states
  // The last pending call, to answer later.
  sluice_guard_done done = nullptr;
  void* token = nullptr;
};

int fakeCheck(void* instance, const sluice_guard_input* in, sluice_guard_result* out) {
  auto* f = static_cast<FakeGuard*>(instance);
  f->seen.emplace_back(in->content.ptr, in->content.len);
  f->states.push_back(*in->request_state);
  f->done = in->done;
  f->token = in->token;
  return f->check ? f->check(in, out) : SLUICE_OK;
}
void fakeCancel(void* instance, void* token) {
  static_cast<FakeGuard*>(instance)->cancelled.push_back(token);
}
void fakeEnd(void* instance, void* state) { static_cast<FakeGuard*>(instance)->ended.push_back(state); }

const sluice_guardrail_vtable kFakeVtable = {sizeof(sluice_guardrail_vtable), nullptr, nullptr,
                                             fakeCheck, fakeCancel, fakeEnd};

// Answers stay valid until the next call: the fake keeps them here.
struct Answer {
  std::string reason, content;
  sluice_finding finding{};
  size_t hold = 0;
  void fill(sluice_guard_result* r, sluice_verdict v, const char* type = nullptr, uint32_t n = 0) {
    r->verdict = v;
    r->reason = {reason.data(), reason.size()};
    r->content = {content.data(), content.size()};
    if (type) {
      finding = {{type, strlen(type)}, n, {"redact", 6}};
      r->findings = &finding;
      r->finding_count = 1;
    }
    r->hold_bytes = hold;
  }
};

class GuardRunTest : public ::testing::Test {
 protected:
  GuardRunTest() { worker_.loop = loop_.get(); }

  // Adds a guardrail to the plan of llm_input (in the order given).
  FakeGuard* add(const std::string& name, GuardOperation op, GuardMode mode, int priority = 0,
                 uint32_t timeout_ms = 5000) {
    auto cfg = std::make_unique<manifest::GuardrailConfig>();
    cfg->name = name;
    cfg->operation = op;
    cfg->mode = mode;
    cfg->priority = priority;
    cfg->timeout_ms = timeout_ms;
    auto fake = std::make_unique<FakeGuard>();
    auto g = std::make_unique<Guardrail>();
    g->config = cfg.get();
    g->vt = &kFakeVtable;
    g->instance = fake.get();
    g->index = guards_.size();
    plan_.hooks[0].push_back(g.get());
    configs_.push_back(std::move(cfg));
    guards_.push_back(std::move(g));
    fakes_.push_back(std::move(fake));
    return fakes_.back().get();
  }

  std::unique_ptr<RequestGuards> start() {
    return std::make_unique<RequestGuards>(&worker_, plan_, GuardContext{"req_1", "m", "anonymous", "{}"},
                                           guards_.size());
  }

  // Runs llm_input over `segments`; the outcome, once done ran.
  std::optional<GuardOutcome> run(RequestGuards& guards, std::vector<std::string>* segments) {
    outcome_.reset();
    guards.run(GuardHook::LlmInput, segments, [this](const GuardOutcome& o) { outcome_ = o; });
    return outcome_;
  }

  testing::UvTestLoop loop_;
  sluice_worker worker_{};
  GuardPlan plan_;
  std::vector<std::unique_ptr<manifest::GuardrailConfig>> configs_;
  std::vector<std::unique_ptr<Guardrail>> guards_;
  std::vector<std::unique_ptr<FakeGuard>> fakes_;
  std::optional<GuardOutcome> outcome_;
};

TEST_F(GuardRunTest, MutationsRunOneAfterAnotherOverEveryText) {
  FakeGuard* upper = add("upper", GuardOperation::Mutate, GuardMode::Enforce);
  FakeGuard* star = add("star", GuardOperation::Mutate, GuardMode::Enforce);
  Answer a1, a2;
  upper->check = [&](const sluice_guard_input* in, sluice_guard_result* r) {
    a1.content = std::string(in->content.ptr, in->content.len) + "!";
    a1.fill(r, SLUICE_VERDICT_MUTATE);
    return SLUICE_OK;
  };
  star->check = [&](const sluice_guard_input* in, sluice_guard_result* r) {
    a2.content = "*" + std::string(in->content.ptr, in->content.len);
    a2.fill(r, SLUICE_VERDICT_MUTATE);
    return SLUICE_OK;
  };
  auto guards = start();
  std::vector<std::string> texts{"a", "b"};
  auto o = run(*guards, &texts);
  ASSERT_TRUE(o);
  EXPECT_FALSE(o->blocked);
  EXPECT_EQ(upper->seen, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(star->seen, (std::vector<std::string>{"a!", "b!"}));
  EXPECT_EQ(texts, (std::vector<std::string>{"*a!", "*b!"}));
}

TEST_F(GuardRunTest, ValidationsSeeTheTextsJoinedAndTheFirstBlockCancelsTheRest) {
  FakeGuard* slow = add("slow", GuardOperation::Validate, GuardMode::Enforce);
  FakeGuard* fast = add("fast", GuardOperation::Validate, GuardMode::Enforce);
  slow->check = [](const sluice_guard_input*, sluice_guard_result*) { return SLUICE_PENDING; };
  fast->check = [](const sluice_guard_input*, sluice_guard_result*) { return SLUICE_PENDING; };
  auto guards = start();
  std::vector<std::string> texts{"one", "two"};
  EXPECT_FALSE(run(*guards, &texts));  // both pending
  EXPECT_EQ(slow->seen, (std::vector<std::string>{"one\n\ntwo"}));
  EXPECT_EQ(fast->seen, slow->seen);

  Answer block;
  block.reason = "nope";
  sluice_guard_result r{};
  r.struct_size = sizeof r;
  block.fill(&r, SLUICE_VERDICT_BLOCK);
  fast->done(fast->token, &r);
  ASSERT_TRUE(outcome_);
  EXPECT_TRUE(outcome_->blocked);
  EXPECT_EQ(outcome_->guardrail, "fast");
  EXPECT_EQ(outcome_->reason, "nope");
  EXPECT_EQ(slow->cancelled, (std::vector<void*>{slow->token}));
  EXPECT_TRUE(fast->cancelled.empty());
}

TEST_F(GuardRunTest, AnAnswerGivenBeforeCheckReturnsIsTakenOnce) {
  FakeGuard* early = add("early", GuardOperation::Validate, GuardMode::Enforce);
  Answer block;
  block.reason = "early block";
  early->check = [&](const sluice_guard_input* in, sluice_guard_result*) {
    sluice_guard_result r{};
    r.struct_size = sizeof r;
    block.fill(&r, SLUICE_VERDICT_BLOCK);
    in->done(in->token, &r);
    in->done(in->token, &r);  // a second answer is ignored
    return SLUICE_PENDING;
  };
  auto guards = start();
  std::vector<std::string> texts{"x"};
  auto o = run(*guards, &texts);
  ASSERT_TRUE(o);
  EXPECT_TRUE(o->blocked);
  EXPECT_EQ(o->reason, "early block");
}

TEST_F(GuardRunTest, ATimeoutIsAFailureThatEnforcePassesAndStrictBlocks) {
  FakeGuard* lenient = add("lenient", GuardOperation::Validate, GuardMode::Enforce, 0, 20);
  lenient->check = [](const sluice_guard_input*, sluice_guard_result*) { return SLUICE_PENDING; };
  auto guards = start();
  std::vector<std::string> texts{"x"};
  run(*guards, &texts);
  ASSERT_TRUE(loop_.runUntil([&] { return outcome_.has_value(); }));
  EXPECT_FALSE(outcome_->blocked);
  EXPECT_EQ(lenient->cancelled.size(), 1u);
  EXPECT_EQ(guards->failures(), 1u);

  plan_ = GuardPlan();
  FakeGuard* strict = add("strict", GuardOperation::Validate, GuardMode::Strict, 0, 20);
  strict->check = [](const sluice_guard_input*, sluice_guard_result*) { return SLUICE_PENDING; };
  auto strict_guards = start();
  run(*strict_guards, &texts);
  ASSERT_TRUE(loop_.runUntil([&] { return outcome_.has_value(); }));
  EXPECT_TRUE(outcome_->blocked);
  EXPECT_EQ(outcome_->guardrail, "strict");
  EXPECT_EQ(outcome_->reason, "the guardrail failed: no answer within 20 ms");
}

TEST_F(GuardRunTest, APluginErrorIsAFailureToo) {
  FakeGuard* broken = add("broken", GuardOperation::Validate, GuardMode::Strict);
  broken->check = [](const sluice_guard_input*, sluice_guard_result*) { return SLUICE_ERR; };
  auto guards = start();
  std::vector<std::string> texts{"x"};
  auto o = run(*guards, &texts);
  ASSERT_TRUE(o);
  EXPECT_TRUE(o->blocked);
  EXPECT_EQ(o->reason, "the guardrail failed: the plugin returned error -1");
}

TEST_F(GuardRunTest, AuditRecordsButNeitherBlocksNorRewrites) {
  // A plan lists mutations before validations (GuardrailSet::plan sorts it).
  FakeGuard* audit_mutate = add("redact", GuardOperation::Mutate, GuardMode::Audit);
  FakeGuard* audit_block = add("watch", GuardOperation::Validate, GuardMode::Audit);
  Answer b, m;
  b.reason = "bad";
  audit_block->check = [&](const sluice_guard_input*, sluice_guard_result* r) {
    b.fill(r, SLUICE_VERDICT_BLOCK, "EMAIL", 2);
    return SLUICE_OK;
  };
  audit_mutate->check = [&](const sluice_guard_input*, sluice_guard_result* r) {
    m.content = "[EMAIL_1]";
    m.fill(r, SLUICE_VERDICT_MUTATE, "EMAIL", 1);
    return SLUICE_OK;
  };
  auto guards = start();
  std::vector<std::string> texts{"a@b.c"};
  auto o = run(*guards, &texts);
  ASSERT_TRUE(o);
  EXPECT_FALSE(o->blocked);
  EXPECT_EQ(texts[0], "a@b.c");
  ASSERT_EQ(guards->findings().size(), 2u);
  EXPECT_EQ(guards->findings()[0].guardrail, "redact");  // mutations first
  EXPECT_EQ(guards->findings()[0].action, "audit");
  EXPECT_EQ(guards->findings()[1].guardrail, "watch");
  EXPECT_EQ(guards->findings()[1].count, 2u);
  EXPECT_EQ(guards->findings()[1].hook, "llm_input");
}

TEST_F(GuardRunTest, FindingsAddUpAcrossCallsAndHoldBytesAreTheLargest) {
  FakeGuard* redact = add("pii", GuardOperation::Mutate, GuardMode::Enforce);
  Answer a;
  size_t call = 0;
  redact->check = [&](const sluice_guard_input* in, sluice_guard_result* r) {
    a.content = std::string(in->content.ptr, in->content.len);
    a.hold = ++call * 3;
    a.fill(r, SLUICE_VERDICT_MUTATE, "EMAIL", 1);
    return SLUICE_OK;
  };
  auto guards = start();
  std::vector<std::string> texts{"x", "y"};
  auto o = run(*guards, &texts);
  ASSERT_TRUE(o);
  EXPECT_EQ(o->hold_bytes, 6u);
  ASSERT_EQ(guards->findings().size(), 1u);
  EXPECT_EQ(guards->findings()[0].count, 2u);
  EXPECT_EQ(guards->findings()[0].action, "redact");
}

TEST_F(GuardRunTest, RequestStateComesBackOnEveryCallAndEndsOnce) {
  FakeGuard* keeper = add("keeper", GuardOperation::Mutate, GuardMode::Enforce);
  static int state_block;
  keeper->check = [](const sluice_guard_input* in, sluice_guard_result* r) {
    if (!*in->request_state) *in->request_state = &state_block;
    r->verdict = SLUICE_VERDICT_PASS;
    return SLUICE_OK;
  };
  {
    auto guards = start();
    std::vector<std::string> texts{"a", "b"};
    run(*guards, &texts);
    run(*guards, &texts);
    EXPECT_TRUE(keeper->ended.empty());
  }
  EXPECT_EQ(keeper->states, (std::vector<void*>{nullptr, &state_block, &state_block, &state_block}));
  EXPECT_EQ(keeper->ended, (std::vector<void*>{&state_block}));
}

TEST_F(GuardRunTest, CancelStopsPendingChecksAndDoneNeverRuns) {
  FakeGuard* waiting = add("waiting", GuardOperation::Validate, GuardMode::Enforce, 0, 50);
  waiting->check = [](const sluice_guard_input*, sluice_guard_result*) { return SLUICE_PENDING; };
  auto guards = start();
  std::vector<std::string> texts{"x"};
  run(*guards, &texts);
  guards->cancel();
  EXPECT_EQ(waiting->cancelled.size(), 1u);
  loop_.settle();
  EXPECT_FALSE(loop_.runUntil([&] { return outcome_.has_value(); }, 150)) << "the timeout fired after cancel";
}

TEST(GuardrailTest, RequestEndOnlyFromAVtableThatHasIt) {
  manifest::GuardrailConfig cfg;
  cfg.operation = GuardOperation::Validate;
  Guardrail current{&cfg, &kFakeVtable, nullptr, 0};
  EXPECT_TRUE(current.validate());
  EXPECT_TRUE(current.hasRequestEnd());
  sluice_guardrail_vtable old = kFakeVtable;
  old.struct_size = offsetof(sluice_guardrail_vtable, request_end);  // built for ABI 1.0
  Guardrail abi10{&cfg, &old, nullptr, 0};
  EXPECT_FALSE(abi10.hasRequestEnd());
}

}  // namespace
}  // namespace sluice::pipeline
