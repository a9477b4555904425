#!/usr/bin/env python3
"""A hostile or broken rendezvous peer, playing ntb-listen against a real
ntb-connect on an @name or /path rendezvous.

  rdvpeer.py RENDEZVOUS MODE [ARGS]

garbage        records that must be refused one by one (REFUSED_ALONE),
               then one valid hand-off whose echo must come back
ending KIND    one record that must end this peer's connection
uaf N          N hand-offs whose copies we keep; after the target reset
               them, write a byte on every copy
block          a hand-off made blocking after ntb-connect set O_NONBLOCK
linger         a refused hand-off of a socket with SO_LINGER {1, 3600}
               and unsent data, our copy closed first
silent N SEC   N connections that never say HELLO, held SEC seconds
flood N        N connections opened and closed at once
lsn-block      a listening socket handed over, then made blocking; a client
               before and one after must be served
lsn-shutdown   a listening socket handed over and shut down while a client
               of it is open; that client must still be served
lsn-leave      a listening socket handed over, then the rendezvous closed:
               the next client must be ours to accept, not ntb-connect's
lsn-cycle N    three peers in turn, each lending N listening sockets (one
               per forward; ntb-connect has N targets) and leaving; the
               third must have all N taken (no LISTENER_BACK)
lsn-twice      the same forward's listening socket handed over twice: the
               second is refused and comes back as LISTENER_BACK

The sockets it hands over are TCP connections it makes to itself on
loopback.  Prints what it saw; exits 0 when that is what it expected.
"""
import array
import os
import socket
import struct
import sys
import time

HELLO = struct.pack("!BBHIHHHH", 1, 0, 12, 0x4E544221, 4, 1, 1, 0)
BAD_MAGIC = struct.pack("!BBHIHHHH", 1, 0, 12, 0x4E544222, 4, 1, 1, 0)
HELLO_V1 = struct.pack("!BBHIHH", 1, 0, 8, 0x4E544221, 1, 1)        # an older peer
HELLO_V2 = struct.pack("!BBHIHHHH", 1, 0, 12, 0x4E544221, 2, 1, 1, 0)  # no LISTENER records
HELLO_V3 = struct.pack("!BBHIHHHH", 1, 0, 12, 0x4E544221, 3, 1, 1, 0)  # no LISTENER_BACK records


def listener_record(index=0, reserved=0):
    return struct.pack("!BBHHH", 3, 0, 4, index, reserved)


def listener_back_record(index=0, reason=1):
    return struct.pack("!BBHHH", 4, 0, 4, index, reason)


def listening():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(64)
    return s


def send_and_read(c, text):
    """Send text on c, half-close, return what comes back until EOF."""
    c.sendall(text)
    c.shutdown(socket.SHUT_WR)
    c.settimeout(10)
    data = b""
    while True:
        b = c.recv(100)
        if not b:
            return data
        data += b


def echo_once(addr, text):
    """Connect to addr and send_and_read() there."""
    c = socket.create_connection(addr, timeout=10)
    data = send_and_read(c, text)
    c.close()
    return data


def conn_record(c, l, index=0):
    def addr(a):
        return socket.inet_aton(a[0]) + b"\0" * 12
    body = struct.pack("!BB", 4, 0) + struct.pack("!HHH", c[1], l[1], index) + addr(c) + addr(l)
    return struct.pack("!BBH", 2, 0, len(body)) + body


def send(s, data, fds=()):
    anc = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))] if fds else []
    s.sendmsg([data], anc)


def rendezvous(rdv, hello=True):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.connect("\0" + rdv[1:] if rdv.startswith("@") else rdv)
    if hello:
        send(s, HELLO)
        s.settimeout(10)
        reply = s.recv(64)
        if len(reply) != 16 or reply[0] != 1:
            raise SystemExit("no HELLO reply")
    return s


