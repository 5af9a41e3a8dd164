#include "cli/commands.h"

#include <openssl/rand.h>
#include <signal.h>
#include <uv.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

#include "admin/admin.h"
#include "admin/telemetry_routes.h"
#include "cli/config_load.h"
#include "governance/identity.h"
#include "governance/limits_report.h"
#include "governance/stores.h"
#include "http/tls.h"
#include "loop/worker.h"
#include "pipeline/gateway.h"
#include "plugins/registry.h"
#include "telemetry/hub.h"
#include "util/clock.h"
#include "util/log.h"

namespace sluice::cli {
namespace {

// Looks for `flag VALUE` in args; returns the value or empty.
std::string flagValue(const std::vector<std::string>& args, const char* shortf, const char* longf) {
  for (size_t i = 0; i + 1 < args.size(); i++) {
    if (args[i] == shortf || args[i] == longf) return args[i + 1];
  }
  return "";
}

void printErrors(const std::vector<std::string>& errors) {
  for (const auto& e : errors) fprintf(stderr, "%s\n", e.c_str());
}

std::string listenText(const manifest::ListenAddr& a) {
  bool v6 = a.host.find(':') != std::string::npos;
  return (v6 ? "[" + a.host + "]" : a.host) + ":" + std::to_string(a.port);
}

// ---------------------------------------------------------------- serve

struct ServeContext {
  uv_loop_t loop;
  uv_signal_t sigterm, sigint, sighup;
  uv_timer_t reap;
  std::string config_path;
  plugins::Registry* registry = nullptr;
  pipeline::GatewayHolder* holder = nullptr;
  std::vector<std::unique_ptr<loop::Worker>>* workers = nullptr;
  admin::AdminServer* admin = nullptr;
  admin::AdminState* state = nullptr;
  governance::CounterStore* admin_counters = nullptr;  // on this loop, for /admin/limits
  telemetry::Hub* hub = nullptr;
  uint32_t drain_ms = 30000;
  bool stopping = false;
};

void closeMainHandles(ServeContext* ctx) {
  if (ctx->admin_counters) ctx->admin_counters->close();
  uv_close(reinterpret_cast<uv_handle_t*>(&ctx->sigterm), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&ctx->sigint), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&ctx->sighup), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&ctx->reap), nullptr);
}

void beginShutdown(ServeContext* ctx, const char* why) {
  if (ctx->stopping) return;
  ctx->stopping = true;
  ctx->state->draining = true;
  util::logInfo("serve", std::string(why) + ": draining (up to " + std::to_string(ctx->drain_ms) +
                             " ms for in-flight requests)");
  for (auto& w : *ctx->workers) w->drain(ctx->drain_ms);
  // Workers end on their own threads; check on them from this loop.
  uv_timer_start(
      &ctx->reap,
      [](uv_timer_t* t) {
        auto* c = static_cast<ServeContext*>(t->data);
        for (auto& w : *c->workers) {
          if (!w->finished()) return;
        }
        uv_timer_stop(t);
        c->admin->drain([c] { closeMainHandles(c); });
      },
      10, 10);
}

void reload(ServeContext* ctx) {
  if (ctx->config_path.empty()) {
    util::logWarn("reload", "running on the built-in default: nothing to reload");
    return;
  }
  std::vector<std::string> errors;
  auto cfg = loadConfig(ctx->config_path, ctx->registry, &errors);
  std::shared_ptr<pipeline::Gateway> gw;
  // Targets the new manifest still names keep their stats and breakers.
  if (cfg) gw = pipeline::Gateway::build(cfg, ctx->registry, &errors,
                                         ctx->holder->get()->targetStats());
  // Sinks are created before the switch: one that cannot start refuses the
  // whole reload, and unchanged ones keep running.
  if (!gw || !ctx->hub->configure(*cfg, ctx->registry, &errors)) {
    for (const auto& e : errors) util::logError("reload", e);
    util::logError("reload", "manifest refused; the running configuration stays");
    return;
  }
  const auto& old = ctx->holder->get()->config();
  if (old.server.listen.size() != cfg->server.listen.size() ||
      old.server.workers != cfg->server.workers || old.server.tls.has_value() != cfg->server.tls.has_value()) {
    util::logWarn("reload", "server.listen, server.workers and server.tls apply at the next restart");
  }
  if (old.state.backend != cfg->state.backend || old.state.redis_url != cfg->state.redis_url) {
    util::logWarn("reload", "state.backend and state.redis apply at the next restart");
  }
  ctx->holder->set(std::move(gw));
  util::logInfo("reload", "manifest reloaded from " + ctx->config_path);
}

}  // namespace

