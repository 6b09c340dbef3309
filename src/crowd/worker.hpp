// A stream's worker: what the stream's cluster job runs (`aimass crowd worker <stream>`). It
// asks the platform for the stream's definition and where it stopped, opens the source (a
// stream URL it reads itself; a local file or a files dataset it downloads through the API
// first), skips the frames already counted, runs the flow analysis on each frame, and reports
// every second. A live source that drops is reopened with a back-off; a file's end finishes the
// stream. It stops when the platform says the stream was paused or another worker replaced it.
#pragma once

#include <string>

namespace aimass::crowd {

// From the job's environment: AIMASS_SERVER, AIMASS_TOKEN, AIMASS_CROWD_RUN. Returns the exit code.
int RunWorker(const std::string& stream);

}  // namespace aimass::crowd
