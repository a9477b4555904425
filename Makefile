# netns-tcp-bridge: one plain Makefile.
PREFIX    ?= /usr/local
BINDIR    ?= $(PREFIX)/bin
LIBEXECDIR ?= $(PREFIX)/libexec/netns-tcp-bridge
MANDIR    ?= $(PREFIX)/share/man
# podman and CRI-O read /usr/share/containers/oci/hooks.d and
# /etc/containers/oci/hooks.d, not /usr/local: a /usr/local install names
# one of those (HOOKSDIR=...) or passes --hooks-dir.
HOOKSDIR  ?= $(PREFIX)/share/containers/oci/hooks.d
# systemd also reads /usr/local/lib/systemd/system; Debian's is /lib/...
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
# Where runtimes look for CNI plugins (podman, containerd, CRI-O: /usr/lib/cni
# or /opt/cni/bin; a /usr/local install names one of those: CNIDIR=...).
CNIDIR    ?= $(PREFIX)/lib/cni
DESTDIR   ?=
B         ?= build

CC        ?= gcc
PKGS       = libseccomp libcap-ng libbsd
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
# json-c: the OCI hook's state JSON and the CNI plugin's configuration.
JSON_CFLAGS := $(shell pkg-config --cflags json-c 2>/dev/null)
JSON_LIBS   := $(shell pkg-config --libs json-c 2>/dev/null)

WARN      = -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wstrict-prototypes \
            -Wmissing-prototypes -Wno-missing-field-initializers
OPT       ?= -O2 -g
CFLAGS    ?=
# _FORTIFY_SOURCE=2 only where it compiles cleanly: a toolchain or CFLAGS
# that already sets it (Ubuntu's gcc, CC='gcc -D_FORTIFY_SOURCE=3') would
# make ours a redefinition, which -Werror turns into a failed build.
FORTIFY   := $(shell $(CC) $(OPT) $(CFLAGS) -Werror -D_FORTIFY_SOURCE=2 \
               -include string.h -E -x c /dev/null >/dev/null 2>&1 && echo -D_FORTIFY_SOURCE=2)
HARDEN    = $(FORTIFY) -fstack-protector-strong -fPIE \
            -fstack-clash-protection
LDFLAGS   ?=
ALL_CFLAGS = -std=gnu11 $(OPT) $(WARN) $(HARDEN) -D_GNU_SOURCE \
             -Icommon -Ipolicy -Iagent $(PKG_CFLAGS) $(CFLAGS)
ALL_LDFLAGS = -pie -Wl,-z,relro,-z,now $(LDFLAGS)

COMMON_SRC = common/log.c common/addr.c common/msg.c common/proxy.c common/route.c common/fdpass.c common/notify.c \
             common/netns.c common/rendezvous.c common/util.c common/cli.c
