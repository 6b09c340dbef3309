// The scheduler's HTTP API under /api/v1/cron: jobs (create, replace, show, list, delete),
// pause, resume, run now, and run history. Reading needs `cron:read`, changing `cron:write`;
// a job with a shell target also needs `cron:shell` (admins only by default), and one with an
// MQ target the right to publish to its topic.
#pragma once

#include "http/router.hpp"
#include "scheduler/scheduler.hpp"

namespace aimass::scheduler {

Status RegisterRoutes(http::Router& router, Scheduler& scheduler);

}  // namespace aimass::scheduler
