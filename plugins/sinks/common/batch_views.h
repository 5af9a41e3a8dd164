// Whether a batch carries the field views (ABI 1.1): a sink built against
// 1.1 refuses a batch without them rather than read past its end.
#pragma once

#include <cstddef>

#include "sluice/plugin.h"

namespace sluice::sink_batch {

inline bool hasViews(const sluice_record_batch* b) {
  return b->struct_size >= offsetof(sluice_record_batch, views) + sizeof(b->views) &&
         b->views != nullptr;
}

}  // namespace sluice::sink_batch