class Pair:
    """A TCP connection to ourselves: .client end and .acc (handed over)."""
    lsn = None

    def __init__(self, rcvbuf=None):
        if Pair.lsn is None:
            Pair.lsn = socket.socket()
            Pair.lsn.bind(("127.0.0.1", 0))
            Pair.lsn.listen(512)
        self.client = socket.socket()
        if rcvbuf:
            self.client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.client.connect(Pair.lsn.getsockname())
        self.acc, _ = Pair.lsn.accept()
        self.rec = conn_record(self.acc.getpeername(), self.acc.getsockname())


def echo_check(s, pair, text=b"after-garbage\n"):
    send(s, pair.rec, (pair.acc.fileno(),))
    pair.acc.close()
    data = send_and_read(pair.client, text)
    print("ECHO " + data.decode().strip())
    return data == text


def m_garbage(rdv, args):
    s = rendezvous(rdv)
    r, w = os.pipe()
    print("PIPE %d" % os.fstat(r).st_ino)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    unconnected = socket.socket()
    raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
    xfrm = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 6)    # NETLINK_XFRM
    # A refused TCP socket is reset by ntb-connect: a fresh one each time.
    spoiled = []

    class Fresh:
        def fileno(self):
            spoiled.append(Pair())
            return spoiled[-1].acc.fileno()
    p = Pair()
    fd = Fresh()
    lsn = listening()
    bad = [
        (b"\x07\x00\x00\x00", ()),                     # unknown type
        (p.rec, ()),                                   # CONN without fd
        (p.rec, (fd, fd)),                             # CONN with two fds
        (p.rec[:-1], (fd,)),                           # truncated
        (p.rec + b"\0", (fd,)),                        # leftover byte
        (b"\xff" * 100, ()),                           # garbage, oversize
        (b"\x02\x00\x00\x28" + b"\x05" + b"\0" * 39, (fd,)),   # unknown family
        (b"\x02\x01" + p.rec[2:], (fd,)),              # flags set
        (p.rec[:5] + b"\x01" + p.rec[6:], (fd,)),      # reserved byte set
        (p.rec, (r,)),                                 # fd is a pipe
        (p.rec, (udp.fileno(),)),                      # UDP socket
        (p.rec, (unconnected.fileno(),)),              # TCP, not connected
        (p.rec, (raw.fileno(),)),                      # raw IPPROTO_TCP
        (p.rec, (xfrm.fileno(),)),                     # netlink protocol 6
        (b"\x02\x00\x00\x27" + p.rec[4:-1], (fd,)),  # length field 39
        (b"\x02\x00\x00\x28" + b"\0" * 200, (fd,)),  # oversize: MSG_TRUNC
        (p.rec, (fd, fd, fd, fd, fd)),                 # five fds: MSG_CTRUNC
        (conn_record(p.acc.getpeername(), p.acc.getsockname(), 1), (fd,)),  # no target 1
        (listener_record(), ()),                       # LISTENER without fd
        (listener_record(reserved=1), (lsn.fileno(),)),    # reserved bytes set
        (listener_record(), (fd,)),                    # a connected socket, not listening
        (listener_record(), (udp.fileno(),)),          # UDP socket
        (listener_record(1), (lsn.fileno(),)),         # no target 1
        (listener_back_record(), ()),                  # ntb-connect's record, no fd
    ]
    print("SENT %d" % len(bad))
    for data, fds in bad:
        send(s, data, [f.fileno() if isinstance(f, Fresh) else f for f in fds])
        time.sleep(0.21)    # under the 5 lines a second of ntb-connect's log limit
    time.sleep(0.2)
    ok = echo_check(s, p)
    for x in (udp, unconnected, raw, xfrm):
        x.close()
    os.close(r)
    os.close(w)
    s.close()
    return ok