int cmdServe(const std::vector<std::string>& args) {
  signal(SIGPIPE, SIG_IGN);
  std::string path = flagValue(args, "-c", "--config");
  plugins::Registry registry(plugins::Registry::defaultSearchDirs());
  std::vector<std::string> errors;
  auto cfg = loadConfig(path, &registry, &errors);
  if (!cfg) {
    printErrors(errors);
    return 1;
  }
  if (path.empty()) {
    util::logInfo("serve", "no manifest given (-c): running the built-in default with the mock "
                           "provider on loopback");
  }
  if (!cfg->auth) {
    for (const auto& l : cfg->server.listen) {
      if (path.empty() && !admin::isLoopback(l.host)) {
        fprintf(stderr, "the built-in default listens on loopback only\n");
        return 1;
      }
    }
    util::logWarn("auth", "NO AUTH SECTION: the gateway runs OPEN, every caller is 'anonymous'. "
                          "Add an `auth` section before exposing it.");
  }
  auto gw = pipeline::Gateway::build(cfg, &registry, &errors);
  if (!gw) {
    printErrors(errors);
    return 1;
  }
  pipeline::GatewayHolder holder;
  holder.set(gw);
  gw.reset();

  std::shared_ptr<http::TlsContext> tls;
  if (cfg->server.tls) {
    std::string err;
    tls = http::TlsContext::createServer(cfg->server.tls->cert, cfg->server.tls->key, &err);
    if (!tls) {
      fprintf(stderr, "server.tls: %s\n", err.c_str());
      return 1;
    }
  }

  int n = loop::resolveWorkerCount(cfg->server.workers);
  // Phase 12: the sink thread, fed by one queue per worker.
  telemetry::Hub hub(n, cfg->logging);
  if (!hub.configure(*cfg, &registry, &errors)) {
    printErrors(errors);
    return 1;
  }
  {
    std::string err;
    if (!hub.start(cfg->server.upstream, &err)) {
      fprintf(stderr, "sink thread: %s\n", err.c_str());
      return 1;
    }
  }
  governance::CounterStoreFactory counters = governance::counterStoreFactory(cfg->state);
  std::vector<std::unique_ptr<loop::Worker>> workers;
  for (int i = 0; i < n; i++) {
    auto w = std::make_unique<loop::Worker>(i, cfg->server, &holder, tls, counters, hub.outbox(i));
    std::string err;
    if (!w->start(&err)) {
      fprintf(stderr, "%s\n", err.c_str());
      for (auto& started : workers) started->drain(0);
      workers.clear();
      return 1;
    }
    workers.push_back(std::move(w));
  }

  ServeContext ctx;
  uv_loop_init(&ctx.loop);
  ctx.config_path = path;
  ctx.registry = &registry;
  ctx.holder = &holder;
  ctx.workers = &workers;
  ctx.drain_ms = cfg->server.limits.drain_timeout_ms;
  ctx.hub = &hub;
  admin::AdminState state;
  ctx.state = &state;
  admin::AdminServer admin(&ctx.loop, cfg->admin, &state);
  ctx.admin = &admin;
  std::unique_ptr<governance::CounterStore> admin_counters = counters(&ctx.loop);
  ctx.admin_counters = admin_counters.get();
  admin.route("/admin/limits", [&holder, &ctx](http::Request&, http::Response& res) {
    std::shared_ptr<pipeline::Gateway> gw = holder.get();
    governance::StateStatus status =
        governance::stateStatus(gw->config().state, ctx.admin_counters);
    governance::reportLimits(
        gw->policy(), status, ctx.admin_counters, static_cast<int64_t>(util::wallMs()),
        [gw, &res](std::string json) {
          res.respond(200, {{"Content-Type", "application/json"}}, json);
        });
  });
  admin.route("/admin/targets", [&holder](http::Request&, http::Response& res) {
    std::shared_ptr<pipeline::Gateway> gw = holder.get();
    res.respond(200, {{"Content-Type", "application/json"}},
                gw->router().targetsJson(pipeline::routingNowMs()));
  });
  admin::addTelemetryRoutes(&admin, &hub);
  std::string err;
  if (!admin.start(&err)) {
    fprintf(stderr, "%s\n", err.c_str());
    for (auto& w : workers) w->drain(0);
    workers.clear();
    return 1;
  }

  for (uv_signal_t* s : {&ctx.sigterm, &ctx.sigint, &ctx.sighup}) {
    uv_signal_init(&ctx.loop, s);
    s->data = &ctx;
  }
  uv_timer_init(&ctx.loop, &ctx.reap);
  ctx.reap.data = &ctx;
  uv_signal_start(
      &ctx.sigterm, [](uv_signal_t* s, int) { beginShutdown(static_cast<ServeContext*>(s->data), "SIGTERM"); },
      SIGTERM);
  uv_signal_start(
      &ctx.sigint, [](uv_signal_t* s, int) { beginShutdown(static_cast<ServeContext*>(s->data), "SIGINT"); },
      SIGINT);
  uv_signal_start(
      &ctx.sighup, [](uv_signal_t* s, int) { reload(static_cast<ServeContext*>(s->data)); }, SIGHUP);

  std::string where;
  for (const auto& l : cfg->server.listen) {
    manifest::ListenAddr shown = l;
    if (shown.port == 0) shown.port = workers.front()->boundPort();
    where += (where.empty() ? "" : ", ") + std::string(cfg->server.tls ? "https://" : "http://") +
             listenText(shown);
  }
  util::logInfo("serve", "sluice " SLUICE_VERSION " serving on " + where + " with " +
                             std::to_string(n) + (n == 1 ? " worker" : " workers"));
  if (cfg->admin.listen) {
    manifest::ListenAddr shown = *cfg->admin.listen;
    if (shown.port == 0) shown.port = admin.boundPort();
    util::logInfo("serve", "admin on http://" + listenText(shown));
  }
  state.ready = true;
  uv_run(&ctx.loop, UV_RUN_DEFAULT);
  for (auto& w : workers) w->join();
  workers.clear();
  hub.stop();  // every record the workers queued reaches the sinks
  admin_counters.reset();
  uv_run(&ctx.loop, UV_RUN_DEFAULT);
  uv_loop_close(&ctx.loop);
  util::logInfo("serve", "stopped");
  return 0;
}

