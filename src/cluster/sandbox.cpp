#include "cluster/sandbox.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>

namespace aimass::cluster {

namespace {

constexpr const char* kBwrap = "/usr/bin/bwrap";
const std::string kSetenv = "--setenv";

bool Exists(const char* p) {
  struct stat st;
  return ::lstat(p, &st) == 0;
}

// This program's own file: built-in pipeline steps run it inside the sandbox (`aimass step`),
// and an installed one under /usr is there already.
const std::string& SelfExe() {
  static const std::string path = [] {
    char buf[4096];
    ssize_t n = ::readlink("/proc/self/exe", buf, sizeof(buf) - 1);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
  }();
  return path;
}

}  // namespace

std::string SandboxEnvArgs(const std::map<std::string, std::string>& env) {
  std::string out;
  for (const auto& [k, v] : env) {
    for (const std::string* part : {&kSetenv, &k, &v}) {
      out += *part;
      out.push_back('\0');
    }
  }
  return out;
}

std::vector<std::string> SandboxArgv(const std::string& workdir, bool network,
                                     const std::map<std::string, std::string>& env, const std::vector<int>& gpus, int env_fd) {
  std::vector<std::string> a = {kBwrap, "--die-with-parent", "--new-session", "--unshare-all"};
  if (network) a.push_back("--share-net");
  a.insert(a.end(), {"--ro-bind", "/usr", "/usr"});
  // Debian's merged /usr: /bin, /lib… are links into it.
  for (const char* l : {"bin", "sbin", "lib", "lib64", "lib32", "libx32"}) {
    std::string host = std::string("/") + l;
    struct stat st;
    if (::lstat(host.c_str(), &st) != 0) continue;
    if (S_ISLNK(st.st_mode)) {
      a.insert(a.end(), {"--symlink", std::string("usr/") + l, host});
    } else {
      a.insert(a.end(), {"--ro-bind", host, host});
    }
  }
  // What programs read from /etc, and nothing else of it (it may hold the platform's config).
  for (const char* e : {"/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/alternatives",
                        "/etc/passwd", "/etc/group", "/etc/nsswitch.conf", "/etc/localtime", "/etc/ssl",
                        "/etc/ca-certificates", "/etc/mime.types", "/etc/python3", "/etc/fonts"}) {
    if (Exists(e)) a.insert(a.end(), {"--ro-bind", e, e});
  }
  if (network) {
    for (const char* e : {"/etc/resolv.conf", "/etc/hosts"}) {
      if (Exists(e)) a.insert(a.end(), {"--ro-bind", e, e});
    }
  }
  a.insert(a.end(), {"--proc", "/proc", "--dev", "/dev"});
  if (!gpus.empty()) {
    std::vector<std::string> devices = {"/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools"};
    for (int g : gpus) devices.push_back("/dev/nvidia" + std::to_string(g));
    for (const auto& d : devices) {
      if (Exists(d.c_str())) a.insert(a.end(), {"--dev-bind", d, d});
    }
  }
  a.insert(a.end(), {"--tmpfs", "/tmp", "--bind", workdir, kSandboxWorkdir});
  // After /tmp's tmpfs, which would hide a binary built under /tmp (a CI checkout).
  if (!SelfExe().empty() && !SelfExe().starts_with("/usr/")) a.insert(a.end(), {"--ro-bind", SelfExe(), SelfExe()});
  a.insert(a.end(), {"--chdir", kSandboxWorkdir, "--clearenv"});
  if (env_fd >= 0) {
    a.insert(a.end(), {"--args", std::to_string(env_fd)});
  } else {
    for (const auto& [k, v] : env) a.insert(a.end(), {"--setenv", k, v});
  }
  a.insert(a.end(), {"--setenv", "HOME", kSandboxWorkdir, "--"});
  return a;
}

bool SandboxWorks() {
  if (::access(kBwrap, X_OK) != 0) return false;
  auto argv = SandboxArgv("/tmp", false);
  argv.push_back("/bin/true");
  pid_t pid = ::fork();
  if (pid < 0) return false;
  if (pid == 0) {
    std::vector<char*> args;
    for (auto& s : argv) args.push_back(s.data());
    args.push_back(nullptr);
    int devnull = ::open("/dev/null", O_RDWR);
    if (devnull >= 0) {
      ::dup2(devnull, 1);
      ::dup2(devnull, 2);
    }
    ::execv(kBwrap, args.data());
    ::_exit(127);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

}  // namespace aimass::cluster