def m_ending(rdv, args):
    kind = args[0]
    p = Pair()
    if kind == "conn-before-hello":
        s = rendezvous(rdv, hello=False)
        send(s, p.rec, (p.acc.fileno(),))
    elif kind == "truncated-hello":
        s = rendezvous(rdv, hello=False)
        send(s, HELLO[:-1])
    elif kind == "bad-hello":
        s = rendezvous(rdv, hello=False)
        send(s, BAD_MAGIC)
    elif kind == "v1-hello":
        s = rendezvous(rdv, hello=False)
        send(s, HELLO_V1)
    elif kind == "v2-hello":
        s = rendezvous(rdv, hello=False)
        send(s, HELLO_V2)
    elif kind == "v3-hello":
        s = rendezvous(rdv, hello=False)
        send(s, HELLO_V3)
    else:
        s = rendezvous(rdv)
        if kind == "second-hello":
            send(s, HELLO)
        elif kind == "hello-with-fd":
            send(s, HELLO, (p.acc.fileno(),))
        elif kind == "empty":
            send(s, b"")
        else:
            raise SystemExit("unknown kind " + kind)
    s.settimeout(10)
    try:
        while s.recv(64):
            pass
        print("ENDED")
        return True
    except OSError as e:
        print("ERROR %s" % e)
        return False


def m_uaf(rdv, args):
    n = int(args[0])
    s = rendezvous(rdv)
    kept = []
    for _ in range(n):
        p = Pair()
        send(s, p.rec, (p.acc.fileno(),))
        kept.append(p)
        if len(kept) % 100 == 0:
            time.sleep(0.05)
    time.sleep(1)
    wrote = 0
    for p in kept:
        try:
            p.acc.send(b"x")
            wrote += 1
        except OSError:
            pass
        try:
            p.client.send(b"y")
        except OSError:
            pass
    time.sleep(0.5)
    print("HANDED %d WROTE %d" % (n, wrote))
    s.close()
    return True


def m_block(rdv, args):
    s = rendezvous(rdv, )
    p = Pair(rcvbuf=4096)
    send(s, p.rec, (p.acc.fileno(),))
    time.sleep(0.5)             # ntb-connect has set O_NONBLOCK by now
    p.acc.setblocking(True)     # ... and we clear it on the shared file
    # The echo comes back faster than we read it: ntb-connect's splice
    # into our full socket would sleep, were it not for the watchdog.
    p.client.settimeout(10)
    try:
        p.client.sendall(b"x" * (4 << 20))
    except OSError:
        pass
    time.sleep(1)
    got = 0
    try:
        while True:
            b = p.client.recv(65536)
            if not b:
                print("EOF after %d bytes" % got)
                break
            got += len(b)
    except ConnectionResetError:
        print("RESET")
    except socket.timeout:
        print("TIMEOUT")
    s.close()
    return True


def m_linger(rdv, args):
    s = rendezvous(rdv)
    p = Pair(rcvbuf=4096)
    p.acc.setblocking(False)
    sent = 0
    try:
        while True:
            sent += p.acc.send(b"z" * 65536)
    except BlockingIOError:
        pass
    p.acc.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 3600))
    fd = p.acc.fileno()
    send(s, p.rec, (fd, fd))    # refused: two fds
    p.acc.close()               # ntb-connect's close is now the last
    print("QUEUED %d" % sent)
    time.sleep(float(args[0]) if args else 3)
    s.close()
    return True


def m_silent(rdv, args):
    n, sec = int(args[0]), float(args[1])
    held = []
    for _ in range(n):
        try:
            held.append(rendezvous(rdv, hello=False))
        except OSError as e:
            print("ERROR %s" % e)
            break
    print("HOLDING %d" % len(held))
    sys.stdout.flush()
    time.sleep(sec)
    return True


def m_flood(rdv, args):
    n = int(args[0])
    done = 0
    for _ in range(n):
        try:
            s = rendezvous(rdv, hello=False)
            s.close()
            done += 1
        except OSError:
            pass
    print("CONNECTED %d" % done)
    return True


def m_lsn_block(rdv, args):
    s = rendezvous(rdv)
    lsn = listening()
    send(s, listener_record(), (lsn.fileno(),))
    first = echo_once(lsn.getsockname(), b"first\n")
    lsn.setblocking(True)       # clears O_NONBLOCK on the file ntb-connect shares
    second = echo_once(lsn.getsockname(), b"second\n")
    print("ECHO %s %s" % (first.decode().strip(), second.decode().strip()))
    time.sleep(0.5)
    s.close()
    return first == b"first\n" and second == b"second\n"