// ---------------------------------------------------------------- validate

int cmdValidate(const std::vector<std::string>& args) {
  std::string path = flagValue(args, "-c", "--config");
  if (path.empty()) {
    fprintf(stderr, "usage: sluice validate -c FILE\n");
    return 2;
  }
  plugins::Registry registry(plugins::Registry::defaultSearchDirs());
  std::vector<std::string> errors;
  auto cfg = loadConfig(path, &registry, &errors);
  // Plugins check their own config when created: build (and drop) the
  // gateway so such errors stop validation too.
  if (cfg) pipeline::Gateway::build(cfg, &registry, &errors);
  if (!errors.empty()) {
    printErrors(errors);
    fprintf(stderr, "%s: %zu error%s\n", path.c_str(), errors.size(), errors.size() == 1 ? "" : "s");
    return 1;
  }
  printf("%s: ok\n", path.c_str());
  return 0;
}

// ---------------------------------------------------------------- plugins

namespace {

const char* typeName(sluice_config_type t) {
  switch (t) {
    case SLUICE_CFG_STRING: return "string";
    case SLUICE_CFG_INT: return "int";
    case SLUICE_CFG_NUMBER: return "number";
    case SLUICE_CFG_BOOL: return "bool";
    case SLUICE_CFG_OBJECT: return "object";
    case SLUICE_CFG_STRING_LIST: return "string list";
    case SLUICE_CFG_ANY: return "any";
  }
  return "?";
}

void describeKeys(const sluice_config_key* keys, int depth) {
  for (const sluice_config_key* k = keys; k && k->name; k++) {
    printf("%*s%-*s %-11s%s%s", depth * 2 + 2, "", 24 - depth * 2, k->name, typeName(k->type),
           (k->flags & SLUICE_CFG_REQUIRED) ? " required" : "",
           (k->flags & SLUICE_CFG_SECRET) ? " secret" : "");
    if (k->default_json) printf(" default %s", k->default_json);
    if (k->enum_values) {
      printf(" one of");
      for (const char* const* e = k->enum_values; *e; e++) printf(" %s", *e);
    }
    if (k->min < k->max) printf(" [%g..%g]", k->min, k->max);
    if (k->description) printf(" — %s", k->description);
    printf("\n");
    if (k->type == SLUICE_CFG_OBJECT) describeKeys(k->children, depth + 1);
  }
}

}  // namespace

