// logging: what request records carry (bodies) and how they reach the sinks.
#include "manifest/sections.h"

namespace sluice::manifest {

void loadLogging(Context& ctx, MapReader& root, LoggingConfig* out) {
  MapReader m(ctx, root.field("logging"));
  if (!m.valid()) return;
  m.boolean("log_bodies", &out->log_bodies);
  m.integral("max_body_bytes", &out->max_body_bytes, 1, 64ULL << 20);
  m.boolean("caller_may_enable_bodies", &out->caller_may_enable_bodies);
  m.integral("queue_records", &out->queue_records, 16, 1U << 22);
  m.integral("batch_records", &out->batch_records, 1, 65536);
  m.integral("flush_interval_ms", &out->flush_interval_ms, 1, 60000);
  m.finish();
}

}  // namespace sluice::manifest
