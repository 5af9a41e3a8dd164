// The Redis counter store: exact limits across replicas. Reservations are
// decided by a server-side Lua script, so reads, decision and writes are
// atomic in Redis. One async hiredis connection per loop; nothing ever
// blocks the loop.
//
// When Redis cannot answer (no connection, an error reply, or no reply within
// `timeout_ms`) a call is answered Unavailable (adjust/read: an empty vector,
// claimOnce: false), exactly once, and the connection is re-established with
// backoff. Calls made while a connection is being set up wait for it, within
// their timeout. Reservations and settlements go in batches, one in flight at
// a time: one made while a batch is out waits for that batch's answer (or
// timeout) before its own timeout starts. A connection with no reply for
// max(4 x timeout_ms, 1 s) is dropped and re-established. A reservation whose reply arrives after its
// timeout is undone if it had been admitted, so nothing leaks.
//
// Lifecycle: the store belongs to one loop thread. close() cancels everything
// (pending calls are answered Unavailable) and closes the handles it owns;
// they finish closing on the loop's next run. Close (or destroy) the store
// before the loop's owner closes leftover handles. Never destroy the store
// inside one of its own callbacks; close() may be called anywhere.
#pragma once

#include <uv.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "governance/counter_store.h"
#include "governance/redis_batch.h"
#include "governance/redis_resp.h"

struct redisAsyncContext;
struct redisReply;

namespace sluice::governance {

// Where Redis is: redis://[[user]:password@]host[:port][/db] or unix:///path.
struct RedisEndpoint {
  std::string host;  // name or address (IPv6 without brackets); empty for unix
  int port = 6379;
  std::string unix_path;  // set for unix:// URLs
  std::string username;   // AUTH user (Redis 6 ACL); empty: the default user
  std::string password;   // empty: no AUTH
  int db = 0;
};

// False with a reason for malformed URLs and for rediss:// (no TLS in hiredis 0.14).
bool parseRedisUrl(const std::string& url, RedisEndpoint* out, std::string* error);

struct RedisOptions {
  std::string url = "redis://127.0.0.1:6379";
  uint32_t timeout_ms = 250;  // per command
  uint32_t backoff_initial_ms = 100;
  uint32_t backoff_max_ms = 5000;
};

// Calls answered Unavailable by every Redis store in the process (a metric).
uint64_t stateUnavailableTotal();
// True when every open Redis store of the process is connected.
bool allRedisStoresConnected();

class RedisStore : public CounterStore {
 public:
  // Starts connecting at once. With a bad URL the store logs an error and
  // answers every call Unavailable.
  RedisStore(uv_loop_t* loop, RedisOptions options);
  ~RedisStore() override;
  RedisStore(const RedisStore&) = delete;
  RedisStore& operator=(const RedisStore&) = delete;

  void reserve(const std::vector<CounterCheck>& checks, ReserveDone done) override;
  void adjust(const std::vector<CounterDelta>& deltas, ValuesDone done) override;
  void read(std::vector<std::string> keys, ValuesDone done) override;
  void claimOnce(std::string key, uint32_t ttl_s, ClaimDone done) override;

  // True once the server has answered on the current connection.
  bool connected() const override { return connected_; }
  void close() override;

 private:
  // What a call is for decides how its reply is read and who hears of it.
  enum class CallKind { Handshake, Reserve, Adjust, Read, Claim, Fire };
  struct Call;
  using CallPtr = std::shared_ptr<Call>;

  static void onReplyThunk(redisAsyncContext* ac, void* reply, void* privdata);
  static void onConnectThunk(const redisAsyncContext* ac, int status);
  static void onDisconnectThunk(const redisAsyncContext* ac, int status);
  static void onResolved(uv_getaddrinfo_t* req, int status, struct addrinfo* res);

  // Connection lifecycle.
  void connect();
  void attach(redisAsyncContext* ac);
  void sendHandshake();
  void markReady();
  void setConnected(bool up);
  void connectFailed(const std::string& reason);
  void connectionLost(const std::string& reason);  // hiredis frees the context
  void dropConnection(const std::string& reason);  // we free the context
  void scheduleReconnect();

  // Calls.
  void sendAdjust(const std::vector<CounterDelta>& deltas, ValuesDone done);
  void armFlush();
  // Sends the batch; `write_now` writes it to the socket at once (only
  // outside hiredis's callbacks).
  void flushBatch(bool write_now);
  void batchAnswered(const Call& call);
  CallPtr newCall(CallKind kind, RespArgs args, const char* script = nullptr);
  void send(const CallPtr& call);
  void onReply(const CallPtr& call, redisReply* reply);
  void fail(const CallPtr& call, const std::string& reason);
  // Hands a reply to the caller; false when the reply is malformed.
  bool answer(Call& call, const redisReply& reply);
  void answerUnavailable(Call& call, const std::string& reason);
  void lateReply(const Call& call, const redisReply& reply);
  void onTimer();
  void armTimer();
  uint64_t nowMs();

  uv_loop_t* loop_;
  RedisOptions options_;
  RedisEndpoint endpoint_;
  std::string where_;   // for log lines: never holds the password
  std::string reason_;  // why the store is unavailable right now
  uint64_t stall_ms_;   // no reply for this long: the connection is dead
  uint32_t backoff_ms_;

  redisAsyncContext* ac_ = nullptr;
  uint64_t generation_ = 0;  // bumped per connection; older calls are stale
  bool connected_ = false;
  bool was_down_ = false;  // a reconnect is worth an info line
  bool closed_ = false;
  size_t next_address_ = 0;  // rotates through a name's addresses

  uv_timer_t* timer_ = nullptr;        // call deadlines and stall detection
  uv_timer_t* retry_timer_ = nullptr;  // reconnect backoff
  // Settlements and reservations gathered until the loop has handled its
  // current batch of events. A prepare handle sends them: it runs once per
  // loop iteration, before the loop would block, and never makes it poll
  // without blocking.
  RedisBatch batch_;
  uv_prepare_t* flush_prepare_ = nullptr;
  bool flush_armed_ = false;
  const Call* batch_in_flight_ = nullptr;  // the batch sent and not answered yet
  uv_getaddrinfo_t* resolving_ = nullptr;
  uint64_t timer_due_ms_ = 0;

  std::deque<CallPtr> deadlines_;  // caller-facing calls in send order
  std::deque<uint64_t> sent_at_;   // per command awaiting a reply on this connection
};

// One RedisStore per loop.
CounterStoreFactory redisStoreFactory(RedisOptions options);

}  // namespace sluice::governance