int cmdPlugins(const std::vector<std::string>& args) {
  plugins::Registry registry(plugins::Registry::defaultSearchDirs());
  std::vector<std::string> errors;
  std::string path = flagValue(args, "-c", "--config");
  if (!path.empty()) loadConfig(path, &registry, &errors);
  registry.loadAllBuiltins(&errors);
  auto found = registry.loaded();
  std::string describe = flagValue(args, "--describe", "--describe");
  if (!describe.empty()) {
    for (const plugins::Plugin* p : found) {
      if (p->name != describe) continue;
      printf("%s (%s %s)%s%s\n", p->name.c_str(), plugins::kindName(p->kind), p->version.c_str(),
             p->descriptor->description ? ": " : "",
             p->descriptor->description ? p->descriptor->description : "");
      if (!p->descriptor->config || !p->descriptor->config->name) printf("  (no config keys)\n");
      describeKeys(p->descriptor->config, 0);
      return 0;
    }
    fprintf(stderr, "no plugin named '%s'\n", describe.c_str());
    return 1;
  }
  printf("%-20s %-10s %-9s %-5s %s\n", "NAME", "KIND", "VERSION", "ABI", "PATH");
  for (const plugins::Plugin* p : found) {
    printf("%-20s %-10s %-9s %u.%-3u %s\n", p->name.c_str(), plugins::kindName(p->kind),
           p->version.c_str(), p->descriptor->abi_major, p->descriptor->abi_minor,
           p->path.c_str());
  }
  printErrors(errors);
  return errors.empty() ? 0 : 1;
}

// ---------------------------------------------------------------- token

std::string sha256Hex(const std::string& data) { return governance::toHex(governance::sha256(data)); }

int cmdToken(const std::vector<std::string>& args) {
  std::string account = flagValue(args, "--account", "--account");
  std::string user = flagValue(args, "--user", "--user");
  if (args.empty() || args[0] != "create" || (account.empty() == user.empty())) {
    fprintf(stderr, "usage: sluice token create --account NAME | --user EMAIL\n");
    return 2;
  }
  unsigned char raw[32];
  if (RAND_bytes(raw, sizeof raw) != 1) {
    fprintf(stderr, "no randomness available\n");
    return 1;
  }
  static const char* b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string token = "sk-sluice-";
  for (unsigned char c : raw) token.push_back(b64[c & 63]);
  printf("token (shown once, give it to %s): %s\n",
         account.empty() ? user.c_str() : account.c_str(), token.c_str());
  printf("manifest line for %s:\n  token_sha256: %s\n",
         account.empty() ? ("auth.users " + user).c_str()
                         : ("auth.virtual_accounts " + account).c_str(),
         sha256Hex(token).c_str());
  return 0;
}

void printUsage() {
  fprintf(stderr,
          "sluice " SLUICE_VERSION " — an AI gateway\n\n"
          "usage:\n"
          "  sluice serve [-c sluice.yaml]      run the gateway (no -c: built-in default on "
          "127.0.0.1:8080)\n"
          "  sluice validate -c FILE            check a manifest; prints every error\n"
          "  sluice plugins [-c FILE] [--describe NAME]\n"
          "                                     list plugins (name, kind, version, ABI, path)\n"
          "  sluice token create --account NAME | --user EMAIL\n"
          "                                     make a token and its manifest hash\n"
          "  sluice version\n");
}

}  // namespace sluice::cli
