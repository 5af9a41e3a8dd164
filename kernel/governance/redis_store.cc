#include "governance/redis_store.h"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <netdb.h>
#include <openssl/sha.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "governance/redis_scripts.h"
#include "util/clock.h"
#include "util/log.h"

namespace sluice::governance {

namespace {

constexpr const char* kLogComponent = "state";
constexpr int64_t kWarnIntervalMs = 10000;

std::atomic<uint64_t> g_unavailable_total{0};
// Open stores, and those of them connected: /admin/limits says "connected"
// only when every worker's connection is up.
std::atomic<int64_t> g_open_stores{0};
std::atomic<int64_t> g_connected_stores{0};
std::atomic<int64_t> g_last_warn_ms{-kWarnIntervalMs};

int64_t monotonicMs() { return static_cast<int64_t>(util::monotonicNs() / 1000000); }

// At most one warning per interval for the whole process: an outage must not
// flood the log with one line per request.
void warnUnavailable(const std::string& reason) {
  int64_t now = monotonicMs();
  int64_t last = g_last_warn_ms.load();
  if (now - last < kWarnIntervalMs) return;
  if (!g_last_warn_ms.compare_exchange_strong(last, now)) return;
  util::logWarn(kLogComponent, "state backend unavailable: " + reason);
}

void reportUnavailable(const std::string& reason) {
  g_unavailable_total.fetch_add(1, std::memory_order_relaxed);
  warnUnavailable(reason);
}

std::string sha1Hex(const char* text) {
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(text), std::strlen(text), digest);
  static const char* kHex = "0123456789abcdef";
  std::string hex;
  for (unsigned char b : digest) {
    hex += kHex[b >> 4];
    hex += kHex[b & 15];
  }
  return hex;
}

const std::string& batchSha() {
  static const std::string sha = sha1Hex(redis_scripts::kBatch);
  return sha;
}

const std::string& adjustSha() {
  static const std::string sha = sha1Hex(redis_scripts::kAdjust);
  return sha;
}

const std::string& scriptSha(const char* script) {
  return script == redis_scripts::kBatch ? batchSha() : adjustSha();
}

bool parseInt(const std::string& text, int64_t* out) {
  if (text.empty()) return false;
  errno = 0;
  char* end = nullptr;
  long long v = std::strtoll(text.c_str(), &end, 10);
  if (errno != 0 || *end != '\0') return false;
  *out = v;
  return true;
}

bool percentDecode(const std::string& in, std::string* out) {
  out->clear();
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      *out += in[i];
      continue;
    }
    if (i + 2 >= in.size() || !std::isxdigit(static_cast<unsigned char>(in[i + 1])) ||
        !std::isxdigit(static_cast<unsigned char>(in[i + 2]))) {
      return false;
    }
    *out += static_cast<char>(std::stoi(in.substr(i + 1, 2), nullptr, 16));
    i += 2;
  }
  return true;
}

bool isNumericHost(const std::string& host) {
  unsigned char buf[sizeof(in6_addr)];
  return uv_inet_pton(AF_INET, host.c_str(), buf) == 0 ||
         uv_inet_pton(AF_INET6, host.c_str(), buf) == 0;
}

// hiredis 0.14's own libuv adapter ignores poll errors, but libuv reports a
// socket error (a refused connect, a reset) only as an error status, after
// which it stops watching: the connection would hang forever. This adapter
// hands errors to hiredis, whose read or write then finds the error and
// disconnects.
//
// Every uv_poll_start costs two epoll_ctl calls (libuv drops the fd and adds
// it again), and hiredis asks to watch reading again after every read: the
// adapter only tells libuv about real changes, and holds them back while the
// store writes a command itself (write interest added and dropped again).
struct LoopEvents {
  redisAsyncContext* context;
  uv_poll_t handle;
  int events;        // what hiredis wants watched
  int watching = 0;  // what libuv watches
  bool held = false;
};

void onPoll(uv_poll_t* handle, int status, int events);

void syncPoll(LoopEvents* p) {
  if (p->events == p->watching) return;
  p->watching = p->events;
  if (p->events) {
    uv_poll_start(&p->handle, p->events, onPoll);
  } else {
    uv_poll_stop(&p->handle);
  }
}

void onPoll(uv_poll_t* handle, int status, int events) {
  auto* p = static_cast<LoopEvents*>(handle->data);
  int ready = status < 0 ? p->events : events;
  if (p->context && (ready & UV_READABLE)) redisAsyncHandleRead(p->context);
  if (p->context && (ready & UV_WRITABLE)) redisAsyncHandleWrite(p->context);
  // Still connected after an error: keep watching, libuv stopped.
  if (status < 0 && p->context) {
    p->watching = 0;
    syncPoll(p);
  }
}

