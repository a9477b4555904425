#!/usr/bin/env python3
"""The benchmark behind `make bench`.

Two throwaway network namespaces: clients in A, servers (iperf3, an epoll
echo server) in B.  Each peer forwards A:port -> B:port; "direct" is the
client in B talking to the server over B's loopback (the limit).  Every
metric is measured for every peer in the same run, ROUNDS times (round by
round: every peer in round 1, then every peer in round 2, ...), and the
median is reported as a ratio to direct and to systemd-socket-proxyd.

Metrics: iperf3 single-stream and 4-stream throughput; forwarder CPU
seconds per GiB (utime+stime of all its processes, from /proc, over the
single-stream run) and its wake-ups per GiB (voluntary context switches of
all its threads, over the same run); 64-byte round trip p50/p99, unpinned
and with client, forwarder and server pinned to CPU 0; new connections per
second with one 16-byte exchange each, with the forwarder's CPU per
connection over that run, its wake-ups per connection (voluntary context
switches of all its threads) over that run, and its syscalls per connection
(strace -c -f over a separate 1 s rate run, first round only); memory per
idle connection with 2,000 open (userspace: RssAnon of the forwarder's
processes; total: its memory cgroup, which counts kernel memory, plus the
cgroup's TCP buffer usage).
All loops are bounded; every process is stopped by its PID.
"""
import argparse
import datetime
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

NS_A = "ntbbench-%d-a" % os.getpid()
NS_B = "ntbbench-%d-b" % os.getpid()
IPERF_PORT, ECHO_PORT, FWD_PORT = 5201, 7000, 9000
IDLE_CONNS = 2000
CLK = os.sysconf("SC_CLK_TCK")
MEMCG_ROOT = "/sys/fs/cgroup/memory"

procs = []          # every process we started, stopped by PID at the end
cgroups = []        # every memory cgroup we made, removed at the end


def sh(*cmd, check=True, timeout=60, **kw):
    return subprocess.run(cmd, check=check, timeout=timeout, capture_output=True, text=True, **kw)


def start(*cmd, ns=None, **kw):
    full = (["ip", "netns", "exec", ns] if ns else []) + list(cmd)
    p = subprocess.Popen(full, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                         start_new_session=True, **kw)
    procs.append(p)
    return p


def stderr_now(peer):
    """What a peer that did not start has written to stderr so far, without
    waiting for more: one that lives on and says nothing must not hang us."""
    if not peer.running or peer.running[0].stderr is None:
        return b""
    fd = peer.running[0].stderr.fileno()
    os.set_blocking(fd, False)
    try:
        return os.read(fd, 2000)[-500:]
    except (BlockingIOError, OSError):
        return b""


def stop(p):
    if p.poll() is None:
        p.terminate()
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(5)


def wait_port(ns, port, timeout=10):
    end = time.time() + timeout
    while time.time() < end:
        out = sh("ip", "netns", "exec", ns, "ss", "-Hltn", "sport = :%d" % port, check=False).stdout
        if out.strip():
            return True
        time.sleep(0.05)
    return False


# ------------------------------------------------------------ /proc helpers

def children_of(pid):
    out = []
    try:
        for task in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/children" % (pid, task)) as f:
                out += [int(x) for x in f.read().split()]
    except OSError:
        pass
    return out


def tree(pids):
    seen, todo = [], list(pids)
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.append(p)
        todo += children_of(p)
    return seen


def cpu_seconds(pids):
    """utime+stime (+ reaped children) of the whole process trees."""
    total = 0
    for p in tree(pids):
        try:
            with open("/proc/%d/stat" % p) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += sum(int(x) for x in fields[11:15])
        except OSError:
            pass
    return total / CLK


def status_field(path, key):
    """The number after KEY: in a /proc status file; 0 if it is gone."""
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def wakeups(pids):
    """Voluntary context switches of every thread of the process trees:
    each one is a sleep in the kernel, so a wake-up after it."""
    total = 0
    for p in tree(pids):
        try:
            tasks = os.listdir("/proc/%d/task" % p)
        except OSError:
            continue
        total += sum(status_field("/proc/%d/task/%s/status" % (p, t), "voluntary_ctxt_switches")
                     for t in tasks)
    return total


