#!/usr/bin/env python3
"""A hostile or broken rendezvous peer: connects to ntb-connect's @name or
/path rendezvous and sends records that must be refused, then one valid
hand-off, so the test can check that nothing leaked and service went on.

  rdvpeer.py RENDEZVOUS
It plays ntb-listen: accepts a client of its own on loopback and hands the
accepted socket over; ntb-connect's target must echo.
"""
import array
import os
import socket
import struct
import sys
import time

HELLO = struct.pack("!BBHIHH", 1, 0, 8, 0x4E544221, 1, 1)


def conn_record(c, l):
    def addr(a):
        return socket.inet_aton(a[0]) + b"\0" * 12
    body = struct.pack("!BB", 4, 0) + struct.pack("!HH", c[1], l[1]) + b"\0\0" + addr(c) + addr(l)
    return struct.pack("!BBH", 2, 0, len(body)) + body


def send(s, data, fds=()):
    anc = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))] if fds else []
    s.sendmsg([data], anc)


def main(argv):
    rdv = argv[1]
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.connect("\0" + rdv[1:] if rdv.startswith("@") else rdv)
    send(s, HELLO)
    reply = s.recv(64)
    if len(reply) != 12 or reply[0] != 1:
        print("no HELLO reply")
        return 1
    lsn = socket.socket()
    lsn.bind(("127.0.0.1", 0))
    lsn.listen(1)
    client = socket.create_connection(lsn.getsockname(), timeout=10)
    acc, _ = lsn.accept()
    rec = conn_record(acc.getpeername(), acc.getsockname())
    r, w = os.pipe()
    print("PIPE %d" % os.fstat(r).st_ino)
    bad = [
        (b"\x07\x00\x00\x00", ()),                    # unknown type
        (rec, ()),                                    # CONN without fd
        (rec, (acc.fileno(), acc.fileno())),    # CONN with two fds
        (rec[:-1], (acc.fileno(),)),               # truncated
        (rec + b"\0", (acc.fileno(),)),            # leftover byte
        (rec, (r,)),                                  # fd is a pipe
        (HELLO, (w,)),                                # HELLO with an fd
        (b"", ()),                                    # empty record
        (b"\xff" * 100, ()),                          # garbage
        (b"\x02\x00\x00\x28" + b"\x05" + b"\0" * 39, (acc.fileno(),)),  # bad family
    ]
    for data, fds in bad:
        if data == b"":
            continue                                  # would read as EOF
        send(s, data, fds)
    time.sleep(0.2)
    send(s, rec, (acc.fileno(),))
    acc.close()
    os.close(r)
    os.close(w)
    client.sendall(b"after-garbage\n")
    client.shutdown(socket.SHUT_WR)
    data = b""
    client.settimeout(10)
    while True:
        b = client.recv(100)
        if not b:
            break
        data += b
    print("ECHO " + data.decode().strip())
    s.close()
    return 0 if data == b"after-garbage\n" else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
