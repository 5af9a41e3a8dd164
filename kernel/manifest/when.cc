#include "manifest/sections.h"

namespace sluice::manifest {
namespace {

bool validSubject(const std::string& s) {
  if (s == "*" || s == "anonymous") return true;
  for (const char* prefix : {"user:", "virtualaccount:"}) {
    size_t n = std::char_traits<char>::length(prefix);
    if (s.size() > n && s.compare(0, n, prefix) == 0) return true;
  }
  return false;
}

}  // namespace

void readWhen(Context& ctx, const Field& f, const Catalog& catalog, bool check_models, When* out) {
  MapReader m(ctx, f);
  if (!m.valid()) return;
  forEachItem(ctx, m.field("models"), [&](const Field& item, size_t) {
    std::string model;
    if (!readString(ctx, item, &model)) return;
    if (model.empty()) return ctx.error(item.mark, item.path, "model must not be empty");
    out->models.push_back(model);
    if (!check_models || model.find('*') != std::string::npos) return;
    if (catalog.isVirtualModel(model) || catalog.isModel(model)) return;
    ctx.error(item.mark, item.path, catalog.unknownModel(model, item));
  });
  forEachItem(ctx, m.field("subjects"), [&](const Field& item, size_t) {
    std::string subject;
    if (!readString(ctx, item, &subject)) return;
    if (!validSubject(subject)) {
      return ctx.error(item.mark, item.path,
                       "subject must be user:EMAIL, virtualaccount:NAME or anonymous (got '" +
                           rawText(item.node) + "')");
    }
    out->subjects.push_back(subject);
  });
  forEachItem(ctx, m.field("teams"), [&](const Field& item, size_t) {
    std::string team;
    if (!readString(ctx, item, &team)) return;
    if (catalog.has_auth && !catalog.teams.count(team)) {
      return ctx.error(item.mark, item.path,
                       "unknown team '" + rawText(item.node) + "'" +
                           suggest(team, catalog.visible(catalog.teams)));
    }
    out->teams.push_back(team);
  });
  m.strMap("metadata", &out->metadata);
  m.finish();
}

}  // namespace sluice::manifest