def rss_anon_kib(pids):
    return sum(status_field("/proc/%d/status" % p, "RssAnon") for p in tree(pids))


# ------------------------------------------------------------ the peers

class Peer:
    name = "?"
    skip = None
    forks = False       # short-lived children, whose wake-ups no count sees

    def __init__(self, args, tmp):
        self.args, self.tmp, self.running = args, tmp, []

    def up(self, target):
        raise NotImplementedError

    def down(self):
        for p in self.running:
            stop(p)
        self.running = []

    def pids(self):
        return [p.pid for p in self.running if p.poll() is None]


class Direct(Peer):
    name = "direct"

    def up(self, target):
        return NS_B, target


class Agents(Peer):
    """The agents started on their own on a /path rendezvous: client
    hand-off, their default there (the peer is whoever passed the uid
    check, so the listening socket stays with ntb-listen)."""
    name = "bridge-agents"

    def up(self, target):
        sock = os.path.join(self.tmp, "agents.sock")
        b = self.args.build
        self.running = [
            start("nsenter", "--net=/run/netns/" + NS_B, os.path.join(b, "ntb-connect"),
                  "-c", "127.0.0.1:%d" % target, "-r", sock),
            start("nsenter", "--net=/run/netns/" + NS_A, os.path.join(b, "ntb-listen"),
                  "-l", "127.0.0.1:%d" % FWD_PORT, "-r", sock)]
        return NS_A, FWD_PORT


class Bridge(Peer):
    name = "bridge"
    extra = ()

    def up(self, target):
        self.running = [start(os.path.join(self.args.build, "netns-tcp-bridge"),
                              "-l", "127.0.0.1:%d" % FWD_PORT, "-f", "/run/netns/" + NS_A,
                              "-c", "127.0.0.1:%d" % target, "-t", "/run/netns/" + NS_B,
                              *self.extra)]
        return NS_A, FWD_PORT


class BridgeBaseline(Bridge):
    """The launcher of another build (--baseline DIR), for before and after
    figures of a change in the same run."""
    name = "bridge (baseline)"

    def up(self, target):
        self.running = [start(os.path.join(self.args.baseline, "netns-tcp-bridge"),
                              "-l", "127.0.0.1:%d" % FWD_PORT, "-f", "/run/netns/" + NS_A,
                              "-c", "127.0.0.1:%d" % target, "-t", "/run/netns/" + NS_B)]
        return NS_A, FWD_PORT


class BridgeClientHandoff(Bridge):
    """The launcher with ntb-listen accepting and handing over each client."""
    name = "bridge (client hand-off)"
    extra = ("--hand-off", "client")


