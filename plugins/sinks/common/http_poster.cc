#include "http_poster.h"

#include "config_read.h"

namespace sluice::sink_http {

bool HttpPoster::configure(const cJSON* cfg, int64_t default_in_flight, Headers* headers,
                           std::string* why) {
  setLimits(static_cast<uint32_t>(sink_config::integer(cfg, "max_in_flight", default_in_flight)),
            static_cast<uint32_t>(sink_config::integer(cfg, "timeout_ms", 10000)));
  return sink_config::strPairs(cfg, "headers", headers, why);
}

bool HttpPoster::post(const std::string& url, const Headers& headers, const std::string& body,
                      uint64_t records, Done done, const char* method) {
  if (!worker_) {
    addDropped(records);
    complain("no sink thread loop to send on (host older than ABI 1.1)");
    return false;
  }
  if (calls_.size() >= max_in_flight_) {
    addDropped(records);
    complain("max_in_flight deliveries already under way: batch dropped");
    return false;
  }
  std::vector<sluice_header> hs;
  hs.reserve(headers.size());
  for (const auto& [k, v] : headers) hs.push_back({{k.data(), k.size()}, {v.data(), v.size()}});
  sluice_http_request req{};
  req.struct_size = sizeof req;
  req.method = {method, std::char_traits<char>::length(method)};
  req.url = {url.data(), url.size()};
  req.headers = hs.data();
  req.header_count = hs.size();
  req.body = {body.data(), body.size()};
  req.timeout_ms = timeout_ms_;
  calls_.push_back(Call{this, nullptr, records, std::move(done), {}});
  Call& call = calls_.back();
  call.self = std::prev(calls_.end());
  call.handle = host_->http_request(worker_, &req, &HttpPoster::onResponse, &call);
  if (!call.handle) {
    calls_.pop_back();
    addDropped(records);
    complain("cannot send to " + url + ": not a valid http(s) URL");
    return false;
  }
  return true;
}

void HttpPoster::onResponse(void* user, const sluice_http_response* res) {
  auto* call = static_cast<Call*>(user);
  HttpPoster* self = call->poster;
  int status = res->status;
  std::string body(res->body.ptr ? res->body.ptr : "", res->body.len);
  bool ok = status >= 200 && status < 300;
  if (!ok) {
    self->addDropped(call->records);
    std::string why = status == 0 ? std::string(res->error.ptr, res->error.len)
                                  : "answered " + std::to_string(status);
    // The first line of an error body says what the endpoint disliked.
    if (status != 0 && !body.empty()) why += ": " + body.substr(0, body.find('\n')).substr(0, 200);
    self->complain("delivery failed: " + why);
  } else {
    self->last_complaint_.clear();  // working again: the next failure is news
  }
  Done done = std::move(call->done);
  self->calls_.erase(call->self);
  if (done) done(status, body);
}

void HttpPoster::cancelAll() {
  while (!calls_.empty()) {
    Call& c = calls_.front();
    host_->http_cancel(c.handle);
    addDropped(c.records);
    calls_.pop_front();
  }
}

void HttpPoster::complain(const std::string& why) {
  if (why == last_complaint_) return;
  last_complaint_ = why;
  host_->log(SLUICE_LOG_WARN, plugin_.c_str(), why.c_str());
}

}  // namespace sluice::sink_http
