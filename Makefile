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
HARDEN    = -D_FORTIFY_SOURCE=2 -fstack-protector-strong -fPIE \
            -fstack-clash-protection
OPT       ?= -O2 -g
CFLAGS    ?=
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
UNIT_TESTS  = $(B)/tests/unit_addr $(B)/tests/unit_msg $(B)/tests/unit_rdv $(B)/tests/unit_proxy $(B)/tests/unit_rules
TEST_PROGS  = $(B)/tests/sandbox_probe $(B)/bench/benchtool

.PHONY: all progs check unit install uninstall clean demo cppcheck clang-tidy \
        asan valgrind fuzz bench bench-cni bench-rootless deps lint arm64 deb

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
	./tests/deps.sh --bench
	./tests/bench/run $(B)

# portmap (DNAT) against ntb-portmap for a container published with
# podman run -p (podman 4 and the CNI plugins installed).
bench-cni: all $(B)/bench/benchtool
	./tests/deps.sh --bench
	./tests/bench/cni.sh $(B)

# rootlessport (podman run -p, slirp4netns) against ntb-oci-hook from the
# user's own hooks directory, for a rootless container (podman 4).
bench-rootless: all $(B)/bench/benchtool
	./tests/deps.sh --bench
	./tests/bench/rootless.sh $(B)

# Installs what the build and the tests need (Debian; as root): the
# package tools too, for tests/integration/95-package.sh.
deps:
	./tests/deps.sh
	./tests/deps.sh --deb

# The whole suite: unit tests, then integration tests in real namespaces.
check: deps
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
	./tests/deps.sh --deb
	rm -rf $(B)/deb
	mkdir -p $(B)/deb/src
	tar -c --exclude=./.git --exclude='./build*' --exclude=./bench-results . | tar -x -C $(B)/deb/src
	cd $(B)/deb/src && dpkg-buildpackage -us -uc -b
	rm -rf $(B)/deb/src
	lintian -i --fail-on error,warning $(B)/deb/*.changes
	@ls $(B)/deb/*.deb

# Sanitizer build, then the unit and forwarding suites against it.  The
# sandbox suite is left out: this build's seccomp filter logs instead of
# killing (the sanitizer runtime makes calls of its own), and LeakSanitizer
# is off (it ptraces); valgrind covers leaks in `make valgrind`.
ASAN_ENV = ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
asan: deps
	$(MAKE) B=build-asan OPT="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
		CFLAGS="-DNTB_SANITIZER_BUILD" LDFLAGS="-fsanitize=address,undefined" \
		all $(UNIT_TESTS:$(B)/%=build-asan/%)
	$(ASAN_ENV) ./tests/run build-asan tests/integration/10-launcher.sh \
		tests/integration/20-agents.sh tests/integration/30-errors.sh \
		tests/integration/50-hostile.sh

# The unit tests under valgrind's memcheck: no error, no leak.
valgrind: all $(UNIT_TESTS)
	./tests/deps.sh --lint
	for t in $(UNIT_TESTS); do \
		valgrind -q --error-exitcode=9 --leak-check=full --errors-for-leak-kinds=definite,indirect,possible \
			$$t >/dev/null || exit 1; \
	done
	@echo "valgrind: $(words $(UNIT_TESTS)) unit test programs clean"

# The aarch64 cross build (libseccomp picks the architecture), and its
# --print-policy run under qemu-user to show the arm64 allowlists.
arm64:
	./tests/deps.sh --arm64
	$(MAKE) B=build-arm64 CC=aarch64-linux-gnu-gcc \
		PKG_CONFIG_LIBDIR=/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig \
		build-arm64/ntb-listen build-arm64/ntb-connect build-arm64/netns-tcp-bridge
	for p in ntb-listen ntb-connect netns-tcp-bridge; do \
		qemu-aarch64 -L /usr/aarch64-linux-gnu build-arm64/$$p --print-policy | grep '^seccomp'; \
	done

# libFuzzer on the wire-format decoder, the address parsers and the
# namespace and rendezvous argument parsers, the PROXY protocol reader
# (clang); FUZZ_SECONDS each.
FUZZ_SECONDS ?= 60
FUZZ_CFLAGS = -std=gnu11 -g -O1 -D_GNU_SOURCE -Icommon -Ipolicy \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
fuzz:
	./tests/deps.sh --fuzz
	@mkdir -p build-fuzz/corpus-msg build-fuzz/corpus-addr build-fuzz/corpus-spec build-fuzz/corpus-proxy build-fuzz/corpus-rules
	clang $(FUZZ_CFLAGS) -o build-fuzz/fuzz_msg tests/fuzz/fuzz_msg.c common/msg.c
	clang $(FUZZ_CFLAGS) -o build-fuzz/fuzz_addr tests/fuzz/fuzz_addr.c common/addr.c -lbsd
	clang $(FUZZ_CFLAGS) -o build-fuzz/fuzz_spec tests/fuzz/fuzz_spec.c common/netns.c \
		common/rendezvous.c common/addr.c common/log.c common/util.c common/fdpass.c \
		common/msg.c -lbsd
	build-fuzz/fuzz_msg -max_total_time=$(FUZZ_SECONDS) -max_len=256 build-fuzz/corpus-msg
	build-fuzz/fuzz_addr -max_total_time=$(FUZZ_SECONDS) -max_len=128 build-fuzz/corpus-addr
	clang $(FUZZ_CFLAGS) -o build-fuzz/fuzz_proxy tests/fuzz/fuzz_proxy.c common/proxy.c common/addr.c -lbsd
	build-fuzz/fuzz_spec -max_total_time=$(FUZZ_SECONDS) -max_len=300 build-fuzz/corpus-spec
	clang $(FUZZ_CFLAGS) -o build-fuzz/fuzz_rules tests/fuzz/fuzz_rules.c policy/rules.c common/addr.c -lbsd
	build-fuzz/fuzz_proxy -max_total_time=$(FUZZ_SECONDS) -max_len=1100 build-fuzz/corpus-proxy
	build-fuzz/fuzz_rules -max_total_time=$(FUZZ_SECONDS) -max_len=200 build-fuzz/corpus-rules

lint: cppcheck clang-tidy

cppcheck:
	./tests/deps.sh --lint
	cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability \
		--std=c11 --inline-suppr -D_GNU_SOURCE -Icommon -Ipolicy -Iagent \
		common policy agent helper tests/unit

clang-tidy:
	./tests/deps.sh --lint
	clang-tidy --quiet --warnings-as-errors='*' \
		--checks='-*,bugprone-*,-bugprone-easily-swappable-parameters,-bugprone-reserved-identifier,-bugprone-narrowing-conversions,-clang-analyzer-*' \
		$(COMMON_SRC) $(POLICY_SRC) $(LISTEN_SRC) $(CONNECT_SRC) $(HELPER_SRC) $(HOOK_SRC) $(CNI_SRC) $(LAUNCH_SRC) \
		-- -std=gnu11 -D_GNU_SOURCE -Icommon -Ipolicy -Iagent $(JSON_CFLAGS)

clean:
	rm -rf build build-asan build-fuzz build-arm64 build-dev build-deb