POLICY_SRC = policy/policy.c policy/syscalls.c policy/rules.c
LISTEN_SRC = agent/listen.c
CONNECT_SRC = agent/connect.c agent/relay.c agent/relay_splice.c agent/relay_conn.c agent/relay_target.c agent/relay_accept.c agent/guard.c
HELPER_SRC = helper/bridge.c
LAUNCH_SRC = helper/launch.c
HOOK_SRC   = helper/oci_hook.c
CNI_SRC    = helper/cni_portmap.c
HEADERS    = $(wildcard common/*.h policy/*.h agent/*.h helper/*.h)

LIB_OBJ     = $(COMMON_SRC:%.c=$(B)/%.o) $(POLICY_SRC:%.c=$(B)/%.o)
PROGS       = $(B)/ntb-listen $(B)/ntb-connect $(B)/netns-tcp-bridge $(B)/ntb-oci-hook $(B)/ntb-portmap
# The unit tests are the tests/unit/unit_*.c files: tests/run runs the same list.
UNIT_TESTS  = $(patsubst tests/unit/%.c,$(B)/tests/%,$(sort $(wildcard tests/unit/unit_*.c)))
TEST_PROGS  = $(B)/tests/sandbox_probe $(B)/bench/benchtool

.PHONY: all progs check unit install uninstall clean demo cppcheck clang-tidy \
        asan tsan valgrind fuzz fuzz-seeds bench bench-cni bench-rootless lint arm64 deb

all: $(PROGS) $(TEST_PROGS)

# What is installed, and nothing the tests need (the package builds this).
progs: $(PROGS)

$(B)/%.o: %.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(B)/ntb-listen: $(LISTEN_SRC:%.c=$(B)/%.o) $(LIB_OBJ)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(B)/ntb-connect: $(CONNECT_SRC:%.c=$(B)/%.o) $(LIB_OBJ)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS) -lpthread

$(B)/netns-tcp-bridge: $(HELPER_SRC:%.c=$(B)/%.o) $(LIB_OBJ)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(B)/helper/oci_hook.o: helper/oci_hook.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(JSON_CFLAGS) -c -o $@ $<

# Both runtime helpers start and stop launchers with launch.c.
$(B)/ntb-oci-hook: $(HOOK_SRC:%.c=$(B)/%.o) $(LAUNCH_SRC:%.c=$(B)/%.o) $(LIB_OBJ)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS) $(JSON_LIBS)

$(B)/helper/cni_portmap.o: helper/cni_portmap.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(JSON_CFLAGS) -c -o $@ $<

$(B)/ntb-portmap: $(CNI_SRC:%.c=$(B)/%.o) $(LAUNCH_SRC:%.c=$(B)/%.o) $(LIB_OBJ)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS) $(JSON_LIBS)

$(B)/tests/%: tests/unit/%.c $(LIB_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(B)/bench/benchtool: tests/bench/benchtool.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< -lpthread

# The benchmark: the bridge beside its peers over the same two namespaces.
bench: all $(B)/bench/benchtool
	./tests/deps.sh --check --bench
	./tests/bench/run $(B)

# portmap (DNAT) against ntb-portmap for a container published with
# podman run -p (podman 4 and the CNI plugins installed).
bench-cni: all $(B)/bench/benchtool
	./tests/deps.sh --check --bench
	./tests/bench/cni.sh $(B)

# rootlessport (podman run -p, slirp4netns) against ntb-oci-hook from the
# user's own hooks directory, for a rootless container (podman 4).
bench-rootless: all $(B)/bench/benchtool
	./tests/deps.sh --check --bench
	./tests/bench/rootless.sh $(B)

# No target installs anything: tests/deps.sh does, called by the README's
# commands (tests/check, tests/demo.sh) and .ci/run.  A target checks that
# what it needs is there (tests/deps.sh --check) and names the command
# that installs what is missing.

# The whole suite: unit tests, then integration tests in real namespaces
# (95-package.sh builds the package: its tools too).
check:
	./tests/deps.sh --check --deb
	$(MAKE) all $(UNIT_TESTS)
	./tests/run $(B)

unit: all $(UNIT_TESTS)
	./tests/run --unit-only $(B)

demo:
	./tests/demo.sh

UNITS = netns-tcp-bridge-web.service netns-tcp-bridge-web.socket \
        ntb-connect@.service ntb-listen@.service

# The hooks.d file and the units name the programs by the paths of this
# install: contrib/ says /usr/local (the default PREFIX).
install: $(PROGS)
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBEXECDIR) $(DESTDIR)$(MANDIR)/man1 \
		$(DESTDIR)$(MANDIR)/man7 $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(HOOKSDIR) \
		$(DESTDIR)$(SYSTEMDUNITDIR) $(DESTDIR)$(CNIDIR)
	install -m 0755 $(B)/ntb-listen $(B)/ntb-connect $(B)/netns-tcp-bridge $(DESTDIR)$(BINDIR)/
	install -m 0755 $(B)/ntb-oci-hook $(DESTDIR)$(LIBEXECDIR)/
	install -m 0755 $(B)/ntb-portmap $(DESTDIR)$(CNIDIR)/
	ln -sf netns-tcp-bridge $(DESTDIR)$(BINDIR)/netns_tcp_bridge
	install -m 0644 man/netns-tcp-bridge.1 $(DESTDIR)$(MANDIR)/man1/
	ln -sf netns-tcp-bridge.1 $(DESTDIR)$(MANDIR)/man1/netns_tcp_bridge.1
	install -m 0644 man/ntb-rendezvous.7 $(DESTDIR)$(MANDIR)/man7/
	install -m 0644 man/ntb-listen.8 man/ntb-connect.8 man/ntb-oci-hook.8 man/ntb-portmap.8 $(DESTDIR)$(MANDIR)/man8/
	sed 's|/usr/local/libexec/netns-tcp-bridge/|$(LIBEXECDIR)/|' contrib/oci/netns-tcp-bridge.json \
		>$(DESTDIR)$(HOOKSDIR)/netns-tcp-bridge.json
	chmod 0644 $(DESTDIR)$(HOOKSDIR)/netns-tcp-bridge.json
	for u in $(UNITS); do \
		sed 's|/usr/local/bin/|$(BINDIR)/|' contrib/systemd/$$u >$(DESTDIR)$(SYSTEMDUNITDIR)/$$u && \
		chmod 0644 $(DESTDIR)$(SYSTEMDUNITDIR)/$$u || exit 1; \
	done

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/ntb-listen $(DESTDIR)$(BINDIR)/ntb-connect \
		$(DESTDIR)$(BINDIR)/netns-tcp-bridge $(DESTDIR)$(BINDIR)/netns_tcp_bridge \
		$(DESTDIR)$(MANDIR)/man1/netns-tcp-bridge.1 $(DESTDIR)$(MANDIR)/man1/netns_tcp_bridge.1 \
		$(DESTDIR)$(MANDIR)/man7/ntb-rendezvous.7 \
		$(DESTDIR)$(MANDIR)/man8/ntb-listen.8 $(DESTDIR)$(MANDIR)/man8/ntb-connect.8 \
		$(DESTDIR)$(LIBEXECDIR)/ntb-oci-hook $(DESTDIR)$(MANDIR)/man8/ntb-oci-hook.8 \
		$(DESTDIR)$(HOOKSDIR)/netns-tcp-bridge.json \
		$(DESTDIR)$(CNIDIR)/ntb-portmap $(DESTDIR)$(MANDIR)/man8/ntb-portmap.8 \
		$(UNITS:%=$(DESTDIR)$(SYSTEMDUNITDIR)/%)
	-rmdir $(DESTDIR)$(LIBEXECDIR)

# The Debian package (debian/), built from a copy of the tree in $(B)/deb/src
# (dpkg-buildpackage writes its results to the parent directory, and its
# clean step must not touch $(B)): the .deb, .changes and .buildinfo end up
# in $(B)/deb/, and lintian checks them.
deb:
	./tests/deps.sh --check --deb
	rm -rf $(B)/deb
	mkdir -p $(B)/deb/src
	tar -c --exclude=./.git --exclude='./build*' --exclude=./bench-results . | tar -x -C $(B)/deb/src
	cd $(B)/deb/src && dpkg-buildpackage -us -uc -b
	rm -rf $(B)/deb/src
	lintian -i --fail-on error,warning $(B)/deb/*.changes
	@ls $(B)/deb/*.deb

# Sanitizer build, then the unit tests and every integration suite
# against it but 95-package (it builds and tests the Debian package from
# source, not this build).  This build's seccomp filters log instead of
# killing (the sanitizer runtime makes calls of its own): 40-sandbox then
# tries no call that would be killed.  LeakSanitizer is off (it ptraces;
# valgrind covers leaks in `make valgrind`), but where a test runs a
# program with a clean environment (the CNI plugin, the OCI hook under
# podman), ASAN_OPTIONS does not reach it and LeakSanitizer runs.
ASAN_ENV = ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
ASAN_SUITES = $(filter-out %/95-package.sh,$(sort $(wildcard tests/integration/*.sh)))
asan:
	./tests/deps.sh --check
	$(MAKE) B=build-asan OPT="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
		CFLAGS="-DNTB_SANITIZER_BUILD" LDFLAGS="-fsanitize=address,undefined" \
		all $(UNIT_TESTS:$(B)/%=build-asan/%)
	$(ASAN_ENV) ./tests/run build-asan $(ASAN_SUITES)

# ThreadSanitizer build (all programs: the launcher runs the agents from
# its own directory), then the suites that drive ntb-connect's workers
# hardest.  Reports go to files, not to the agents' stderr the tests read;
# any report fails the target.  Seccomp logs here too, as in `make asan`.
# atexit_sleep_ms=0: TSan's default waits 1 s in exit() (for races at
# exit), longer than 20-agents gives a lone ntb-connect to stop on SIGTERM.
TSAN_SUITES = tests/integration/20-agents.sh tests/integration/80-faults.sh
tsan:
	./tests/deps.sh --check
	$(MAKE) B=build-tsan OPT="-O1 -g -fsanitize=thread -fno-omit-frame-pointer" \
		CFLAGS="-DNTB_SANITIZER_BUILD" LDFLAGS="-fsanitize=thread" \
		all $(UNIT_TESTS:$(B)/%=build-tsan/%)
	@# The load generator is not under test, and instrumented it checks
	@# 80-faults' 2 GiB byte by byte 28 times slower than its deadline allows.
	rm -f build-tsan/bench/benchtool && $(MAKE) B=build-tsan build-tsan/bench/benchtool
	rm -rf build-tsan/reports && mkdir -p -m 1777 build-tsan/reports
	@# Agents that dropped to nobody must be able to write their report;
	@# one that cannot says so on stderr and dies, which the log shows.
	TSAN_OPTIONS=log_path=$(CURDIR)/build-tsan/reports/tsan:second_deadlock_stack=1:atexit_sleep_ms=0 \
		./tests/run build-tsan $(TSAN_SUITES) >build-tsan/run.log 2>&1; \
		rc=$$?; cat build-tsan/run.log; test $$rc -eq 0
	@if grep -q -e "ThreadSanitizer" -e "Can't open file" build-tsan/run.log; then \
		echo "tsan: a ThreadSanitizer line in the suites' output (build-tsan/run.log)" >&2; exit 1; fi
	@if ls build-tsan/reports | grep -q .; then \
		cat build-tsan/reports/*; echo "tsan: ThreadSanitizer reported (build-tsan/reports)" >&2; exit 1; \
	fi
	@echo "tsan: no ThreadSanitizer report"

# The unit tests under valgrind's memcheck: no error, no leak.
valgrind: all $(UNIT_TESTS)
	./tests/deps.sh --check --lint
	for t in $(UNIT_TESTS); do \
		valgrind -q --error-exitcode=9 --leak-check=full --errors-for-leak-kinds=definite,indirect,possible \
			$$t >/dev/null || exit 1; \
	done
	@echo "valgrind: $(words $(UNIT_TESTS)) unit test programs clean"

# The aarch64 cross build (libseccomp picks the architecture), and its
# --print-policy run under qemu-user to show the arm64 allowlists.
arm64:
	./tests/deps.sh --check --arm64
	$(MAKE) B=build-arm64 CC=aarch64-linux-gnu-gcc \
		PKG_CONFIG_LIBDIR=/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig \
		build-arm64/ntb-listen build-arm64/ntb-connect build-arm64/netns-tcp-bridge
	for p in ntb-listen ntb-connect netns-tcp-bridge; do \
		qemu-aarch64 -L /usr/aarch64-linux-gnu build-arm64/$$p --print-policy | grep '^seccomp'; \
	done

# libFuzzer on the wire-format decoder, the address parsers and the
# namespace and rendezvous argument parsers, the PROXY protocol reader
# (clang); FUZZ_SECONDS each.  Each starts from the seeds of
# tests/fuzz/corpus/TARGET (read only; what it finds goes to
# build-fuzz/corpus-TARGET); first, the seeds are checked to be what
# tests/fuzz/seeds.c writes today, each accepted by its decoder.
FUZZ_SECONDS ?= 60
FUZZ_CFLAGS = -std=gnu11 -g -O1 -D_GNU_SOURCE -Icommon -Ipolicy \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
SEEDS_SRC = tests/fuzz/seeds.c common/msg.c common/proxy.c common/addr.c policy/rules.c \
	common/netns.c common/rendezvous.c common/log.c common/util.c common/fdpass.c
FUZZ_RUN = -max_total_time=$(FUZZ_SECONDS)
fuzz:
	./tests/deps.sh --check --fuzz
	@mkdir -p build-fuzz/corpus-msg build-fuzz/corpus-addr build-fuzz/corpus-spec build-fuzz/corpus-proxy build-fuzz/corpus-rules
	clang -std=gnu11 -g -Wall -Wextra -Werror -D_GNU_SOURCE -Icommon -Ipolicy -o build-fuzz/seeds $(SEEDS_SRC) -lbsd
	rm -rf build-fuzz/seeds.out && mkdir build-fuzz/seeds.out
	build-fuzz/seeds build-fuzz/seeds.out
	diff -r tests/fuzz/corpus build-fuzz/seeds.out || \
		{ echo "fuzz: tests/fuzz/corpus is not what tests/fuzz/seeds.c writes: make fuzz-seeds" >&2; exit 1; }
	clang $(FUZZ_CFLAGS) -o build-fuzz/fuzz_msg tests/fuzz/fuzz_msg.c common/msg.c
	clang $(FUZZ_CFLAGS) -o build-fuzz/fuzz_addr tests/fuzz/fuzz_addr.c common/addr.c -lbsd
	clang $(FUZZ_CFLAGS) -o build-fuzz/fuzz_spec tests/fuzz/fuzz_spec.c common/netns.c \
		common/rendezvous.c common/addr.c common/log.c common/util.c common/fdpass.c \
		common/msg.c -lbsd
	clang $(FUZZ_CFLAGS) -o build-fuzz/fuzz_proxy tests/fuzz/fuzz_proxy.c common/proxy.c common/addr.c -lbsd
	clang $(FUZZ_CFLAGS) -o build-fuzz/fuzz_rules tests/fuzz/fuzz_rules.c policy/rules.c common/addr.c -lbsd
	build-fuzz/fuzz_msg $(FUZZ_RUN) -max_len=256 build-fuzz/corpus-msg tests/fuzz/corpus/msg
	build-fuzz/fuzz_addr $(FUZZ_RUN) -max_len=128 build-fuzz/corpus-addr tests/fuzz/corpus/addr
	build-fuzz/fuzz_spec $(FUZZ_RUN) -max_len=300 build-fuzz/corpus-spec tests/fuzz/corpus/spec
	build-fuzz/fuzz_proxy $(FUZZ_RUN) -max_len=1100 build-fuzz/corpus-proxy tests/fuzz/corpus/proxy
	build-fuzz/fuzz_rules $(FUZZ_RUN) -max_len=200 build-fuzz/corpus-rules tests/fuzz/corpus/rules

# Writes tests/fuzz/corpus again (after a change of the wire format).
fuzz-seeds:
	@mkdir -p build-fuzz
	$(CC) -std=gnu11 -g -Wall -Wextra -Werror -D_GNU_SOURCE -Icommon -Ipolicy -o build-fuzz/seeds $(SEEDS_SRC) -lbsd
	rm -rf tests/fuzz/corpus && mkdir tests/fuzz/corpus
	build-fuzz/seeds tests/fuzz/corpus

lint: cppcheck clang-tidy

# cppcheck reads no system header: noreturn is what <stdnoreturn.h> says.
# Left out of style: variableScope (the code declares a function's locals
# at its top, as the kernel and OpenSSH do; cppcheck wants them in blocks).
cppcheck:
	./tests/deps.sh --check --lint
	cppcheck --quiet --error-exitcode=1 --enable=warning,style,performance,portability \
		--std=c11 --inline-suppr -D_GNU_SOURCE -Icommon -Ipolicy -Iagent \
		-D'noreturn=__attribute__((noreturn))' --suppress=variableScope \
		common policy agent helper tests/unit

# The checks, and why each left out is: .clang-tidy.
clang-tidy:
	./tests/deps.sh --check --lint
	clang-tidy --quiet --config-file=.clang-tidy \
		$(COMMON_SRC) $(POLICY_SRC) $(LISTEN_SRC) $(CONNECT_SRC) $(HELPER_SRC) $(HOOK_SRC) $(CNI_SRC) $(LAUNCH_SRC) \
		-- -std=gnu11 -D_GNU_SOURCE -Icommon -Ipolicy -Iagent $(JSON_CFLAGS)

clean:
	rm -rf build build-asan build-tsan build-fuzz build-arm64 build-dev build-deb
