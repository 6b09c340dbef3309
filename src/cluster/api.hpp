// The cluster's HTTP routes: /api/v1/cluster/nodes, /api/v1/cluster/quotas and /api/v1/jobs.
#pragma once

#include "cluster/cluster.hpp"
#include "http/router.hpp"

namespace aimass::cluster {

Status RegisterRoutes(http::Router& router, Cluster& cluster);

}  // namespace aimass::cluster
