#!/usr/bin/env python3
"""Pipes that run out of slots before bytes: the parts of 80-faults'
pipe_slots_run_out test.

hog USER                 as USER, hold pipes of 1 MiB until the kernel refuses
                         one (fs.pipe-user-pages-soft reached): every pipe
                         USER makes after that gets two slots; prints "held N"
                         and sleeps until killed (at most 10 minutes)
slowsink ADDR PORT       per connection: wait 0.5 s, read slowly to EOF, reply
                         with the count of bytes read
trickle ADDR PORT TRIES  TRIES connections one after another: 4 MiB in 64 KiB
                         writes, then 400 writes of 100 bytes 0.5 ms apart
                         (each its own segment, so its own pipe slot), FIN,
                         then wait up to 5 s for the count; prints one line a
                         connection, exit 0 only if every count is right
Every wait is bounded.
"""
import fcntl
import os
import pwd
import socket
import sys
import threading
import time

F_SETPIPE_SZ = 1031


def hog(user):
    pw = pwd.getpwnam(user)
    os.setgid(pw.pw_gid)
    os.setuid(pw.pw_uid)
    held = []
    while len(held) < 4096:
        r, w = os.pipe()
        held.append((r, w))
        try:
            fcntl.fcntl(w, F_SETPIPE_SZ, 1 << 20)
        except OSError:
            break
    print("held %d" % len(held), flush=True)
    time.sleep(600)
    return 0


def slowsink(addr, port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port))
    s.listen(16)

    def serve(c):
        c.settimeout(30)
        n = 0
        try:
            time.sleep(0.5)
            while True:
                b = c.recv(1 << 16)
                if not b:
                    break
                n += len(b)
                time.sleep(0.001)
            c.sendall(b"%d" % n)
        except OSError:
            pass
        c.close()

    while True:
        c, _ = s.accept()
        threading.Thread(target=serve, args=(c,), daemon=True).start()


def trickle(addr, port, tries):
    ok = True
    for i in range(tries):
        c = socket.create_connection((addr, port), timeout=5)
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        total = 0
        for _ in range(64):
            c.sendall(b"x" * 65536)
            total += 65536
        for _ in range(400):
            c.sendall(b"y" * 100)
            total += 100
            time.sleep(0.0005)
        c.shutdown(socket.SHUT_WR)
        t0 = time.time()
        try:
            got = c.recv(64).decode() or "EOF"
        except socket.timeout:
            got = "nothing (timed out)"
        except OSError as e:
            got = "error: %s" % e
        c.close()
        print("connection %d: sent %d, server read %s after %.1f s" % (i, total, got, time.time() - t0))
        ok = ok and got == str(total)
    return 0 if ok else 1


def main(argv):
    if len(argv) == 3 and argv[1] == "hog":
        return hog(argv[2])
    if len(argv) == 4 and argv[1] == "slowsink":
        return slowsink(argv[2], int(argv[3]))
    if len(argv) == 5 and argv[1] == "trickle":
        return trickle(argv[2], int(argv[3]), int(argv[4]))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