class Pasta(Peer):
    """pasta, rootless, on its splice path: it binds 127.0.0.1:FWD_PORT in A
    and forwards to the loopback of a namespace of its own, where our own
    copies of the servers run.  It runs as nobody in a user namespace it
    makes; it needs /dev/net/tun open to that user (set for the run, put
    back after) and an interface with a default route in A (a veth)."""
    name = "pasta"
    user = 65534

    def __init__(self, args, tmp):
        super().__init__(args, tmp)
        self.servers, self.echo_pid, self.tun_mode = [], None, None
        if not shutil.which("pasta"):
            self.skip = "pasta (Debian package passt) not installed"

    def setup(self):
        if self.tun_mode is None:
            self.tun_mode = os.stat("/dev/net/tun").st_mode & 0o777
            os.chmod("/dev/net/tun", 0o666)
        sh("ip", "-n", NS_A, "link", "add", "ntbv0", "type", "veth", "peer", "name", "ntbv1",
           check=False)
        sh("ip", "-n", NS_A, "addr", "add", "192.0.2.1/24", "dev", "ntbv0", check=False)
        sh("ip", "-n", NS_A, "link", "set", "ntbv0", "up", check=False)
        sh("ip", "-n", NS_A, "link", "set", "ntbv1", "up", check=False)
        sh("ip", "-n", NS_A, "route", "replace", "default", "via", "192.0.2.254", "dev",
           "ntbv0", "onlink", check=False)

    def up(self, target):
        self.setup()
        # pasta binds without SO_REUSEADDR: a port of its own each time, away
        # from the TIME_WAIT sockets of the peers before it.
        self.port = getattr(self, "port", 65100) + 1     # above the clients' ephemeral ports
        holder = start("setpriv", "--reuid=%d" % self.user, "--regid=%d" % self.user,
                       "--clear-groups", "pasta", "-f", "-4", "--config-net",
                       "-t", "127.0.0.1/%d:%d" % (self.port, target), "-T", "none",
                       "-u", "none", "-U", "none", "--", "sleep", "100000", ns=NS_A)
        self.running = [holder]
        child = None
        for _ in range(100):
            kids = [p for p in tree([holder.pid]) if p != holder.pid and
                    open("/proc/%d/comm" % p).read().strip() == "sleep"]
            if kids:
                child = kids[0]
                break
            time.sleep(0.05)
        if child is None:
            holder.terminate()
            raise RuntimeError("pasta did not start its namespace: %s" %
                               holder.stderr.read(2000).decode(errors="replace")[-300:])
        self.child = child
        enter = ["nsenter", "-t", str(child), "-n"]
        if target == IPERF_PORT:
            srv = start(*enter, "iperf3", "-s", "-p", str(target))
        else:
            srv = start(*enter, BENCHTOOL, "echo", str(target))
            self.echo_pid = srv.pid
        self.servers = [srv]
        for _ in range(100):
            if (":%d " % target) in sh(*enter, "ss", "-ltnH").stdout:
                break
            time.sleep(0.05)
        return NS_A, self.port

    def down(self):
        for p in self.servers:
            stop(p)
        self.servers, self.echo_pid = [], None
        super().down()
        if getattr(self, "child", None):
            try:
                os.kill(self.child, signal.SIGKILL)    # the holder: init of its namespace, deaf to SIGTERM
            except OSError:
                pass
            self.child = None

    def restore(self):
        if self.tun_mode is not None:
            os.chmod("/dev/net/tun", self.tun_mode)
            self.tun_mode = None
        sh("ip", "-n", NS_A, "link", "del", "ntbv0", check=False)


class SocketProxyd(Peer):
    name = "systemd-socket-proxyd"
    binary = "/lib/systemd/systemd-socket-proxyd"

    def __init__(self, args, tmp):
        super().__init__(args, tmp)
        if not (os.path.exists(self.binary) and shutil.which("systemd-socket-activate")):
            self.skip = "systemd-socket-proxyd or systemd-socket-activate not installed"

    def up(self, target):
        # Listening socket made in A by systemd-socket-activate, proxy run in B.
        self.running = [start("systemd-socket-activate", "-l", "127.0.0.1:%d" % FWD_PORT,
                              "nsenter", "--net=/run/netns/" + NS_B, self.binary,
                              "--connections-max=8192", "127.0.0.1:%d" % target, ns=NS_A)]
        return NS_A, FWD_PORT


class HAProxy(Peer):
    name = "haproxy"

    def __init__(self, args, tmp):
        super().__init__(args, tmp)
        if not shutil.which("haproxy"):
            self.skip = "haproxy not installed"

    def up(self, target):
        cfg = os.path.join(self.tmp, "haproxy.cfg")
        with open(cfg, "w") as f:
            f.write("""global
    maxconn 5000
defaults
    mode tcp
    timeout connect 5s
    timeout client 120s
    timeout server 120s
    option splice-request
    option splice-response
frontend f
    bind 127.0.0.1:%d namespace %s
    default_backend b
backend b
    server s 127.0.0.1:%d namespace %s
""" % (FWD_PORT, NS_A, target, NS_B))
        self.running = [start("haproxy", "-db", "-f", cfg)]
        return NS_A, FWD_PORT