void updatePoll(LoopEvents* p, int add, int remove) {
  p->events = (p->events | add) & ~remove;
  if (!p->held) syncPoll(p);
}

// Writes what the context holds for the socket now rather than when the loop
// next finds it writable: one write, no change to what the loop watches.
// Only outside hiredis's own callbacks; the context may be freed (and the
// store told) when the write fails.
void writeNow(redisAsyncContext* ac) {
  auto* p = static_cast<LoopEvents*>(ac->ev.data);
  p->held = true;
  redisAsyncHandleWrite(ac);
  p->held = false;  // p outlives the context: it is freed when its handle has closed
  if (p->context) syncPoll(p);
}

void holdPoll(redisAsyncContext* ac) { static_cast<LoopEvents*>(ac->ev.data)->held = true; }

bool attachToLoop(redisAsyncContext* ac, uv_loop_t* loop) {
  auto* p = new LoopEvents{ac, {}, 0};
  if (uv_poll_init(loop, &p->handle, ac->c.fd) != 0) {
    delete p;
    return false;
  }
  p->handle.data = p;
  ac->ev.data = p;
  ac->ev.addRead = [](void* d) { updatePoll(static_cast<LoopEvents*>(d), UV_READABLE, 0); };
  ac->ev.delRead = [](void* d) { updatePoll(static_cast<LoopEvents*>(d), 0, UV_READABLE); };
  ac->ev.addWrite = [](void* d) { updatePoll(static_cast<LoopEvents*>(d), UV_WRITABLE, 0); };
  ac->ev.delWrite = [](void* d) { updatePoll(static_cast<LoopEvents*>(d), 0, UV_WRITABLE); };
  ac->ev.cleanup = [](void* d) {
    auto* p = static_cast<LoopEvents*>(d);
    p->context = nullptr;  // the context is going; the poll handle closes on the loop
    auto* h = reinterpret_cast<uv_handle_t*>(&p->handle);
    if (uv_is_closing(h)) return;  // the loop's owner closed it already (leaks p, never crashes)
    uv_close(h, [](uv_handle_t* closed) { delete static_cast<LoopEvents*>(closed->data); });
  };
  return true;
}

template <class Handle>
void closeAndDelete(Handle* handle) {
  auto* h = reinterpret_cast<uv_handle_t*>(handle);
  if (uv_is_closing(h)) return;  // the loop's owner closed it already: leak, never crash
  uv_close(h, [](uv_handle_t* closed) { delete reinterpret_cast<Handle*>(closed); });
}

bool isError(const redisReply& r) { return r.type == REDIS_REPLY_ERROR; }

std::string errorText(const redisReply& r) { return std::string(r.str, r.len); }

// An array of `n` integers.
bool integerArray(const redisReply& r, size_t n, std::vector<int64_t>* out) {
  if (r.type != REDIS_REPLY_ARRAY || r.elements != n) return false;
  out->clear();
  out->reserve(n);
  for (size_t i = 0; i < n; ++i) {
    if (r.element[i]->type != REDIS_REPLY_INTEGER) return false;
    out->push_back(r.element[i]->integer);
  }
  return true;
}

// A batch run's answer: one flat array of integers, per reservation its
// refused index (1-based, 0: admitted), then its checks' values before it.
bool parseBatchReply(const redisReply& r, const std::vector<size_t>& group_sizes,
                     std::vector<ReserveResult>* out) {
  size_t total = 0;
  for (size_t n : group_sizes) total += n + 1;
  if (r.type != REDIS_REPLY_ARRAY || r.elements != total) return false;
  for (size_t i = 0; i < total; i++) {
    if (r.element[i]->type != REDIS_REPLY_INTEGER) return false;
  }
  out->assign(group_sizes.size(), ReserveResult{});
  size_t at = 0;
  for (size_t g = 0; g < group_sizes.size(); g++) {
    size_t n = group_sizes[g];
    ReserveResult& result = (*out)[g];
    int64_t refused = r.element[at]->integer;
    if (refused < 0 || refused > static_cast<int64_t>(n)) return false;
    result.status = refused == 0 ? ReserveResult::Status::Admitted : ReserveResult::Status::Refused;
    result.refused = static_cast<int>(refused) - 1;
    result.before.reserve(n);
    for (size_t i = 1; i <= n; i++) result.before.push_back(r.element[at + i]->integer);
    at += n + 1;
  }
  return true;
}

