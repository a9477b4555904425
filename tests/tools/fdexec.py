#!/usr/bin/env python3
"""Make sockets and namespace fds, then exec a command that inherits them.

  fdexec.py [ACTION ...] -- COMMAND ARGS...
  --nsfd NAME PATH                  open a namespace file
  --listen NAME NSPATH ADDR PORT    listening TCP socket made inside NSPATH
  --accept NAME LISTENNAME          accept one client on it (waits up to 30 s)
  --connect NAME NSPATH ADDR PORT   TCP connection made from inside NSPATH
  --dup NAME OTHER                  another fd for socket OTHER (dup(2))
{NAME} in COMMAND ARGS is replaced by the fd number.  Sockets are made in
their namespace with setns(2) and the process returns to its own.
"""
import ctypes
import os
import socket
import sys
import time

CLONE_NEWNET = 0x40000000
libc = ctypes.CDLL(None, use_errno=True)


def setns(fd):
    if libc.setns(fd, CLONE_NEWNET) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


def in_ns(path, fn):
    home = os.open("/proc/self/ns/net", os.O_RDONLY)
    ns = os.open(path, os.O_RDONLY)
    try:
        setns(ns)
        return fn()
    finally:
        setns(home)
        os.close(ns)
        os.close(home)


def fam(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def main(argv):
    fds, socks = {}, {}
    i = 1
    while i < len(argv) and argv[i] != "--":
        a = argv[i]
        if a == "--nsfd":
            fds[argv[i + 1]] = os.open(argv[i + 2], os.O_RDONLY)
            i += 3
        elif a == "--listen":
            name, ns, addr, port = argv[i + 1:i + 5]

            def mk():
                s = socket.socket(fam(addr), socket.SOCK_STREAM)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind((addr, int(port)))
                s.listen(128)
                return s
            socks[name] = in_ns(ns, mk)
            i += 5
        elif a == "--accept":
            name, lname = argv[i + 1:i + 3]
            socks[lname].settimeout(30)
            socks[name], _ = socks[lname].accept()
            socks[name].settimeout(None)
            i += 3
        elif a == "--connect":
            name, ns, addr, port = argv[i + 1:i + 5]

            def conn():
                for _ in range(100):
                    try:
                        return socket.create_connection((addr, int(port)), timeout=10)
                    except ConnectionRefusedError:
                        time.sleep(0.1)
                raise OSError("cannot connect")
            socks[name] = in_ns(ns, conn)
            socks[name].settimeout(None)
            i += 5
        elif a == "--dup":
            fds[argv[i + 1]] = os.dup(socks[argv[i + 2]].fileno())
            i += 3
        else:
            print("fdexec: unknown action " + a, file=sys.stderr)
            return 2
    for name, s in socks.items():
        fds[name] = s.fileno()
    for fd in fds.values():
        os.set_inheritable(fd, True)
    cmd = [c.format(**{k: str(v) for k, v in fds.items()}) for c in argv[i + 1:]]
    os.execv(cmd[0], cmd)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