def m_lsn_shutdown(rdv, args):
    s = rendezvous(rdv)
    lsn = listening()
    send(s, listener_record(), (lsn.fileno(),))
    c = socket.create_connection(lsn.getsockname(), timeout=10)
    c.sendall(b"a")
    got = c.recv(10)
    lsn.shutdown(socket.SHUT_RD)    # stops it for every holder
    time.sleep(0.5)
    c.sendall(b"b")
    got += c.recv(10)
    c.close()
    print("ECHO %s" % got.decode())
    time.sleep(0.3)
    s.close()
    return got == b"ab"


def m_lsn_leave(rdv, args):
    s = rendezvous(rdv)
    lsn = listening()
    send(s, listener_record(), (lsn.fileno(),))
    first = echo_once(lsn.getsockname(), b"first\n")
    s.close()
    time.sleep(0.5)
    # Not accepting ourselves yet: a client ntb-connect still serves gets
    # its echo; one left in the backlog waits.
    c = socket.create_connection(lsn.getsockname(), timeout=5)
    c.sendall(b"second\n")
    c.settimeout(2)
    try:
        got = c.recv(100)
        print("ECHO %s STILL-ACCEPTED-BY-NTB-CONNECT %r" % (first.decode().strip(), got))
        return False
    except socket.timeout:
        pass
    lsn.settimeout(3)
    try:
        lsn.accept()
        print("ECHO %s TAKEN-BACK" % first.decode().strip())
        return first == b"first\n"
    except socket.timeout:
        print("ECHO %s NOWHERE" % first.decode().strip())
        return False
    finally:
        c.close()


def m_lsn_cycle(rdv, args):
    import resource
    n = int(args[0])
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4 * n + 64)), hard))
    hello = struct.pack("!BBHIHHHH", 1, 0, 12, 0x4E544221, 4, 1, n, 0)
    backs = []
    for rnd in range(3):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        s.connect("\0" + rdv[1:] if rdv.startswith("@") else rdv)
        send(s, hello)
        s.settimeout(10)
        if len(s.recv(64)) != 16:
            raise SystemExit("no HELLO reply")
        lsns = [listening() for _ in range(n)]
        for i, lsn in enumerate(lsns):
            send(s, listener_record(i), (lsn.fileno(),))
        # Whatever comes back within a second: LISTENER_BACK records.
        s.settimeout(1 if rnd == 2 else 0.3)
        back = 0
        try:
            while True:
                rec = s.recv(64)
                if not rec:
                    break
                back += rec[0] == 4
        except socket.timeout:
            pass
        backs.append(back)
        s.close()
        for lsn in lsns:
            lsn.close()
        # The held-back worker (NTB_TEST_STALL_MS) comes back after the second.
        time.sleep(0.3 if rnd == 0 else 5 if rnd == 1 else 0)
    print("BACK %s" % " ".join(str(b) for b in backs))
    return True


def m_lsn_twice(rdv, args):
    s = rendezvous(rdv)
    a, b = listening(), listening()
    send(s, listener_record(), (a.fileno(),))
    send(s, listener_record(), (b.fileno(),))
    s.settimeout(5)
    rec = s.recv(64)
    print("BACK %s" % " ".join("%d" % x for x in struct.unpack("!BBHHH", rec)) if len(rec) == 8
          else "RECORD %r" % rec)
    # The refused one still listens, for its owner: not disconnected.
    c = socket.create_connection(b.getsockname(), timeout=5)
    b.settimeout(5)
    b.accept()
    c.close()
    first = echo_once(a.getsockname(), b"first\n")
    print("ECHO %s" % first.decode().strip())
    s.close()
    return True


MODES = {"lsn-block": m_lsn_block, "lsn-twice": m_lsn_twice, "lsn-cycle": m_lsn_cycle, "lsn-shutdown": m_lsn_shutdown, "lsn-leave": m_lsn_leave,
         "garbage": m_garbage, "ending": m_ending, "uaf": m_uaf, "block": m_block,
         "linger": m_linger, "silent": m_silent, "flood": m_flood}


if __name__ == "__main__":
    sys.exit(0 if MODES[sys.argv[2]](sys.argv[1], sys.argv[3:]) else 1)