// MGET: a string per key, or nil for a missing one.
bool parseReadReply(const redisReply& r, size_t keys, std::vector<int64_t>* out) {
  if (r.type != REDIS_REPLY_ARRAY || r.elements != keys) return false;
  out->clear();
  for (size_t i = 0; i < keys; ++i) {
    const redisReply& e = *r.element[i];
    int64_t v = 0;
    if (e.type == REDIS_REPLY_STRING) {
      if (!parseInt(std::string(e.str, e.len), &v)) return false;
    } else if (e.type != REDIS_REPLY_NIL) {
      return false;
    }
    out->push_back(v);
  }
  return true;
}

// SET NX answered OK: the caller is the first.
bool claimed(const redisReply& r) {
  return r.type == REDIS_REPLY_STATUS && std::string_view(r.str, r.len) == "OK";
}

ReserveResult unavailableReservation() {
  ReserveResult r;
  r.status = ReserveResult::Status::Unavailable;
  return r;
}

}  // namespace

uint64_t stateUnavailableTotal() { return g_unavailable_total.load(); }

bool allRedisStoresConnected() { return g_connected_stores.load() >= g_open_stores.load(); }

void RedisStore::setConnected(bool up) {
  if (up == connected_) return;
  connected_ = up;
  g_connected_stores.fetch_add(up ? 1 : -1);
}

bool parseRedisUrl(const std::string& url, RedisEndpoint* out, std::string* error) {
  RedisEndpoint ep;
  if (url.rfind("rediss://", 0) == 0) {
    *error =
        "rediss:// (TLS) is not supported: hiredis 0.14 has no TLS; use redis:// "
        "(through a TLS tunnel if needed)";
    return false;
  }
  if (url.rfind("unix://", 0) == 0) {
    ep.unix_path = url.substr(7);
    if (ep.unix_path.empty() || ep.unix_path[0] != '/') {
      *error = "unix:// needs an absolute socket path (unix:///path/to/redis.sock)";
      return false;
    }
    *out = ep;
    return true;
  }
  if (url.rfind("redis://", 0) != 0) {
    *error = "redis url must start with redis:// or unix://";
    return false;
  }
  std::string rest = url.substr(8);
  size_t slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  std::string path = slash == std::string::npos ? "" : rest.substr(slash + 1);

  size_t at = authority.rfind('@');
  if (at != std::string::npos) {
    std::string userinfo = authority.substr(0, at);
    authority = authority.substr(at + 1);
    size_t colon = userinfo.find(':');
    std::string user = colon == std::string::npos ? "" : userinfo.substr(0, colon);
    std::string pass = colon == std::string::npos ? userinfo : userinfo.substr(colon + 1);
    if (!percentDecode(user, &ep.username) || !percentDecode(pass, &ep.password)) {
      *error = "redis url has a malformed %-escape in its credentials";
      return false;
    }
  }

  std::string port;
  if (!authority.empty() && authority[0] == '[') {
    size_t close = authority.find(']');
    if (close == std::string::npos) {
      *error = "redis url has an unclosed [ in its host";
      return false;
    }
    ep.host = authority.substr(1, close - 1);
    std::string after = authority.substr(close + 1);
    if (!after.empty() && after[0] != ':') {
      *error = "redis url has text after its [host]";
      return false;
    }
    if (!after.empty()) port = after.substr(1);
  } else {
    size_t colon = authority.find(':');
    ep.host = authority.substr(0, colon);
    if (colon != std::string::npos) port = authority.substr(colon + 1);
  }
  if (ep.host.empty()) {
    *error = "redis url has no host";
    return false;
  }
  int64_t n = 0;
  if (!port.empty()) {
    if (!parseInt(port, &n) || n < 1 || n > 65535) {
      *error = "redis url has an invalid port '" + port + "'";
      return false;
    }
    ep.port = static_cast<int>(n);
  }
  if (!path.empty()) {
    if (!parseInt(path, &n) || n < 0 || n > 1000000) {
      *error = "redis url has an invalid database number '" + path + "'";
      return false;
    }
    ep.db = static_cast<int>(n);
  }
  *out = ep;
  return true;
}

