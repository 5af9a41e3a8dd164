#include "http/dns_cache.h"

#include <arpa/inet.h>
#include <netdb.h>

#include <algorithm>
#include <cstring>

namespace sluice::http {

struct DnsCache::Lookup {
  uv_getaddrinfo_t req;
  DnsCache* cache;  // nullptr once the cache is gone
  std::string host;
  std::vector<Waiter*> waiters;
};

namespace {

bool parseLiteral(const std::string& host, DnsAddress* out) {
  std::memset(out, 0, sizeof *out);
  if (inet_pton(AF_INET, host.c_str(), &out->v4.sin_addr) == 1) {
    out->v4.sin_family = AF_INET;
    return true;
  }
  if (inet_pton(AF_INET6, host.c_str(), &out->v6.sin6_addr) == 1) {
    out->v6.sin6_family = AF_INET6;
    return true;
  }
  return false;
}

}  // namespace

DnsCache::~DnsCache() {
  if (delivering_ != nullptr) delivering_->cache = nullptr;
  for (auto& [host, lookup] : pending_) {
    lookup->cache = nullptr;
    lookup->waiters.clear();
    uv_cancel(reinterpret_cast<uv_req_t*>(&lookup->req));  // frees itself in onLookup
  }
}

int DnsCache::resolve(const std::string& host, Waiter* waiter, DnsAddresses* out) {
  DnsAddress literal;
  if (parseLiteral(host, &literal)) {
    out->assign(1, literal);
    return 1;
  }
  auto hit = cache_.find(host);
  if (hit != cache_.end()) {
    if (hit->second.expires_ms > uv_now(loop_)) {
      *out = hit->second.addresses;
      return 1;
    }
    cache_.erase(hit);
  }
  auto running = pending_.find(host);
  if (running != pending_.end()) {
    running->second->waiters.push_back(waiter);
    return 0;
  }
  auto* lookup = new Lookup{{}, this, host, {waiter}};
  lookup->req.data = lookup;
  addrinfo hints;
  std::memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_protocol = IPPROTO_TCP;
  int rc = uv_getaddrinfo(loop_, &lookup->req, onLookup, lookup->host.c_str(), nullptr, &hints);
  if (rc < 0) {
    delete lookup;
    return rc;
  }
  pending_.emplace(host, lookup);
  return 0;
}

void DnsCache::cancel(Waiter* waiter) {
  if (delivering_ != nullptr) {
    for (Waiter*& w : delivering_->waiters) {
      if (w == waiter) w = nullptr;
    }
  }
  for (auto& [host, lookup] : pending_) {
    auto& w = lookup->waiters;
    w.erase(std::remove(w.begin(), w.end(), waiter), w.end());
  }
}

void DnsCache::onLookup(uv_getaddrinfo_t* req, int status, addrinfo* res) {
  auto* lookup = static_cast<Lookup*>(req->data);
  DnsCache* cache = lookup->cache;
  DnsAddresses addresses;
  if (status == 0) {
    for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
      DnsAddress a;
      std::memset(&a, 0, sizeof a);
      if (ai->ai_family == AF_INET && ai->ai_addrlen >= sizeof(sockaddr_in)) {
        std::memcpy(&a.v4, ai->ai_addr, sizeof(sockaddr_in));
      } else if (ai->ai_family == AF_INET6 && ai->ai_addrlen >= sizeof(sockaddr_in6)) {
        std::memcpy(&a.v6, ai->ai_addr, sizeof(sockaddr_in6));
      } else {
        continue;
      }
      bool dup = false;
      for (const DnsAddress& b : addresses) {
        dup = dup || std::memcmp(&a, &b, sizeof a) == 0;
      }
      if (!dup) addresses.push_back(a);
    }
    if (addresses.empty()) status = UV_EAI_NODATA;
  }
  uv_freeaddrinfo(res);
  if (cache == nullptr) {
    delete lookup;
    return;
  }
  cache->pending_.erase(lookup->host);
  if (status == 0 && cache->ttl_ms_ > 0) {
    cache->cache_[lookup->host] = Entry{addresses, uv_now(cache->loop_) + cache->ttl_ms_};
  }
  // A waiter may start lookups, cancel other waiters of this one (their
  // slot is cleared) or destroy the cache from its callback.
  cache->delivering_ = lookup;
  for (size_t i = 0; i < lookup->waiters.size(); ++i) {
    Waiter* w = lookup->waiters[i];
    if (w == nullptr) continue;
    lookup->waiters[i] = nullptr;
    w->onResolved(status, addresses);
    if (lookup->cache == nullptr) break;
  }
  if (lookup->cache != nullptr) cache->delivering_ = nullptr;
  delete lookup;
}

}  // namespace sluice::http
