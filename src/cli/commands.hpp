// The `aimass` command line: `aimass server` and the client commands (`login`, `whoami`,
// `user …`, `apikey …`). Exit codes: 0 ok, 1 error, 2 usage (docs/cli.md).
#pragma once

namespace aimass::cli {

int Main(int argc, char** argv);

}  // namespace aimass::cli