// One command on the wire. Calls that answer a caller are on `deadlines_`
// until answered; hiredis holds one reference until their reply (or NULL,
// when the connection goes) arrives.
struct RedisStore::Call {
  RedisStore* store = nullptr;
  CallKind kind = CallKind::Fire;
  RespArgs args;                 // everything after the command word(s)
  const char* script = nullptr;  // args follow an EVALSHA (or EVAL) of this script
  bool send_script = false;      // the server lost its script cache: EVAL it
  uint64_t generation = 0;       // the connection it was sent on
  uint64_t deadline_ms = 0;
  bool answered = false;
  bool for_caller = true;  // false for the store's own commands: no deadline, no metric
  size_t n = 0;            // checks, deltas or keys: the size of the reply
  bool last_handshake = false;
  std::string claim_key;  // Claim: freed again if the claim succeeds too late
  // Reserve (a batch run): one entry per reservation gathered into the call.
  std::vector<size_t> group_sizes;
  std::vector<ReserveDone> reserve_dones;
  ValuesDone values_done;
  ClaimDone claim_done;
};

RedisStore::RedisStore(uv_loop_t* loop, RedisOptions options)
    : loop_(loop),
      options_(std::move(options)),
      stall_ms_(std::max<uint64_t>(4ull * options_.timeout_ms, 1000)),
      backoff_ms_(options_.backoff_initial_ms) {
  g_open_stores.fetch_add(1);
  timer_ = new uv_timer_t;
  retry_timer_ = new uv_timer_t;
  flush_prepare_ = new uv_prepare_t;
  uv_prepare_init(loop_, flush_prepare_);
  flush_prepare_->data = this;
  uv_timer_init(loop_, timer_);
  uv_timer_init(loop_, retry_timer_);
  timer_->data = this;
  retry_timer_->data = this;

  std::string error;
  if (!parseRedisUrl(options_.url, &endpoint_, &error)) {
    reason_ = "invalid redis url: " + error;
    util::logError(kLogComponent, reason_);
    return;
  }
  where_ = endpoint_.unix_path.empty()
               ? "redis " + endpoint_.host + ":" + std::to_string(endpoint_.port)
               : "redis unix:" + endpoint_.unix_path;
  reason_ = "not connected to " + where_;
  connect();
}

RedisStore::~RedisStore() { close(); }

void RedisStore::close() {
  if (closed_) return;
  closed_ = true;
  reason_ = "store closed";
  setConnected(false);
  g_open_stores.fetch_sub(1);
  if (resolving_) {
    resolving_->data = nullptr;  // onResolved frees it
    uv_cancel(reinterpret_cast<uv_req_t*>(resolving_));
    resolving_ = nullptr;
  }
  flushBatch(false);  // gathered calls go out (and are answered) before the connection goes
  closeAndDelete(flush_prepare_);
  closeAndDelete(timer_);
  closeAndDelete(retry_timer_);
  if (ac_) dropConnection(reason_);  // answers every pending call Unavailable
  deadlines_.clear();
}

// ---- connection lifecycle ----

void RedisStore::connect() {
  if (closed_) return;
  if (!endpoint_.unix_path.empty()) {
    attach(redisAsyncConnectUnix(endpoint_.unix_path.c_str()));
    return;
  }
  if (isNumericHost(endpoint_.host)) {
    attach(redisAsyncConnect(endpoint_.host.c_str(), endpoint_.port));
    return;
  }
  // hiredis would resolve a name with a blocking getaddrinfo: resolve it on
  // libuv's thread pool and connect to the address.
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  resolving_ = new uv_getaddrinfo_t;
  resolving_->data = this;
  int rc = uv_getaddrinfo(loop_, resolving_, onResolved, endpoint_.host.c_str(), nullptr, &hints);
  if (rc != 0) {
    delete resolving_;
    resolving_ = nullptr;
    connectFailed("cannot resolve " + endpoint_.host + ": " + uv_strerror(rc));
  }
}

void RedisStore::onResolved(uv_getaddrinfo_t* req, int status, addrinfo* res) {
  auto* self = static_cast<RedisStore*>(req->data);
  delete req;
  if (!self) {  // the store closed meanwhile
    if (res) uv_freeaddrinfo(res);
    return;
  }
  self->resolving_ = nullptr;
  std::vector<std::string> addresses;
  for (addrinfo* ai = res; ai; ai = ai->ai_next) {
    char ip[INET6_ADDRSTRLEN] = {0};
    if (ai->ai_family == AF_INET) {
      uv_ip4_name(reinterpret_cast<sockaddr_in*>(ai->ai_addr), ip, sizeof ip);
    } else if (ai->ai_family == AF_INET6) {
      uv_ip6_name(reinterpret_cast<sockaddr_in6*>(ai->ai_addr), ip, sizeof ip);
    } else {
      continue;
    }
    addresses.push_back(ip);
  }
  if (res) uv_freeaddrinfo(res);
  if (status != 0 || addresses.empty()) {
    self->connectFailed("cannot resolve " + self->endpoint_.host + ": " +
                        (status != 0 ? uv_strerror(status) : "no address"));
    return;
  }
  // A different address on each attempt: one unreachable family must not
  // hide the other.
  const std::string& ip = addresses[self->next_address_++ % addresses.size()];
  self->attach(redisAsyncConnect(ip.c_str(), self->endpoint_.port));
}