class SocatPair(Peer):
    name = "socat-pair"
    forks = True        # a child per connection: its wake-ups die with it

    def __init__(self, args, tmp):
        super().__init__(args, tmp)
        if not shutil.which("socat"):
            self.skip = "socat not installed"

    def up(self, target):
        sock = os.path.join(self.tmp, "socat.sock")
        if os.path.exists(sock):
            os.unlink(sock)
        self.running = [
            start("socat", "UNIX-LISTEN:%s,fork,backlog=4096" % sock,
                  "TCP:127.0.0.1:%d,nodelay" % target, ns=NS_B)]
        time.sleep(0.3)
        self.running.append(
            start("socat", "TCP-LISTEN:%d,bind=127.0.0.1,fork,reuseaddr,backlog=4096,nodelay" % FWD_PORT,
                  "UNIX-CONNECT:" + sock, ns=NS_A))
        return NS_A, FWD_PORT


class Original(Peer):
    name = "netns_tcp_bridge (Rust)"

    def __init__(self, args, tmp):
        super().__init__(args, tmp)
        self.skip = ("not measured: the original is a Rust crate and this machine reaches "
                     "no crate registry to build it")


PEERS = [Direct, Bridge, BridgeBaseline, BridgeClientHandoff, Agents, SocketProxyd, HAProxy, Pasta, SocatPair,
         Original]


# ------------------------------------------------------------ the metrics

def iperf(ns, port, streams, seconds):
    """Gbit/s and bytes received; a run iperf3 reports as failed (server
    still busy with the last test, say) is tried again, then left out."""
    for attempt in range(3):
        out = sh("ip", "netns", "exec", ns, "iperf3", "-c", "127.0.0.1", "-p", str(port),
                 "-P", str(streams), "-t", str(seconds), "-J", check=False,
                 timeout=seconds + 30).stdout
        try:
            data = json.loads(out)
        except ValueError:
            data = {"error": "no JSON from iperf3"}
        end = data.get("end", {}).get("sum_received", {})
        if "error" not in data and end.get("bytes"):
            return end["bits_per_second"] / 1e9, end["bytes"]
        print("  iperf3 -P %d failed (%s), again" % (streams, data.get("error")), file=sys.stderr)
        time.sleep(1)
    return None, None


def pin(pids, mask):
    for p in tree(pids):
        sh("taskset", "-a", "-p", mask, str(p), check=False)


def rtt(ns, port, count, pin_pids=None):
    cmd = ["ip", "netns", "exec", ns]
    if pin_pids is not None:
        cmd += ["taskset", "-c", "0"]
    out = sh(*cmd, BENCHTOOL, "rtt", str(port), str(count), timeout=120).stdout.split()
    return float(out[1]), float(out[3])


def conn_rate(ns, port, seconds):
    out = sh("ip", "netns", "exec", ns, BENCHTOOL, "rate", str(port), str(seconds), "4",
             timeout=seconds + 60).stdout.split()
    return float(out[1]), int(out[3])


class MemCg:
    """A v1 or v2 memory cgroup for the forwarder's processes."""

    def __init__(self, name):
        self.path = None
        for root, usage in ((MEMCG_ROOT, "memory.usage_in_bytes"),
                            ("/sys/fs/cgroup", "memory.current")):
            if os.path.exists(os.path.join(root, "cgroup.procs")) or \
               os.path.exists(os.path.join(root, usage)) or os.path.isdir(root):
                path = os.path.join(root, name)
                try:
                    os.mkdir(path)
                except OSError:
                    continue
                if os.path.exists(os.path.join(path, usage)):
                    self.path, self.usage = path, usage
                    cgroups.append(self)
                    break
                os.rmdir(path)
        if self.path:
            tcp = os.path.join(self.path, "memory.kmem.tcp.limit_in_bytes")
            try:
                with open(tcp, "w") as f:      # v1: turns TCP buffer accounting on
                    f.write(str(1 << 40))
            except OSError:
                pass

    def add(self, pids):
        for p in tree(pids):
            try:
                with open(os.path.join(self.path, "cgroup.procs"), "w") as f:
                    f.write(str(p))
            except OSError:
                pass

    def read(self):
        total = int(open(os.path.join(self.path, self.usage)).read())
        tcp = os.path.join(self.path, "memory.kmem.tcp.usage_in_bytes")
        if os.path.exists(tcp):
            total += int(open(tcp).read())
        return total

    def remove(self):
        if self.path:
            for _ in range(50):
                try:
                    os.rmdir(self.path)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.1)
            self.path = None


