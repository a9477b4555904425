#!/usr/bin/env python3
"""A stand-in for systemd's notify socket: bind ADDR (a path or @name),
print "PID MESSAGE" for each datagram, until N messages or SECONDS pass.

  notifyd.py ADDR N SECONDS
"""
import socket
import struct
import sys
import time


def main(argv):
    addr, n, secs = argv[1], int(argv[2]), float(argv[3])
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
    s.bind("\0" + addr[1:] if addr.startswith("@") else addr)
    print("BOUND", flush=True)
    end = time.time() + secs
    got = 0
    while got < n and time.time() < end:
        s.settimeout(max(0.01, end - time.time()))
        try:
            data, anc, _, _ = s.recvmsg(256, socket.CMSG_SPACE(12))
        except socket.timeout:
            break
        pid = -1
        for level, kind, cdata in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                pid = struct.unpack("iII", cdata[:12])[0]
        print("%d %s" % (pid, data.decode(errors="replace")), flush=True)
        got += 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