void RedisStore::attach(redisAsyncContext* ac) {
  if (!ac) {
    connectFailed("cannot allocate a redis connection");
    return;
  }
  if (ac->err) {
    std::string reason = "cannot connect to " + where_ + ": " + ac->errstr;
    redisAsyncFree(ac);
    connectFailed(reason);
    return;
  }
  if (!attachToLoop(ac, loop_)) {
    redisAsyncFree(ac);
    connectFailed("cannot watch the redis connection on the loop");
    return;
  }
  ac->data = this;
  redisAsyncSetConnectCallback(ac, onConnectThunk);
  redisAsyncSetDisconnectCallback(ac, onDisconnectThunk);
  ac_ = ac;
  ++generation_;
  sendHandshake();
}

// Commands queue on the context until the socket connects, in order: the
// handshake goes first, and the PING's answer proves the server is there.
void RedisStore::sendHandshake() {
  std::vector<RespArgs> commands;
  if (!endpoint_.password.empty()) {
    RespArgs auth;
    auth.add("AUTH");
    if (!endpoint_.username.empty()) auth.add(endpoint_.username);
    commands.push_back(std::move(auth.add(endpoint_.password)));
  }
  if (endpoint_.db != 0) commands.push_back(std::move(RespArgs().add("SELECT").add(int64_t{endpoint_.db})));
  commands.push_back(std::move(RespArgs().add("PING")));
  for (size_t i = 0; i < commands.size(); ++i) {
    bool last = i + 1 == commands.size();
    CallPtr call = newCall(CallKind::Handshake, std::move(commands[i]));
    call->for_caller = false;
    call->last_handshake = last;
    send(call);
  }
}

void RedisStore::markReady() {
  setConnected(true);
  backoff_ms_ = options_.backoff_initial_ms;
  if (was_down_) util::logInfo(kLogComponent, "state backend reconnected to " + where_);
  was_down_ = false;
}

void RedisStore::onConnectThunk(const redisAsyncContext* ac, int status) {
  auto* self = static_cast<RedisStore*>(ac->data);
  if (!self || status == REDIS_OK) return;
  self->connectionLost("cannot connect to " + self->where_ + ": " + ac->errstr);
}

void RedisStore::onDisconnectThunk(const redisAsyncContext* ac, int status) {
  auto* self = static_cast<RedisStore*>(ac->data);
  if (!self) return;
  self->connectionLost("lost the connection to " + self->where_ +
                       (ac->err ? std::string(": ") + ac->errstr : std::string()));
}

void RedisStore::connectFailed(const std::string& reason) {
  reason_ = reason;
  was_down_ = true;
  warnUnavailable(reason);
  scheduleReconnect();
}

void RedisStore::connectionLost(const std::string& reason) {
  ac_->data = nullptr;  // hiredis is freeing it: no more callbacks to us
  ac_ = nullptr;
  ++generation_;
  setConnected(false);
  sent_at_.clear();
  connectFailed(reason);
}

void RedisStore::dropConnection(const std::string& reason) {
  redisAsyncContext* ac = ac_;
  ac->data = nullptr;
  ac_ = nullptr;
  ++generation_;
  setConnected(false);
  sent_at_.clear();
  reason_ = reason;
  // Runs every pending reply callback with NULL: now, or when the hiredis
  // callback we are inside of returns.
  redisAsyncFree(ac);
  if (!closed_) connectFailed(reason);
}

void RedisStore::scheduleReconnect() {
  if (closed_) return;
  uv_timer_start(
      retry_timer_, [](uv_timer_t* t) { static_cast<RedisStore*>(t->data)->connect(); },
      backoff_ms_, 0);
  backoff_ms_ = std::min(backoff_ms_ * 2, options_.backoff_max_ms);
}

// ---- calls ----

RedisStore::CallPtr RedisStore::newCall(CallKind kind, RespArgs args, const char* script) {
  auto call = std::make_shared<Call>();
  call->store = this;
  call->kind = kind;
  call->args = std::move(args);
  call->script = script;
  return call;
}

