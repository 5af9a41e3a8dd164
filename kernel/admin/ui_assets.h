// The dashboard's files (kernel/admin/ui/), compiled into the binary.
#pragma once

#include <string_view>

namespace sluice::admin {

struct UiAsset {
  std::string_view name;  // "index.html", "app.js", ...
  const char* content_type;
  std::string_view body;
};

// nullptr when there is no such file.
const UiAsset* findUiAsset(std::string_view name);

}  // namespace sluice::admin
