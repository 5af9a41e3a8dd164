// Per-loop asynchronous name resolution with a TTL cache. Lookups for the
// same host while one is in flight join it instead of starting another.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>
#include <uv.h>

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace sluice::http {

union DnsAddress {
  sockaddr sa;
  sockaddr_in v4;
  sockaddr_in6 v6;
};
using DnsAddresses = std::vector<DnsAddress>;  // resolver order, port 0

class DnsCache {
 public:
  class Waiter {
   public:
    // status is 0 or a libuv error (UV_EAI_NONAME...). Called from the loop,
    // never from inside resolve().
    virtual void onResolved(int status, const DnsAddresses& addresses) = 0;

   protected:
    ~Waiter() = default;
  };

  DnsCache(uv_loop_t* loop, uint32_t ttl_ms) : loop_(loop), ttl_ms_(ttl_ms) {}
  // Lookups still in flight are abandoned: their waiters are never called.
  ~DnsCache();
  DnsCache(const DnsCache&) = delete;
  DnsCache& operator=(const DnsCache&) = delete;

  // 1: `host` is an IP literal or freshly cached, *out is filled.
  // 0: a lookup is under way and waiter->onResolved() will follow.
  // <0: the lookup could not start (libuv error).
  int resolve(const std::string& host, Waiter* waiter, DnsAddresses* out);
  // Forgets `waiter`; it will not be called.
  void cancel(Waiter* waiter);
  size_t cachedHosts() const { return cache_.size(); }

 private:
  struct Lookup;
  struct Entry {
    DnsAddresses addresses;
    uint64_t expires_ms;
  };
  static void onLookup(uv_getaddrinfo_t* req, int status, addrinfo* res);

  uv_loop_t* loop_;
  uint32_t ttl_ms_;
  std::unordered_map<std::string, Entry> cache_;
  std::unordered_map<std::string, Lookup*> pending_;
  Lookup* delivering_ = nullptr;  // whose waiters are being called
};

}  // namespace sluice::http