def idle_memory(peer, ns, port):
    cg = MemCg("ntbbench-%d-%s" % (os.getpid(), peer.name.replace(" ", "_")))
    pids = peer.pids()
    if cg.path:
        cg.add(pids)
    time.sleep(0.2)
    before_rss = rss_anon_kib(pids)
    before_cg = cg.read() if cg.path else None
    holder = subprocess.Popen(["ip", "netns", "exec", ns, BENCHTOOL, "idle", str(port),
                               str(IDLE_CONNS)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True, start_new_session=True)
    procs.append(holder)
    ready = holder.stdout.readline().strip() == "ready"
    time.sleep(0.5)
    after_rss = rss_anon_kib(pids)
    after_cg = cg.read() if cg.path else None
    # The connection rate must not fall off with many idle connections open.
    busy_rate = conn_rate(ns, port, 2)[0] if ready else None
    holder.stdin.close()
    holder.wait(30)
    user = (after_rss - before_rss) / IDLE_CONNS if ready else None
    total = None
    if ready and cg.path:
        total = (after_cg - before_cg) / 1024 / IDLE_CONNS
    return user, total, busy_rate, cg


METRICS = [
    # key, label, unit, better
    ("gbps_1", "throughput, 1 stream", "Gbit/s", "high"),
    ("gbps_4", "throughput, 4 streams", "Gbit/s", "high"),
    ("cpu_s_per_gib", "forwarder CPU per GiB", "s/GiB", "low"),
    ("wakeups_per_gib", "forwarder wake-ups per GiB", "wake-ups", "low"),
    ("rtt_p50", "round trip p50", "us", "low"),
    ("rtt_p99", "round trip p99", "us", "low"),
    ("rtt_p50_pinned", "round trip p50, pinned to CPU 0", "us", "low"),
    ("rtt_p99_pinned", "round trip p99, pinned to CPU 0", "us", "low"),
    ("conn_per_s", "connections per second", "1/s", "high"),
    ("cpu_us_per_conn", "forwarder CPU per connection", "us", "low"),
    ("syscalls_per_conn", "forwarder syscalls per connection (strace)", "calls", "low"),
    ("wakeups_per_conn", "forwarder wake-ups per connection", "wake-ups", "low"),
    ("conn_per_s_idle", "connections per second, 2,000 idle open", "1/s", "high"),
    ("idle_user_kib", "userspace memory per idle connection", "KiB", "low"),
    ("idle_total_kib", "total memory per idle connection", "KiB", "low"),
]


def syscalls_per_conn(peer, ns, port):
    """strace -c -f on the forwarder over a 1 s rate run: calls per connection."""
    pids = tree(peer.pids())
    if not pids or not shutil.which("strace"):
        return None
    out = os.path.join(peer.tmp, "strace.txt")
    cmd = ["strace", "-f", "-c", "-o", out]
    for p in pids:
        cmd += ["-p", str(p)]
    tracer = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    procs.append(tracer)
    time.sleep(1.0)
    out_rate = sh("ip", "netns", "exec", ns, BENCHTOOL, "rate", str(port), "1", "4",
                  timeout=60).stdout.split()
    time.sleep(0.3)
    tracer.send_signal(signal.SIGINT)
    tracer.wait(30)
    conns = float(out_rate[1])      # 1 s run: the rate is the count
    try:
        for line in open(out):
            f = line.split()
            if f and f[-1] == "total":
                return int(f[3]) / conns if conns else None
    except OSError:
        pass
    return None


NO_DIRECT = ("cpu_s_per_gib", "wakeups_per_gib", "idle_user_kib", "idle_total_kib",
             "cpu_us_per_conn", "syscalls_per_conn", "wakeups_per_conn")


def best_peer(results, order):
    """Per metric: the bridge's value against the best other forwarder's."""
    lines = ["bridge against the best peer of this run (bridge / best; high-better "
             "metrics want > 1, low-better < 1):"]
    others = [n for n in order if n not in ("direct", "bridge") and not n.startswith("bridge")]
    b = results.get("bridge", {})
    for key, label, unit, better in METRICS:
        vals = [(results[n][key], n) for n in others if results[n].get(key) is not None]
        if b.get(key) is None or not vals:
            continue
        v, n = max(vals) if better == "high" else min(vals)
        lines.append("  %-52s %10s vs %10s (%s): %s" % (label, fmt(b[key]), fmt(v), n,
                                                     fmt(ratio(b[key], v))))
    return "\n".join(lines)


def measure_round(peer, r, res, secs, echo_pid):
    """One round of every figure for @peer, appended to @res's lists."""
    # Throughput and CPU, against iperf3.
    ns, port = peer.up(IPERF_PORT)
    if ns != NS_B and not wait_port(ns, port):
        raise RuntimeError("%s did not start: %s" % (peer.name, stderr_now(peer)))
    c0, w0 = cpu_seconds(peer.pids()), wakeups(peer.pids())
    g1, nbytes = iperf(ns, port, 1, secs)
    c1, w1 = cpu_seconds(peer.pids()), wakeups(peer.pids())
    g4, _ = iperf(ns, port, 4, secs)
    for key, value in (("gbps_1", g1), ("gbps_4", g4)):
        if value is not None:
            res[key].append(value)
    if peer.name != "direct" and nbytes:
        res["cpu_s_per_gib"].append((c1 - c0) / (nbytes / 2**30))
        if not peer.forks:
            res["wakeups_per_gib"].append((w1 - w0) / (nbytes / 2**30))
    peer.down()
    time.sleep(0.3)
    # Latency, connection rate and memory, against the echo server.
    ns, port = peer.up(ECHO_PORT)
    if ns != NS_B and not wait_port(ns, port):
        raise RuntimeError("%s did not start" % peer.name)
    p50, p99 = rtt(ns, port, 20000)
    res["rtt_p50"].append(p50)
    res["rtt_p99"].append(p99)
    server = getattr(peer, "echo_pid", None) or echo_pid
    pin(peer.pids() + [server], "0x1")
    p50, p99 = rtt(ns, port, 20000, pin_pids=True)
    pin(peer.pids() + [server], "0x%x" % ((1 << os.cpu_count()) - 1))
    res["rtt_p50_pinned"].append(p50)
    res["rtt_p99_pinned"].append(p99)
    c0, w0 = cpu_seconds(peer.pids()), wakeups(peer.pids())
    rate, failed = conn_rate(ns, port, 2)
    c1, w1 = cpu_seconds(peer.pids()), wakeups(peer.pids())
    res["conn_per_s"].append(rate)
    if peer.name != "direct" and rate:
        res["cpu_us_per_conn"].append((c1 - c0) / (rate * 2) * 1e6)
        if not peer.forks:
            res["wakeups_per_conn"].append((w1 - w0) / (rate * 2))
        if r == 0:
            calls = syscalls_per_conn(peer, ns, port)
            if calls is not None:
                res["syscalls_per_conn"].append(calls)
    user, total, busy_rate, cg = idle_memory(peer, ns, port)
    if peer.name != "direct":
        if user is not None:
            res["idle_user_kib"].append(user)
        if total is not None:
            res["idle_total_kib"].append(total)
    else:
        cg.remove()
        cg = None
    if busy_rate is not None:
        res["conn_per_s_idle"].append(busy_rate)
    peer.down()
    if cg:
        cg.remove()
    time.sleep(0.5)      # let TIME_WAIT sockets and pipes settle
    print("  %s round %d: %s / %s Gbit/s, p50 %.1f us, %.0f conn/s" %
          (peer.name, r + 1, fmt(g1, 1), fmt(g4, 1), res["rtt_p50"][-1], rate),
          file=sys.stderr)


def medians(res):
    return {k: (statistics.median(v) if v else None) for k, v in res.items()}


# ------------------------------------------------------------ reporting

def ratio(v, base):
    if v is None or not base:
        return None
    return v / base


def fmt(v, digits=2):
    return "-" if v is None else ("%.*f" % (digits, v))


def table(results, order):
    lines = []
    d = results.get("direct", {})
    s = results.get("systemd-socket-proxyd", {})
    for key, label, unit, better in METRICS:
        lines.append("%s (%s, %s is better)" % (label, unit, better))
        for name in order:
            v = results[name].get(key)
            if v is None:
                continue
            rd = ratio(v, d.get(key)) if key not in NO_DIRECT else None
            extra = ""
            if key.startswith("rtt") and d.get(key) is not None:
                extra = "  +%.1f us over direct" % (v - d[key])
            lines.append("  %-24s %10s   x direct %6s   x proxyd %6s%s" % (
                name, fmt(v), fmt(rd), fmt(ratio(v, s.get(key))), extra))
    return "\n".join(lines)


def markdown(results, order, stamp, machine, rounds):
    d = results.get("direct", {})
    s = results.get("systemd-socket-proxyd", {})
    out = ["Measured %s on %s; median of %d rounds. Each cell: value (x direct, "
           "x systemd-socket-proxyd)." % (stamp, machine, rounds), "",
           "| metric | " + " | ".join(order) + " |",
           "|---|" + "---|" * len(order)]
    for key, label, unit, better in METRICS:
        cells = []
        for name in order:
            v = results[name].get(key)
            if v is None:
                cells.append("-")
                continue
            parts = []
            if key not in NO_DIRECT and d.get(key):
                parts.append("%s x" % fmt(v / d[key]))
            if s.get(key):
                parts.append("%s x" % fmt(v / s[key]))
            digits = 0 if v >= 1000 else 2
            cells.append("%s (%s)" % (fmt(v, digits), ", ".join(parts)) if parts else fmt(v, digits))
        out.append("| %s, %s (%s better) | %s |" % (label, unit, better, " | ".join(cells)))
    return "\n".join(out) + "\n"


def report(data, out_dir):
    results, order = data["results"], data["order"]
    text = "netns-tcp-bridge benchmark, %s, %s; median of %d rounds\n\n%s\n\n%s\n" % (
        data["date"], data["machine"], data["rounds"], table(results, order),
        best_peer(results, order))
    for name, why in data["skipped"].items():
        text += "skipped %s: %s\n" % (name, why)
    with open(os.path.join(out_dir, "bench.txt"), "w") as f:
        f.write(text)
    md = markdown(results, order, data["date"], data["machine"], data["rounds"])
    for name, why in data["skipped"].items():
        md += "\nSkipped %s: %s\n" % (name, why.strip().splitlines()[-1] if why.strip() else why)
    with open(os.path.join(out_dir, "bench.md"), "w") as f:
        f.write(md)
    svg = chart(results, order, os.path.join(out_dir, "bench.svg"))
    return text, svg


def chart(results, order, path_svg):
    if not shutil.which("gnuplot"):
        return None
    d = results["direct"]
    data = os.path.join(os.path.dirname(path_svg), "chart.dat")
    names = [n for n in order if n != "direct"]
    with open(data, "w") as f:
        f.write("# peer tput1 tput4 rate rate_idle\n")
        for n in names:
            r = results[n]
            f.write('"%s" %s %s %s %s\n' % (
                n, fmt(ratio(r["gbps_1"], d["gbps_1"]), 3),
                fmt(ratio(r["gbps_4"], d["gbps_4"]), 3),
                fmt(ratio(r["conn_per_s"], d["conn_per_s"]), 3),
                fmt(ratio(r.get("conn_per_s_idle"), d.get("conn_per_s_idle")), 3)))
    script = """
set terminal svg size 960,460 font "sans,12" background "white"
set output '%s'
set title "netns-tcp-bridge beside its peers, as a share of a direct loopback connection (1.0)"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set boxwidth 0.9
set yrange [0:1.2]
set grid ytics
set ylabel "x direct"
set key top right
set xtics rotate by -15
set bmargin 5
set datafile missing "-"
plot '%s' using 2:xtic(1) title "1-stream throughput", '' using 3 title "4-stream throughput", \\
     '' using 4 title "connections/s", '' using 5 title "connections/s, 2,000 idle open"
""" % (path_svg, data)
    sh("gnuplot", input=script, check=False)
    return path_svg if os.path.exists(path_svg) else None


def on_signal(signum, frame):
    raise KeyboardInterrupt("signal %d" % signum)


def main():
    global BENCHTOOL
    signal.signal(signal.SIGTERM, on_signal)
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=4)
    ap.add_argument("--only", default="")
    ap.add_argument("--baseline", metavar="BUILD",
                    help="also measure the launcher of this build, as 'bridge (baseline)'")
    ap.add_argument("--report-only", metavar="JSON",
                    help="redo bench.txt, bench.md and bench.svg from a bench.json")
    args = ap.parse_args()
    if args.report_only:
        with open(args.report_only) as f:
            data = json.load(f)
        data.setdefault("order", list(data["results"]))
        os.makedirs(args.out, exist_ok=True)
        print(report(data, args.out)[0])
        return 0
    if os.geteuid() != 0:
        print("bench: needs root (ip netns, cgroups)", file=sys.stderr)
        return 1
    BENCHTOOL = os.path.join(args.build, "bench", "benchtool")
    os.makedirs(args.out, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="ntb-bench.")
    results, skipped, order, peers = {}, {}, [], []
    try:
        for ns in (NS_A, NS_B):
            sh("ip", "netns", "add", ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
            # The connection-rate test opens tens of thousands of connections.
            sh("ip", "netns", "exec", ns, "sysctl", "-q", "-w", "net.ipv4.tcp_tw_reuse=1")
            sh("ip", "netns", "exec", ns, "sysctl", "-q", "-w",
               "net.ipv4.ip_local_port_range=1024 65000")
            # ... which holds the servers' and forwarders' ports: a client's
            # port there would keep a forwarder of a later round from binding.
            sh("ip", "netns", "exec", ns, "sysctl", "-q", "-w",
               "net.ipv4.ip_local_reserved_ports=%d,%d,%d" % (IPERF_PORT, ECHO_PORT, FWD_PORT))
        start("iperf3", "-s", "-p", str(IPERF_PORT), ns=NS_B)
        echo = start(BENCHTOOL, "echo", str(ECHO_PORT), ns=NS_B)
        wait_port(NS_B, IPERF_PORT)
        wait_port(NS_B, ECHO_PORT)
        for cls in PEERS:
            peer = cls(args, tmp)
            if args.only and peer.name not in args.only.split(",") and peer.name != "direct":
                continue
            if cls is BridgeBaseline and not args.baseline:
                continue
            if peer.skip:
                skipped[peer.name] = peer.skip
                print("skip %s: %s" % (peer.name, peer.skip), file=sys.stderr)
                continue
            peers.append(peer)
        # Round by round, every forwarder in each: a VM's speed drifts over
        # minutes, and measuring one forwarder's rounds after another's put
        # that drift into their ratios.
        raw = {peer.name: {k: [] for k, *_ in METRICS} for peer in peers}
        for r in range(args.rounds):
            print("round %d" % (r + 1), file=sys.stderr)
            for peer in peers:
                if peer.name in skipped:
                    continue
                try:
                    measure_round(peer, r, raw[peer.name], args.seconds, echo.pid)
                except (RuntimeError, subprocess.SubprocessError, OSError, ValueError, KeyError) as e:
                    skipped[peer.name] = "failed: %s" % e
                    print("skip %s: %s" % (peer.name, e), file=sys.stderr)
                finally:
                    peer.down()
                    # pasta's veth and /dev/net/tun for its rounds only.
                    if hasattr(peer, "restore"):
                        peer.restore()
        for peer in peers:
            if peer.name not in skipped:
                results[peer.name] = medians(raw[peer.name])
                order.append(peer.name)
    finally:
        for peer in peers:
            if hasattr(peer, "restore"):
                peer.restore()
        for p in procs:
            stop(p)
        for cg in cgroups:
            cg.remove()
        for ns in (NS_A, NS_B):
            sh("ip", "netns", "del", ns, check=False)
        shutil.rmtree(tmp, ignore_errors=True)

    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    machine = "%s, %d CPUs, %s, kernel %s" % (platform.node(), os.cpu_count(),
                                             platform.machine(), platform.release())
    data = {"date": stamp, "machine": machine, "rounds": args.rounds, "order": order,
            "results": results, "skipped": skipped}
    with open(os.path.join(args.out, "bench.json"), "w") as f:
        json.dump(data, f, indent=2)
    text, svg = report(data, args.out)
    print(text)
    print("wrote %s/bench.txt, bench.md, bench.json%s" % (args.out, ", bench.svg" if svg else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