uint64_t RedisStore::nowMs() {
  uv_update_time(loop_);  // a caller may have kept the loop busy since it last polled
  return uv_now(loop_);
}

void RedisStore::send(const CallPtr& call) {
  if (!ac_) {
    fail(call, reason_);
    return;
  }
  std::string command;
  if (!call->script) {
    command = respCommand({}, call->args);
  } else if (call->send_script) {
    command = respCommand({"EVAL", call->script}, call->args);
  } else {
    command = respCommand({"EVALSHA", scriptSha(call->script)}, call->args);
  }
  auto* holder = new CallPtr(call);
  if (redisAsyncFormattedCommand(ac_, onReplyThunk, holder, command.data(), command.size()) !=
      REDIS_OK) {
    delete holder;
    fail(call, "redis refused the command");
    return;
  }
  uint64_t now = nowMs();
  call->generation = generation_;
  sent_at_.push_back(now);
  if (call->deadline_ms == 0 && call->for_caller) {
    call->deadline_ms = now + options_.timeout_ms;
    deadlines_.push_back(call);
  }
  armTimer();
}

void RedisStore::onReplyThunk(redisAsyncContext*, void* reply, void* privdata) {
  std::unique_ptr<CallPtr> holder(static_cast<CallPtr*>(privdata));
  CallPtr call = *holder;
  // A store frees its context before it goes, so the store is alive.
  call->store->onReply(call, static_cast<redisReply*>(reply));
}

void RedisStore::onReply(const CallPtr& call, redisReply* reply) {
  bool current = call->generation == generation_ && ac_ != nullptr;
  if (current && !sent_at_.empty()) sent_at_.pop_front();
  if (!reply) {  // the connection is gone
    if (current) {
      connectionLost("lost the connection to " + where_ +
                     (ac_->err ? std::string(": ") + ac_->errstr : std::string()));
    }
    fail(call, reason_);
    return;
  }
  if (isError(*reply) && call->script && errorText(*reply).rfind("NOSCRIPT", 0) == 0) {
    // The server lost its script cache: send the script itself.
    if (!call->send_script) {
      call->send_script = true;
      send(call);
      return;
    }
    fail(call, "redis answered an error: " + errorText(*reply));
    return;
  }
  if (call->answered) {
    if (!isError(*reply)) lateReply(*call, *reply);
    return;
  }
  if (isError(*reply)) {
    fail(call, "redis answered an error: " + errorText(*reply));
    return;
  }
  call->answered = true;
  batchAnswered(*call);
  while (!deadlines_.empty() && deadlines_.front()->answered) deadlines_.pop_front();
  if (!answer(*call, *reply)) {
    std::string reason = "unexpected reply from " + where_;
    if (call->for_caller) reportUnavailable(reason);
    answerUnavailable(*call, reason);
  }
}

bool RedisStore::answer(Call& call, const redisReply& r) {
  switch (call.kind) {
    case CallKind::Handshake:
      if (call.last_handshake) markReady();
      return true;
    case CallKind::Reserve: {
      // Every reservation's answer is read before any caller hears of one.
      std::vector<ReserveResult> results;
      if (!parseBatchReply(r, call.group_sizes, &results)) return false;
      for (size_t g = 0; g < results.size(); g++) {
        if (call.reserve_dones[g]) call.reserve_dones[g](results[g]);
      }
      return true;
    }
    case CallKind::Adjust:
    case CallKind::Read: {
      std::vector<int64_t> values;
      bool ok = call.kind == CallKind::Adjust ? integerArray(r, call.n, &values)
                                                : parseReadReply(r, call.n, &values);
      if (!ok) return false;
      if (call.values_done) call.values_done(values);
      return true;
    }
    case CallKind::Claim: {
      if (r.type != REDIS_REPLY_NIL && !claimed(r)) return false;
      if (call.claim_done) call.claim_done(claimed(r));
      return true;
    }
    case CallKind::Fire:
      return true;
  }
  return false;
}

void RedisStore::answerUnavailable(Call& call, const std::string& reason) {
  switch (call.kind) {
    case CallKind::Handshake:
      if (call.generation == generation_ && ac_) {
        dropConnection("connection setup failed: " + reason);
      }
      break;
    case CallKind::Reserve:
      for (const ReserveDone& done : call.reserve_dones) {
        if (done) done(unavailableReservation());
      }
      break;
    case CallKind::Adjust:
    case CallKind::Read:
      if (call.values_done) call.values_done({});
      break;
    case CallKind::Claim:
      // Nobody can know whether they were first: never claim twice.
      if (call.claim_done) call.claim_done(false);
      break;
    case CallKind::Fire:
      break;
  }
}

