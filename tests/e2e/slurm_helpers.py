"""A one-node Slurm on this machine for the tests and benchmarks: munged with its own key and
socket, slurmctld and slurmd on free loopback ports, slurm.conf written here, everything under
one directory (Debian's slurm-wlm and munge, installed by scripts/install-deps)."""
from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _meminfo_mb() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // 1024
    return 2048


class Slurm:
    def __init__(self, workdir: Path):
        for tool in ("munged", "slurmctld", "slurmd", "sbatch"):
            if not (shutil.which(tool) or Path(f"/usr/sbin/{tool}").exists()):
                raise RuntimeError(f"{tool} not found: scripts/install-deps installs slurmctld, slurmd, slurm-client, munge")
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.conf = self.dir / "slurm.conf"
        self.procs: list[subprocess.Popen] = []
        self.host = socket.gethostname().split(".")[0]
        self.env = dict(os.environ, SLURM_CONF=str(self.conf))

    def _write_conf(self) -> None:
        d, user = self.dir, getpass.getuser()
        for sub in ("state", "spool", "log"):
            (d / sub).mkdir(exist_ok=True)
        cpus = len(os.sched_getaffinity(0))
        self.conf.write_text(f"""ClusterName=aimass-test
SlurmctldHost={self.host}(127.0.0.1)
SlurmctldPort={_free_port()}
SlurmdPort={_free_port()}
AuthType=auth/munge
AuthInfo=socket={d}/munge.socket
CredType=cred/munge
SlurmUser={user}
SlurmdUser={user}
StateSaveLocation={d}/state
SlurmdSpoolDir={d}/spool
SlurmctldPidFile={d}/slurmctld.pid
SlurmdPidFile={d}/slurmd.pid
SlurmctldLogFile={d}/log/slurmctld.log
SlurmdLogFile={d}/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
JobAcctGatherType=jobacct_gather/none
ReturnToService=2
MpiDefault=none
MinJobAge=86400
SchedulerParameters=sched_interval=1
NodeName={self.host} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={max(_meminfo_mb() - 1024, 1024)} State=UNKNOWN
PartitionName=main Nodes={self.host} Default=YES MaxTime=INFINITE State=UP
""")

    def start(self) -> "Slurm":
        d = self.dir
        self._write_conf()
        key = d / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o400)
        munged = shutil.which("munged") or "/usr/sbin/munged"
        subprocess.run([munged, f"--key-file={key}", f"--socket={d}/munge.socket", f"--pid-file={d}/munged.pid",
                        f"--log-file={d}/log/munged.log", f"--seed-file={d}/munge.seed", "--force"],
                       check=True, capture_output=True)
        for daemon in ("slurmctld", "slurmd"):
            exe = shutil.which(daemon) or f"/usr/sbin/{daemon}"
            log = open(d / "log" / f"{daemon}.out", "ab")
            self.procs.append(subprocess.Popen([exe, "-D", "-f", str(self.conf)], stdout=log, stderr=subprocess.STDOUT,
                                               stdin=subprocess.DEVNULL, env=self.env))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            out = subprocess.run(["sinfo", "-h", "-o", "%T"], env=self.env, capture_output=True, text=True)
            if out.returncode == 0 and out.stdout.strip() in ("idle", "mixed", "allocated"):
                return self
            time.sleep(0.5)
        raise RuntimeError("the test Slurm did not come up:\n" + self.logs())

    def logs(self) -> str:
        text = []
        for f in sorted((self.dir / "log").glob("*")):
            text.append(f"--- {f.name}\n" + f.read_text(errors="replace")[-3000:])
        return "\n".join(text)

    def stop(self) -> None:
        subprocess.run(["scancel", "--user", getpass.getuser()], env=self.env, capture_output=True)
        for p in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(15)
                except subprocess.TimeoutExpired:
                    p.kill()
        pid = self.dir / "munged.pid"
        if pid.exists():
            try:
                os.kill(int(pid.read_text().strip()), 15)
            except (OSError, ValueError):
                pass
