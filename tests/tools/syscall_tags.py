#!/usr/bin/env python3
"""Hold each role's seccomp allowlist against the "syscalls:" tags in the code.

  syscall_tags.py BUILD_DIR

For every entry of `PROG --print-policy` whose reason names functions
("fn(), other(): ..."), each named function must exist in the role's
sources and carry a "syscalls:" line naming that call in the comment just
above it.  Entries made by glibc or the kernel on their own say so and are
exempt.  Conversely, every call tagged in a role's own files must be in the
role's allowlist.  Prints TAP lines.
"""
import glob
import os
import re
import subprocess
import sys

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHARED = glob.glob(os.path.join(TOP, "common", "*.c")) + glob.glob(os.path.join(TOP, "policy", "*.c"))
ROLES = {
    "ntb-listen": ["agent/listen.c"],
    "ntb-connect": ["agent/connect.c", "agent/relay.c", "agent/relay_splice.c", "agent/relay_conn.c", "agent/relay_target.c", "agent/relay_accept.c", "agent/guard.c"],
    "netns-tcp-bridge": ["helper/bridge.c"],
}
DEF = re.compile(r"^(?:static\s+)?(?:inline\s+)?[A-Za-z_][\w\s\*]*?\b([a-z_][a-z0-9_]*)\([^;]*\)\s*$")


def tags_of(path):
    """{function: set of tagged syscalls} for one source file."""
    lines = open(path).read().split("\n")
    found = {}
    for i, line in enumerate(lines):
        # A signature may go on over more lines, until its parentheses close.
        k = i
        while line and not line[0].isspace() and line.count("(") > line.count(")") and k + 1 < len(lines):
            k += 1
            line += " " + lines[k].strip()
        m = DEF.match(line)
        if not m or k + 1 >= len(lines) or not lines[k + 1].startswith("{"):
            continue
        calls = set()
        j = i - 1
        while j >= 0 and lines[j].lstrip().startswith(("/*", "*", "*/")):
            t = re.search(r"syscalls:(.*)", lines[j])
            if t:
                calls |= set(w for w in re.split(r"[\s,*/]+", t.group(1)) if re.fullmatch(r"[a-z_0-9]+", w))
            j -= 1
        found.setdefault(m.group(1), set()).update(calls)
    return found


# Options that add calls to a role's list: the union is what its code may call.
MODES = {"ntb-connect": [["--transparent-source"]]}


def policy_of(build, prog):
    rules = []
    for extra in [[]] + MODES.get(prog, []):
        out = subprocess.run([os.path.join(build, prog)] + extra + ["--print-policy"],
                             capture_output=True, text=True, check=True).stdout
        for line in out.split("\n"):
            m = re.match(r"^  (\S+)\s+(.*)$", line)
            if m and (m.group(1), m.group(2)) not in rules:
                rules.append((m.group(1), m.group(2)))
    return rules


def main(argv):
    build = argv[1]
    n = 0
    bad_total = 0
    for prog, own in ROLES.items():
        own_paths = [os.path.join(TOP, p) for p in own]
        funcs = {}
        for path in own_paths + SHARED:
            for f, calls in tags_of(path).items():
                funcs.setdefault(f, set()).update(calls)
        rules = policy_of(build, prog)
        allowed = set(name for name, _ in rules)
        bad = []
        for name, why in rules:
            if why.startswith(("glibc", "kernel")):
                continue
            named = re.findall(r"(\w+)\(\)", why.split(": ", 1)[0])
            if not named:
                bad.append("%s: the reason names no function: %s" % (name, why))
            for f in named:
                if f not in funcs:
                    bad.append("%s: %s() is not defined in the role's sources" % (name, f))
                elif name not in funcs[f]:
                    bad.append("%s: %s() has no 'syscalls: %s' tag" % (name, f, name))
        n += 1
        print("%s %d - %s: every allowed call is tagged where the reason says%s" %
              ("not ok" if bad else "ok", n, prog, "" if not bad else ": " + "; ".join(bad)))
        bad_total += len(bad)
        extra = []
        for path in own_paths:
            for f, calls in tags_of(path).items():
                for c in sorted(calls - allowed):
                    extra.append("%s() tags %s" % (f, c))
        n += 1
        print("%s %d - %s: every call tagged in its own files is allowed%s" %
              ("not ok" if extra else "ok", n, prog, "" if not extra else ": " + "; ".join(extra)))
        bad_total += len(extra)
    print("1..%d" % n)
    return 1 if bad_total else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