// A reply that came after the caller was answered Unavailable: undo what it
// did for nobody.
void RedisStore::lateReply(const Call& call, const redisReply& r) {
  if (call.kind == CallKind::Reserve) {
    std::vector<ReserveResult> results;
    if (!parseBatchReply(r, call.group_sizes, &results)) return;
    // args (RedisBatch): the key count and keys, the settlements (3 numbers
    // each; they stand), the check shapes (6 numbers each: key, other, ppm,
    // limit, enforce, ttl), then per reservation n and n (shape, amount).
    std::vector<std::string_view> a = call.args.views();
    auto number = [&a](size_t i) { return i < a.size() ? std::stoll(std::string(a[i])) : 0; };
    size_t keys = static_cast<size_t>(number(0));
    size_t shapes_at = keys + 2 + 3 * static_cast<size_t>(number(keys + 1));
    size_t shapes = static_cast<size_t>(number(shapes_at));
    size_t at = shapes_at + 1 + 6 * shapes;
    std::vector<CounterDelta> undo;
    for (size_t g = 0; g < call.group_sizes.size(); g++) {
      size_t n = call.group_sizes[g];
      bool admitted = results[g].status == ReserveResult::Status::Admitted;
      for (size_t i = 0; admitted && i < n; i++) {
        auto shape = static_cast<size_t>(number(at + 1 + 2 * i));
        int64_t amount = number(at + 2 + 2 * i);
        if (shape < 1 || shape > shapes) continue;
        size_t base = shapes_at + 1 + 6 * (shape - 1);
        auto key = static_cast<size_t>(number(base));
        auto ttl = static_cast<uint32_t>(number(base + 5));
        if (amount != 0 && key >= 1 && key <= keys) undo.push_back({a[key], -amount, ttl});
      }
      at += 1 + 2 * n;
    }
    if (!undo.empty()) adjust(undo, nullptr);
  } else if (call.kind == CallKind::Claim && claimed(r)) {
    RespArgs args;
    args.add("DEL").add(call.claim_key);
    send(newCall(CallKind::Fire, std::move(args)));
  }
}

void RedisStore::fail(const CallPtr& call, const std::string& reason) {
  if (call->answered) return;
  call->answered = true;
  batchAnswered(*call);
  if (call->for_caller) reportUnavailable(reason);
  answerUnavailable(*call, reason);
}

void RedisStore::onTimer() {
  uint64_t now = nowMs();
  timer_due_ms_ = 0;
  // Timers run before the loop polls: after the loop was held up (a busy
  // core), replies may be waiting in the socket. Read them first, so only a
  // reply that has not come is late (a late reservation is undone, and one
  // whose connection is dropped is lost).
  if (ac_ && (ac_->c.flags & REDIS_CONNECTED) && !sent_at_.empty()) {
    redisAsyncHandleRead(ac_);  // may lose the connection: ac_ is then null
  }
  if (ac_ && !sent_at_.empty() && now - sent_at_.front() >= stall_ms_) {
    dropConnection("no reply from " + where_ + " for " + std::to_string(stall_ms_) + " ms");
  }
  while (!closed_ && !deadlines_.empty()) {
    CallPtr call = deadlines_.front();
    if (!call->answered && call->deadline_ms > now) break;
    deadlines_.pop_front();
    fail(call,
         "no reply from " + where_ + " within " + std::to_string(options_.timeout_ms) + " ms");
  }
  armTimer();
}

void RedisStore::armTimer() {
  if (closed_) return;
  uint64_t next = UINT64_MAX;
  if (!deadlines_.empty()) next = deadlines_.front()->deadline_ms;
  if (!sent_at_.empty()) next = std::min(next, sent_at_.front() + stall_ms_);
  if (next == UINT64_MAX) {
    uv_timer_stop(timer_);
    timer_due_ms_ = 0;
    return;
  }
  if (timer_due_ms_ != 0 && timer_due_ms_ <= next) return;  // already due earlier
  timer_due_ms_ = next;
  uint64_t now = uv_now(loop_);
  uv_timer_start(
      timer_, [](uv_timer_t* t) { static_cast<RedisStore*>(t->data)->onTimer(); },
      next > now ? next - now : 0, 0);
}

// ---- the CounterStore operations ----

