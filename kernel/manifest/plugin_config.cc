#include "manifest/plugin_config.h"

#include <cmath>
#include <cstdio>

#include "manifest/reader.h"

namespace sluice::manifest {
namespace {

std::string jsonDescribe(const cJSON* j) {
  if (cJSON_IsString(j)) return "a string";
  if (cJSON_IsNumber(j)) return "a number";
  if (cJSON_IsBool(j)) return "a boolean";
  if (cJSON_IsArray(j)) return "a list";
  if (cJSON_IsObject(j)) return "a mapping";
  return "null";
}

std::string formatNumber(double v) {
  char buf[64];
  snprintf(buf, sizeof buf, "%.15g", v);
  return buf;
}

const char* typeName(sluice_config_type t) {
  switch (t) {
    case SLUICE_CFG_STRING:
      return "a string";
    case SLUICE_CFG_INT:
      return "an integer";
    case SLUICE_CFG_NUMBER:
      return "a number";
    case SLUICE_CFG_BOOL:
      return "true or false";
    case SLUICE_CFG_OBJECT:
      return "a mapping";
    case SLUICE_CFG_STRING_LIST:
      return "a list of strings";
    case SLUICE_CFG_ANY:
      return "any value";
  }
  return "a value of an unknown type";
}

class SchemaChecker {
 public:
  SchemaChecker(const JsonOrigins* origins, const Mark& base, const std::string& base_path,
                std::vector<Error>* errors, const std::vector<std::string>& also_known)
      : origins_(origins),
        base_(base),
        base_path_(base_path),
        errors_(errors),
        also_known_(also_known) {}

  void checkObject(cJSON* obj, const sluice_config_key* keys, const std::string& rel) {
    std::vector<std::string> names;
    if (rel.empty()) names = also_known_;
    for (const sluice_config_key* k = keys; k && k->name; ++k) names.emplace_back(k->name);
    for (cJSON* item = obj->child; item; item = item->next) {
      std::string name = item->string ? item->string : "";
      if (findKey(keys, name) == nullptr) {
        error(keyMarkOf(joinKey(rel, name)), fullPath(rel),
              "unknown key '" + name + "'" + suggest(name, names));
      }
    }
    for (const sluice_config_key* k = keys; k && k->name; ++k) {
      cJSON* item = cJSON_GetObjectItemCaseSensitive(obj, k->name);
      // An empty YAML value for a section means "not given".
      if (item && cJSON_IsNull(item) &&
          (k->type == SLUICE_CFG_OBJECT || k->type == SLUICE_CFG_STRING_LIST)) {
        cJSON_DeleteItemFromObjectCaseSensitive(obj, k->name);
        item = nullptr;
      }
      if (item) {
        checkValue(obj, item, *k, joinKey(rel, k->name));
      } else if (k->flags & SLUICE_CFG_REQUIRED) {
        error(markOf(rel), fullPath(rel), "missing required key '" + std::string(k->name) + "'");
      } else if (k->default_json) {
        cJSON* def = cJSON_Parse(k->default_json);
        if (def == nullptr) {
          error(markOf(rel), fullPath(rel),
                "the plugin declares an invalid default for '" + std::string(k->name) + "'");
        } else {
          cJSON_AddItemToObject(obj, k->name, def);
        }
      }
    }
  }

 private:
  static const sluice_config_key* findKey(const sluice_config_key* keys, const std::string& name) {
    for (const sluice_config_key* k = keys; k && k->name; ++k) {
      if (name == k->name) return k;
    }
    return nullptr;
  }

  const JsonOrigin* origin(const std::string& rel) const {
    if (origins_ == nullptr) return nullptr;
    auto it = origins_->find(rel);
    return it == origins_->end() ? nullptr : &it->second;
  }
  Mark markOf(const std::string& rel) const {
    const JsonOrigin* o = origin(rel);
    return o ? o->mark : base_;
  }
  Mark keyMarkOf(const std::string& rel) const {
    const JsonOrigin* o = origin(rel);
    return o ? o->key_mark : base_;
  }
  std::string fullPath(const std::string& rel) const {
    if (rel.empty()) return base_path_;
    return base_path_.empty() ? rel : base_path_ + "." + rel;
  }
  void error(const Mark& m, const std::string& path, std::string message) {
    errors_->push_back(Error{m, path, std::move(message)});
  }
  // Whether a value may be quoted back in a message.
  bool showable(const sluice_config_key& k, const std::string& rel) const {
    const JsonOrigin* o = origin(rel);
    return !(k.flags & SLUICE_CFG_SECRET) && !(o && o->interpolated);
  }

