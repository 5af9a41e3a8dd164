// The admin listener's observability surface: /metrics (the kernel's own
// telemetry counters, plugin metrics and the prometheus sink's families),
// /admin/requests, /admin/requests/{id} and /admin/analytics (answered by a
// sink that serves queries, such as sqlite), and the /ui dashboard.
#pragma once

#include "admin/admin.h"
#include "telemetry/hub.h"

namespace sluice::admin {

void addTelemetryRoutes(AdminServer* admin, telemetry::Hub* hub);

}  // namespace sluice::admin