// Reservations and settlements made in one turn of the loop go to Redis
// together, in one script run that applies the settlements, then decides
// each reservation on its own, in order: under load one command carries many
// requests' admissions and settlements. It is sent after the loop's current
// batch of events, before the loop next waits for any.
void RedisStore::reserve(const std::vector<CounterCheck>& checks, ReserveDone done) {
  if (checks.empty()) {
    if (done) done(ReserveResult{});
    return;
  }
  batch_.reserve(checks, std::move(done));
  if (closed_ || !ac_) return flushBatch(false);  // no connection: answered now, as unavailable
  armFlush();
}

void RedisStore::flushBatch(bool write_now) {
  if (batch_.empty()) return;
  RedisBatch::Run run = batch_.take();
  CallPtr call = newCall(CallKind::Reserve, std::move(run.args), redis_scripts::kBatch);
  call->group_sizes = std::move(run.group_sizes);
  call->reserve_dones = std::move(run.dones);
  batch_in_flight_ = call.get();  // before send(): a failed send answers it at once
  // Written at once only on a connection that is up: hiredis takes a write
  // on one still connecting for the end of the connect.
  write_now = write_now && ac_ && connected_ && (ac_->c.flags & REDIS_CONNECTED);
  if (write_now) holdPoll(ac_);
  send(call);
  if (write_now && ac_) writeNow(ac_);
}

void RedisStore::armFlush() {
  if (flush_armed_) return;
  flush_armed_ = true;
  uv_prepare_start(flush_prepare_, [](uv_prepare_t* h) {
    auto* self = static_cast<RedisStore*>(h->data);
    uv_prepare_stop(h);
    self->flush_armed_ = false;
    // A caller answered during the flush (a failed send) may add to the batch
    // again: send that too, the loop may be about to block.
    for (int i = 0; i < 4 && !self->batch_.empty() && !self->batch_in_flight_; i++) {
      self->flushBatch(true);
    }
  });
}

// One batch in flight at a time: what comes meanwhile waits for its answer
// (or its timeout) and then goes in one run. Under load a run then carries
// a whole round trip's requests, not one loop turn's; when Redis is idle
// nothing waits.
void RedisStore::batchAnswered(const Call& call) {
  if (&call != batch_in_flight_) return;
  batch_in_flight_ = nullptr;
  if (!batch_.empty()) armFlush();
}

// Settlements nobody waits on are added up per key and go with the loop
// turn's batch: under load one command settles many requests.
void RedisStore::adjust(const std::vector<CounterDelta>& deltas, ValuesDone done) {
  if (deltas.empty()) {
    if (done) done({});
    return;
  }
  if (done || closed_) {
    sendAdjust(deltas, std::move(done));
    return;
  }
  for (const CounterDelta& d : deltas) batch_.settle(d);
  armFlush();
}

void RedisStore::sendAdjust(const std::vector<CounterDelta>& deltas, ValuesDone done) {
  RespArgs args;
  size_t bytes = 16 + deltas.size() * 48;
  for (const CounterDelta& d : deltas) bytes += d.key.size();
  args.text.reserve(bytes);
  args.add(static_cast<int64_t>(deltas.size()));
  for (const CounterDelta& d : deltas) args.add(d.key);
  for (const CounterDelta& d : deltas) args.add(d.delta).add(int64_t{d.ttl_s});
  CallPtr call = newCall(CallKind::Adjust, std::move(args), redis_scripts::kAdjust);
  call->n = deltas.size();
  call->values_done = std::move(done);
  send(call);
}

void RedisStore::read(std::vector<std::string> keys, ValuesDone done) {
  if (keys.empty()) {
    if (done) done({});
    return;
  }
  RespArgs args;
  args.add("MGET");
  for (const std::string& k : keys) args.add(k);
  CallPtr call = newCall(CallKind::Read, std::move(args));
  call->n = keys.size();
  call->values_done = std::move(done);
  send(call);
}

void RedisStore::claimOnce(std::string key, uint32_t ttl_s, ClaimDone done) {
  RespArgs args;
  args.add("SET").add(key).add("1").add("NX");
  if (ttl_s > 0) args.add("EX").add(int64_t{ttl_s});
  CallPtr call = newCall(CallKind::Claim, std::move(args));
  call->claim_key = std::move(key);
  call->claim_done = std::move(done);
  send(call);
}

CounterStoreFactory redisStoreFactory(RedisOptions options) {
  return [options](uv_loop_t* loop) -> std::unique_ptr<CounterStore> {
    return std::make_unique<RedisStore>(loop, options);
  };
}

}  // namespace sluice::governance