  // An unquoted YAML scalar read as a number or boolean where a string is
  // expected stands for its text ("organization: 0123").
  // `key` names the item in an object parent; NULL means parent[index].
  cJSON* asString(cJSON* parent, cJSON* item, const std::string& rel, const char* key, int index) {
    if (cJSON_IsString(item)) return item;
    const JsonOrigin* o = origin(rel);
    if (!o || !o->plain || !(cJSON_IsNumber(item) || cJSON_IsBool(item))) return nullptr;
    cJSON* text = cJSON_CreateString(o->text.c_str());
    if (key) {
      cJSON_ReplaceItemInObjectCaseSensitive(parent, key, text);
    } else {
      cJSON_ReplaceItemInArray(parent, index, text);
    }
    return text;
  }

  void checkValue(cJSON* parent, cJSON* item, const sluice_config_key& k, const std::string& rel) {
    Mark at = markOf(rel);
    std::string path = fullPath(rel);
    auto wrongType = [&](const cJSON* got) {
      error(at, path, std::string("expected ") + typeName(k.type) + ", got " + jsonDescribe(got));
    };
    switch (k.type) {
      case SLUICE_CFG_STRING: {
        cJSON* s = asString(parent, item, rel, k.name, 0);
        if (!s) return wrongType(item);
        if (k.enum_values) checkEnum(k, s->valuestring, at, path, rel);
        return;
      }
      case SLUICE_CFG_INT:
      case SLUICE_CFG_NUMBER: {
        if (!cJSON_IsNumber(item)) return wrongType(item);
        double v = item->valuedouble;
        if (k.type == SLUICE_CFG_INT && (v != std::floor(v) || std::fabs(v) > 9007199254740992.0)) {
          return error(at, path,
                       "expected an integer" +
                           (showable(k, rel) ? ", got " + formatNumber(v) : std::string()));
        }
        if (k.min < k.max && (v < k.min || v > k.max)) {
          error(at, path,
                "must be between " + formatNumber(k.min) + " and " + formatNumber(k.max) +
                    (showable(k, rel) ? " (got " + formatNumber(v) + ")" : std::string()));
        }
        return;
      }
      case SLUICE_CFG_BOOL:
        if (!cJSON_IsBool(item)) wrongType(item);
        return;
      case SLUICE_CFG_OBJECT:
        if (!cJSON_IsObject(item)) return wrongType(item);
        if (k.children) checkObject(item, k.children, rel);
        return;
      case SLUICE_CFG_STRING_LIST: {
        if (!cJSON_IsArray(item)) return wrongType(item);
        int n = cJSON_GetArraySize(item);
        for (int i = 0; i < n; ++i) {
          std::string item_rel = joinIndex(rel, static_cast<size_t>(i));
          cJSON* element = cJSON_GetArrayItem(item, i);
          if (!asString(item, element, item_rel, nullptr, i)) {
            error(markOf(item_rel), fullPath(item_rel),
                  "expected a string, got " + jsonDescribe(element));
          }
        }
        return;
      }
      case SLUICE_CFG_ANY:
        return;
    }
    error(at, path, "the plugin declares an unknown type for '" + std::string(k.name) + "'");
  }

  void checkEnum(const sluice_config_key& k, const char* value, const Mark& at,
                 const std::string& path, const std::string& rel) {
    std::string list;
    for (const char* const* e = k.enum_values; *e; ++e) {
      if (std::string(value) == *e) return;
      list += (list.empty() ? "" : ", ") + std::string(*e);
    }
    error(at, path,
          std::string(k.name) + " must be one of " + list +
              (showable(k, rel) ? " (got '" + std::string(value) + "')" : std::string()));
  }

  const JsonOrigins* origins_;
  Mark base_;
  std::string base_path_;
  std::vector<Error>* errors_;
  const std::vector<std::string>& also_known_;
};

}  // namespace

void checkConfigObject(cJSON* obj, const sluice_config_key* keys, const JsonOrigins* origins,
                       const Mark& base, const std::string& base_path, std::vector<Error>* errors,
                       const std::vector<std::string>& also_known) {
  SchemaChecker(origins, base, base_path, errors, also_known).checkObject(obj, keys, "");
}

std::string checkPluginConfig(const std::string& json, const sluice_config_key* keys,
                              const Mark& base, const std::string& path,
                              std::vector<Error>* errors) {
  JsonPtr root(cJSON_Parse(json.empty() ? "{}" : json.c_str()));
  if (!root) {
    errors->push_back(Error{base, path, "invalid JSON"});
    return "";
  }
  if (!cJSON_IsObject(root.get())) {
    errors->push_back(Error{base, path, "expected a mapping, got " + jsonDescribe(root.get())});
    return "";
  }
  checkConfigObject(root.get(), keys, nullptr, base, path, errors, {});
  return printJson(root.get());
}

}  // namespace sluice::manifest
