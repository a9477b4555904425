#!/usr/bin/env python3
"""Real TCP peers for the integration tests: servers and clients that check
what they see (checksums, FIN vs RST, half-close), bounded in time.

server ADDR PORT MODE [--log FILE] [--last PORT]
                                       modes: echo observe rst rstnow whoami finfirst replyeof
                                       (--last: one socket per port up to PORT)
client ADDR PORT MODE [ARGS]           modes: read, bulk N, parallel K N, paced K N, halfclose,
                                       finfirst, rstclient, expectreset, probe, hold N SEC,
                                       scatter N SIZE WAIT, chain N SEC STOP
Every socket has a time-out; every client exits 0 only if what it saw is right.
"""
import hashlib
import os
import select
import socket
import struct
import sys
import threading
import time

TIMEOUT = 30


def family(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def log_line(path, line):
    if path:
        with open(path, "a") as f:
            f.write(line + "\n")


def recv_all(s):
    data = bytearray()
    while True:
        b = s.recv(1 << 16)
        if not b:
            return bytes(data)
        data += b


def linger0(s):
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


# ---------------------------------------------------------------- servers

def srv_echo(c, log):
    while True:
        b = c.recv(1 << 16)
        if not b:
            break
        c.sendall(b)
    c.shutdown(socket.SHUT_WR)


def srv_watch(c, log, echo):
    """Read (and echo, if asked) to the end; log how it ended: EOF N or RESET N."""
    n = 0
    try:
        while True:
            b = c.recv(1 << 16)
            if not b:
                log_line(log, "EOF %d" % n)
                break
            n += len(b)
            if echo:
                c.sendall(b)
        if echo:
            c.shutdown(socket.SHUT_WR)
    except (ConnectionResetError, BrokenPipeError):
        log_line(log, "RESET %d" % n)


def srv_observe(c, log):
    srv_watch(c, log, False)


def srv_echolog(c, log):
    srv_watch(c, log, True)


def srv_source(c, log):
    """Send random data until the client goes; log RESET N or ERROR."""
    chunk = os.urandom(65536)
    n = 0
    try:
        while True:
            c.sendall(chunk)
            n += len(chunk)
    except (ConnectionResetError, BrokenPipeError):
        log_line(log, "RESET %d" % n)


def srv_peer(c, log):
    """Tell the client whom this server sees: PEER ADDR PORT."""
    a = c.getpeername()
    c.sendall(("PEER %s %d\n" % (a[0], a[1])).encode())
    c.shutdown(socket.SHUT_WR)
    recv_all(c)


def srv_firstline(c, log):
    """Send back the first line the client sent (a PROXY v1 header, say)."""
    line = b""
    while not line.endswith(b"\n") and len(line) < 300:
        b = c.recv(1)
        if not b:
            break
        line += b
    c.sendall(line)
    c.shutdown(socket.SHUT_WR)


def srv_sink(c, log):
    """Accept and never read: the relay must hold back, not buffer."""
    log_line(log, "ACCEPTED")
    time.sleep(TIMEOUT * 6)


def srv_rst(c, log):
    c.recv(5)
    linger0(c)


def srv_whoami(c, log):
    c.sendall(("PORT %d\n" % c.getsockname()[1]).encode())
    c.shutdown(socket.SHUT_WR)
    recv_all(c)


def srv_rstnow(c, log):
    linger0(c)


def srv_finfirst(c, log):
    c.sendall(b"server-says-bye\n")
    c.shutdown(socket.SHUT_WR)
    data = recv_all(c)
    log_line(log, "GOT " + data.decode(errors="replace").strip())


def srv_replyeof(c, log):
    data = recv_all(c)
    c.sendall(("got %d %s\n" % (len(data), hashlib.sha256(data).hexdigest())).encode())
    c.shutdown(socket.SHUT_WR)


SERVERS = {"peer": srv_peer, "firstline": srv_firstline, "echolog": srv_echolog, "sink": srv_sink, "source": srv_source, "echo": srv_echo, "observe": srv_observe, "rst": srv_rst, "rstnow": srv_rstnow, "whoami": srv_whoami,
           "finfirst": srv_finfirst, "replyeof": srv_replyeof}


def server(addr, port, mode, log, last=None):
    """One listening socket, or one per port from PORT to LAST."""
    import selectors
    sel = selectors.DefaultSelector()
    for p in range(port, (last or port) + 1):
        s = socket.socket(family(addr), socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((addr, p))
        s.listen(512)
        sel.register(s, selectors.EVENT_READ)
    handler = SERVERS[mode]

    def run(c):
        c.settimeout(TIMEOUT)
        try:
            handler(c, log)
        except OSError as e:
            log_line(log, "ERROR %s" % e)
        finally:
            c.close()

    while True:
        for key, _ in sel.select():
            c, _ = key.fileobj.accept()
            threading.Thread(target=run, args=(c,), daemon=True).start()


# ---------------------------------------------------------------- clients

def connect(addr, port, tries=50):
    for i in range(tries):
        try:
            return socket.create_connection((addr, port), timeout=TIMEOUT)
        except (ConnectionRefusedError, ConnectionResetError):
            if i == tries - 1:
                raise
            time.sleep(0.1)


def echo_reader(s):
    """Read s to EOF in a thread: (running sha256, [byte count], thread)."""
    got = hashlib.sha256()
    count = [0]

    def reader():
        while True:
            b = s.recv(1 << 18)
            if not b:
                return
            got.update(b)
            count[0] += len(b)

    t = threading.Thread(target=reader)
    t.start()
    return got, count, t


def bulk(addr, port, n):
    """Send n random bytes, read the echo concurrently, compare checksums."""
    s = connect(addr, port)
    data = os.urandom(n)
    sent = hashlib.sha256(data).hexdigest()
    got, count, t = echo_reader(s)
    view = memoryview(data)
    for i in range(0, n, 1 << 20):
        s.sendall(view[i:i + (1 << 20)])
    s.shutdown(socket.SHUT_WR)
    t.join(TIMEOUT * 4)
    s.close()
    if count[0] != n or got.hexdigest() != sent:
        print("MISMATCH sent %d %s got %d %s" % (n, sent, count[0], got.hexdigest()))
        return False
    return True


def cli_bulk(addr, port, args):
    n = int(args[0])
    ok = bulk(addr, port, n)
    print(("OK %d bytes each way" % n) if ok else "FAILED")
    return ok


def cli_parallel(addr, port, args):
    k, n = int(args[0]), int(args[1])
    results = []
    lock = threading.Lock()

    def one():
        try:
            r = bulk(addr, port, n)
        except OSError as e:
            print("ERROR %s" % e)
            r = False
        with lock:
            results.append(r)

    threads = [threading.Thread(target=one) for _ in range(k)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT * 4)
    good = sum(1 for r in results if r)
    print("OK %d of %d connections intact" % (good, k))
    return good == k


def cli_paced(addr, port, args):
    """K chunks of N bytes, 0.1 s apart, echoed and checked: a transfer that
    takes K/10 seconds whatever the machine's speed."""
    k, n = int(args[0]), int(args[1])
    s = connect(addr, port)
    sent = hashlib.sha256()
    got, count, t = echo_reader(s)
    print("STARTED")
    sys.stdout.flush()
    for _ in range(k):
        chunk = os.urandom(n)
        sent.update(chunk)
        s.sendall(chunk)
        time.sleep(0.1)
    s.shutdown(socket.SHUT_WR)
    t.join(TIMEOUT)
    ok = count[0] == k * n and got.hexdigest() == sent.hexdigest()
    print(("OK %d bytes paced" % (k * n)) if ok else "MISMATCH got %d" % count[0])
    return ok


def cli_halfclose(addr, port, args):
    s = connect(addr, port)
    data = b"x" * 1000
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)
    reply = recv_all(s).decode()
    want = "got 1000 %s\n" % hashlib.sha256(data).hexdigest()
    print("REPLY " + reply.strip())
    return reply == want


def cli_finfirst(addr, port, args):
    s = connect(addr, port)
    first = recv_all(s)          # the server's FIN must arrive as EOF
    print("FIRST " + first.decode().strip())
    s.sendall(b"after-fin\n")    # our direction must still flow
    s.shutdown(socket.SHUT_WR)
    rest = recv_all(s)
    return first == b"server-says-bye\n" and rest == b""


def cli_rstclient(addr, port, args):
    s = connect(addr, port)
    s.sendall(b"hello")
    time.sleep(0.5)
    linger0(s)
    s.close()
    return True


def classify(s):
    try:
        b = s.recv(100)
        return "DATA" if b else "EOF"
    except ConnectionResetError:
        return "RESET"
    except socket.timeout:
        return "TIMEOUT"


def cli_expectreset(addr, port, args):
    s = connect(addr, port)
    s.sendall(b"hello")
    r = classify(s)
    print(r)
    return r == "RESET"


def cli_probe(addr, port, args):
    """Print what a silent client sees: DATA, EOF, RESET, REFUSED or TIMEOUT.
    It sends nothing: unread data would make any close a reset."""
    timeout = float(args[0]) if args else 5
    try:
        s = socket.create_connection((addr, port), timeout=timeout)
    except ConnectionRefusedError:
        print("REFUSED")
        return True
    except ConnectionResetError:
        # Reset so fast it lands while connect() is still being checked.
        print("RESET")
        return True
    print(classify(s))
    return True


def cli_stream(addr, port, args):
    """Send to an echo server for up to SECONDS, reading the echo, and print
    how the connection ended: RESET, EOF (what a cut transfer must never
    look like) or DONE (the time ran out first)."""
    secs = float(args[0])
    s = connect(addr, port)
    result = []

    def reader():
        try:
            while True:
                if not s.recv(1 << 16):
                    result.append("EOF")
                    return
        except ConnectionResetError:
            result.append("RESET")
        except OSError as e:
            result.append("ERROR %s" % e)

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    print("STARTED")
    sys.stdout.flush()
    end = time.time() + secs
    chunk = os.urandom(65536)
    try:
        while time.time() < end and not result:
            s.sendall(chunk)
            time.sleep(0.01)
    except ConnectionResetError:
        # A socket reports its reset once: to whichever call comes first.
        result.append("RESET")
    except BrokenPipeError:
        pass                    # after the reset was reported to the reader
    except OSError as e:
        result.append("ERROR %s" % e)
    t.join(TIMEOUT)
    print("RESET" if "RESET" in result else result[0] if result else "DONE")
    return True


def cli_download(addr, port, args):
    """Read for up to SECONDS, sending nothing, and print how it ended:
    RESET, EOF (what a cut download must never look like) or DONE."""
    secs = float(args[0])
    s = connect(addr, port)
    s.settimeout(secs)
    end = time.time() + secs
    n = 0
    print("STARTED")
    sys.stdout.flush()
    try:
        while time.time() < end:
            b = s.recv(1 << 16)
            if not b:
                print("EOF")
                return True
            n += len(b)
    except ConnectionResetError:
        print("RESET")
        return True
    except socket.timeout:
        pass
    print("DONE")
    return True


def cli_push(addr, port, args):
    """Send up to N bytes to a server that never reads; stop once nothing
    has moved for 2 s.  Print SENT bytes."""
    n = int(args[0])
    s = connect(addr, port)
    s.settimeout(2)
    chunk = b"z" * 65536
    sent = 0
    try:
        while sent < n:
            sent += s.send(chunk[:min(65536, n - sent)])
    except socket.timeout:
        pass
    print("SENT %d" % sent)
    sys.stdout.flush()
    time.sleep(float(args[1]) if len(args) > 1 else 0)
    return True


def cli_sequential(addr, port, args):
    """N connections one after another to an echo server, 100 bytes each;
    every tenth is aborted (RST) instead of closed.  Print OK N."""
    n = int(args[0])
    ok = 0
    for i in range(n):
        s = connect(addr, port)
        s.sendall(b"q" * 100)
        if i % 10 == 9:
            linger0(s)
            s.close()
            ok += 1
            continue
        s.shutdown(socket.SHUT_WR)
        if recv_all(s) == b"q" * 100:
            ok += 1
        s.close()
    print("OK %d" % ok)
    return ok == n


def cli_flood(addr, port, args):
    """Connect N times within SECONDS (bounded by both), each connection
    closed at once; print how they ended."""
    n, secs = int(args[0]), float(args[1])
    end = time.time() + secs
    seen = {}
    i = 0
    while i < n and time.time() < end:
        i += 1
        try:
            s = socket.create_connection((addr, port), timeout=2)
            r = classify(s)
            s.close()
        except ConnectionRefusedError:
            r = "REFUSED"
        except ConnectionResetError:
            r = "RESET"         # reset while connect() was being checked
        except OSError:
            r = "ERROR"
        seen[r] = seen.get(r, 0) + 1
        time.sleep(secs / n)
    print(" ".join("%s=%d" % kv for kv in sorted(seen.items())))
    return True


def cli_hold(addr, port, args):
    """N silent clients at once, held open SECONDS: print how many got
    DATA (served), EOF or RESET (refused), and how many saw nothing at all
    in that time (TIMEOUT: left waiting, in a backlog say)."""
    import selectors
    n, secs = int(args[0]), float(args[1])
    sel = selectors.DefaultSelector()
    seen = {}
    held = []
    for _ in range(n):
        try:
            s = socket.create_connection((addr, port), timeout=2)
        except ConnectionResetError:
            seen["RESET"] = seen.get("RESET", 0) + 1
            continue
        except OSError:
            seen["ERROR"] = seen.get("ERROR", 0) + 1
            continue
        held.append(s)
        sel.register(s, selectors.EVENT_READ)
    end = time.time() + secs
    left = len(held)
    while left and time.time() < end:
        for key, _ in sel.select(max(0.0, end - time.time())):
            r = classify(key.fileobj)
            seen[r] = seen.get(r, 0) + 1
            sel.unregister(key.fileobj)
            left -= 1
    seen["TIMEOUT"] = seen.get("TIMEOUT", 0) + left
    print(" ".join("%s=%d" % kv for kv in sorted(seen.items())))
    sys.stdout.flush()
    for s in held:
        s.close()
    return True


def cli_read(addr, port, args):
    """Print the first line the server sends."""
    s = connect(addr, port)
    print(recv_all(s).decode().strip())
    return True


def cli_scatter(addr, port, args):
    """N pieces of SIZE bytes, each sent by sendfile(2) from its own page of
    a file: the receiving socket queues them as separate page fragments,
    and a pipe spliced from it runs out of slots (one per fragment) long
    before it runs out of bytes.  The echo must come back whole before the
    client closes (a FIN would wake a stalled reader): WAIT seconds at most,
    sending included.  Prints SENT once every piece is in the socket."""
    n, size, wait = int(args[0]), int(args[1]), float(args[2])
    page, pages = 4096, 64
    fd = os.memfd_create("scatter")
    os.write(fd, os.urandom(page * pages))
    sent = hashlib.sha256()
    for i in range(n):
        sent.update(os.pread(fd, size, (i % pages) * page))
    s = connect(addr, port)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    got, count, t = echo_reader(s)
    deadline = time.monotonic() + wait
    i = 0
    while i < n and time.monotonic() < deadline:
        off, left = (i % pages) * page, size
        while left and time.monotonic() < deadline:
            try:
                k = os.sendfile(s.fileno(), fd, off, left)
                off, left = off + k, left - k
            except BlockingIOError:
                select.select([], [s], [], 0.1)
        i += 1
    os.close(fd)
    print("SENT")
    sys.stdout.flush()
    while count[0] < n * size and time.monotonic() < deadline:
        time.sleep(0.05)
    done = count[0]
    s.shutdown(socket.SHUT_WR)
    t.join(TIMEOUT)
    s.close()
    if done != n * size or got.hexdigest() != sent.hexdigest():
        print("STALLED: %d of %d bytes echoed within %g s" % (done, n * size, wait))
        return False
    print("OK %d pieces of %d bytes echoed" % (n, size))
    return True


def cli_chain(addr, port, args):
    """N connections to an echo server, opened one after another, each
    echoing a byte before the next opens; then print READY and hold them
    all open until the file STOP exists or SECONDS pass; print OK N if
    every one still echoes."""
    n, secs, stop = int(args[0]), float(args[1]), args[2]
    held = []
    for i in range(n):
        s = socket.create_connection((addr, port), timeout=5)
        s.sendall(b"x")
        if s.recv(1) != b"x":
            print("NOECHO at connection %d" % (i + 1))
            return False
        held.append(s)
    print("READY", flush=True)
    end = time.time() + secs
    while time.time() < end and not os.path.exists(stop):
        time.sleep(0.05)
    for s in held:
        s.sendall(b"y")
        if s.recv(1) != b"y":
            print("NOECHO after the hold")
            return False
        s.close()
    print("OK %d" % n)
    return True


CLIENTS = {"read": cli_read, "chain": cli_chain, "bulk": cli_bulk, "parallel": cli_parallel, "paced": cli_paced, "halfclose": cli_halfclose,
           "finfirst": cli_finfirst, "rstclient": cli_rstclient,
           "expectreset": cli_expectreset, "probe": cli_probe, "hold": cli_hold, "stream": cli_stream,
           "push": cli_push, "scatter": cli_scatter, "download": cli_download, "sequential": cli_sequential, "flood": cli_flood}


def main(argv):
    if len(argv) < 5 or argv[1] not in ("server", "client"):
        print(__doc__, file=sys.stderr)
        return 2
    role, addr, port, mode = argv[1], argv[2], int(argv[3]), argv[4]
    rest = argv[5:]
    if role == "server":
        log = last = None
        while rest:
            if rest[0] == "--log":
                log = rest[1]
            elif rest[0] == "--last":
                last = int(rest[1])
            rest = rest[2:]
        server(addr, port, mode, log, last)
        return 0
    try:
        return 0 if CLIENTS[mode](addr, port, rest) else 1
    except OSError as e:
        print("ERROR %s" % e)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
