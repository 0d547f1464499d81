# algopromoted: promotes Algorithmia algorithms between clusters.
# GNU make + pkg-config.  `make help` lists the targets.

# Install paths; `make install` and `make uninstall` honour each, and
# DESTDIR.  Both programs are administrator tools (section 8, sbin): the
# state and the control socket belong to the service.  UNITDIR: systemd
# reads units from its own directories only.  Installing to /usr (as a
# package does) it is the one systemd's pkg-config file names
# (/lib/systemd/system on Debian 12, /usr/lib/systemd/system where /usr
# is merged); for any other PREFIX it is $(PREFIX)/lib/systemd/system,
# which systemd reads for the default /usr/local and which keeps an
# install to a private PREFIX inside it.  SYSCONFDIR stays /etc, where
# logrotate and the unit look, whatever PREFIX says.
PREFIX	?= /usr/local
SBINDIR	?= $(PREFIX)/sbin
DATADIR	?= $(PREFIX)/share
MANDIR	?= $(DATADIR)/man
DOCDIR	?= $(DATADIR)/doc/algopromoted
MONDIR	?= $(DATADIR)/algopromoted/monitoring
BASHCOMPDIR ?= $(DATADIR)/bash-completion/completions
SYSCONFDIR ?= /etc
ifeq ($(PREFIX),/usr)
UNITDIR	?= $(shell $(PKG_CONFIG) --variable=systemdsystemunitdir systemd \
	   2>/dev/null || echo /lib/systemd/system)
else
UNITDIR	?= $(PREFIX)/lib/systemd/system
endif
DESTDIR	?=

VERSION	:= 0.1.0
PKGS	:= libevent libevent_pthreads libcurl libgit2 yaml-0.1 libcjson libcrypto
CC	?= cc
PKG_CONFIG ?= pkg-config

WARN	:= -Wall -Wextra -Wformat=2 -Wshadow -Wstrict-prototypes \
	   -Wmissing-prototypes -Wvla -Wpointer-arith -Wcast-qual \
	   -Wwrite-strings -Wnull-dereference -Wno-unused-parameter \
	   -Wimplicit-fallthrough
ifeq ($(CI),true)
WARN	+= -Werror
endif
HARDEN	:= -D_FORTIFY_SOURCE=2 -fstack-protector-strong -fPIE
HARDEN_LD := -pie -Wl,-z,relro,-z,now

OPT	?= -O2 -g
DEPCFLAGS = $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
DEPLIBS	  = $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null) -lpthread -lm
CHKCFLAGS = $(shell $(PKG_CONFIG) --cflags check 2>/dev/null)
CHKLIBS	  = $(shell $(PKG_CONFIG) --libs check 2>/dev/null)

CFLAGS	?= $(OPT)
# The test variant (`make testbins`; check, asan and tsan use it) sets
# TESTHOOKS=-DAP_TESTHOOKS for the crash points of common/failpoint.h;
# what `all` builds and `install` installs has none.
TESTHOOKS =
ALL_CFLAGS = -std=gnu11 $(WARN) $(HARDEN) -D_GNU_SOURCE \
	     -DAP_VERSION='"$(VERSION)"' -Icommon -Idaemon \
	     $(DEPCFLAGS) $(CPPFLAGS) $(CFLAGS) $(SANFLAGS) $(TESTHOOKS)
ALL_LDFLAGS = $(HARDEN_LD) $(LDFLAGS) $(SANFLAGS)

BUILD	?= build
OUT	?= .
MAINS	:= daemon/algopromoted.c daemon/algopromotectl.c
LIBSRC	:= $(sort $(wildcard common/*.c) \
	     $(filter-out $(MAINS),$(wildcard daemon/*.c)))
LIBOBJ	:= $(LIBSRC:%.c=$(BUILD)/%.o)
TESTSRC	:= $(sort $(wildcard tests/unit/check_*.c))
TESTOBJ	:= $(TESTSRC:%.c=$(BUILD)/%.o) $(BUILD)/tests/unit/runner.o \
	   $(BUILD)/tests/unit/testutil.o $(BUILD)/tests/fakes/testhttp.o
BINS	:= $(OUT)/algopromoted $(OUT)/algopromotectl

.PHONY: all deps check unit integration asan tsan lint format clean install \
	uninstall deb demo bench help testbins soak
.DEFAULT_GOAL := all

all: $(BINS)

help:
	@echo "targets: all testbins check asan tsan soak fuzz lint format" \
	    "install uninstall deb demo bench clean"

deps:
	@sh packaging/deps.sh

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/tests/%.o: tests/%.c $(BUILD)/tests/suites.h
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(CHKCFLAGS) -Itests/unit -Itests/fakes \
	    -I$(BUILD)/tests -MMD -MP \
	    -c -o $@ $<

$(BUILD)/libalgopromote.a: $(LIBOBJ)
	rm -f $@
	$(AR) rcs $@ $^

$(OUT)/algopromoted: $(BUILD)/daemon/algopromoted.o $(BUILD)/libalgopromote.a
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(DEPLIBS)

$(OUT)/algopromotectl: $(BUILD)/daemon/algopromotectl.o $(BUILD)/libalgopromote.a
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(DEPLIBS)

# The runner learns the suites from the test sources themselves.
$(BUILD)/tests/suites.h: $(TESTSRC)
	@mkdir -p $(@D)
	sed -n 's/^\([a-z_0-9]*_suite\)(void)$$/SUITE(\1)/p' $(TESTSRC) > $@.tmp
	mv $@.tmp $@

$(BUILD)/check_algopromote: $(TESTOBJ) $(BUILD)/libalgopromote.a
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(CHKLIBS) $(DEPLIBS)

unit: $(BUILD)/check_algopromote $(BINS)
	@$(BUILD)/check_algopromote

# The test variant: the binaries with crash points, in $(BUILD)/test,
# from objects of their own.
testbins:
	@$(MAKE) --no-print-directory BUILD=$(BUILD)/testhooks \
	    OUT=$(BUILD)/test TESTHOOKS=-DAP_TESTHOOKS all

# `check` runs the unit tests, then every integration test script against
# the test variant (the release binaries are checked to have no crash
# point), and ends with one `N passed, N failed` line over all of them.
check: deps
	@sh packaging/deps.sh gitserver promtool=$(BUILD)/tools
	@$(MAKE) --no-print-directory all $(BUILD)/check_algopromote testbins \
	    fuzz-replay
	@AP_BINDIR=$(BUILD)/test AP_RELEASE_BINDIR=$(OUT) AP_BUILD=$(BUILD) \
	    AP_PROMTOOL=$(BUILD)/tools/promtool \
	    python3 tests/run.py --unit $(BUILD)/check_algopromote

# Both random-kill soaks at length, one instance then two: 100 SIGKILLs
# each instead of check's 10. Each prints its seed and a line of figures
# (kills, commits, versions, duplicates, lost, map lines); AP_SOAK_SEED=N
# replays a run's plan, AP_SOAK_KILLS=N sets the kills of each.
soak: deps
	@$(MAKE) --no-print-directory testbins
	@AP_BINDIR=$(BUILD)/test AP_SOAK_KILLS=$${AP_SOAK_KILLS:-100} \
	    python3 tests/integration/test_instances.py OneInstance TwoInstances

# A sanitizer variant in DIR, with the crash points the integration tests
# use: $(call sanbuild,DIR,FLAGS).
, := ,
sanbuild = $(MAKE) --no-print-directory BUILD=$(1) OUT=$(1) OPT='-O1 -g' \
	   HARDEN= HARDEN_LD= TESTHOOKS=-DAP_TESTHOOKS \
	   SANFLAGS='$(strip $(2)) -fno-omit-frame-pointer' \
	   all $(1)/check_algopromote fuzz-replay

asan:
	@sh packaging/deps.sh asan
	@+$(call sanbuild,build-asan,-fsanitize=address$(,)undefined \
	    -fno-sanitize-recover=all)
	AP_BINDIR=build-asan AP_BUILD=build-asan \
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	    python3 tests/run.py --unit build-asan/check_algopromote

# ThreadSanitizer over the unit suites and the daemon's integration tests.
# Every process writes its reports to build-tsan/tsan.PID: any such file
# fails the run, whatever the test that started the process concluded.
# tests/tsan.supp holds what is proven not ours, each with its reason.
TSAN_OPTS = halt_on_error=1 exitcode=66 second_deadlock_stack=1 \
	    suppressions=$(CURDIR)/tests/tsan.supp \
	    log_path=$(CURDIR)/build-tsan/tsan
tsan:
	@sh packaging/deps.sh tsan
	@+$(call sanbuild,build-tsan,-fsanitize=thread)
	@rm -f build-tsan/tsan.*
	@AP_BINDIR=build-tsan TSAN_OPTIONS='$(strip $(TSAN_OPTS))' \
	    python3 tests/run.py --unit build-tsan/check_algopromote \
	    -k 'integration/test_(daemon|operator|notify)'; rv=$$?; \
	if ls build-tsan/tsan.* >/dev/null 2>&1; then \
		cat build-tsan/tsan.*; \
		echo "tsan: ThreadSanitizer reports above"; exit 1; \
	fi; exit $$rv

lint:
	@sh packaging/deps.sh lint
	@sh packaging/lint.sh

format:
	clang-format -i common/*.[ch] daemon/*.[ch] tests/unit/*.[ch] tests/fakes/*.[ch]

demo: deps
	@$(MAKE) --no-print-directory all
	@AP_BINDIR=$(OUT) python3 tests/demo.py

bench: deps
	@sh packaging/deps.sh gitserver
	@$(MAKE) --no-print-directory all
	@AP_BINDIR=$(OUT) python3 tests/bench/bench.py

# What `make install` writes, and so what `make uninstall` removes.
MONITORING := packaging/monitoring/algopromoted-alerts.yml \
	      packaging/monitoring/algopromoted-grafana.json
COMPLETIONS := algopromoted algopromotectl
INSTALLED = $(SBINDIR)/algopromoted $(SBINDIR)/algopromotectl \
	    $(MANDIR)/man8/algopromoted.8 $(MANDIR)/man8/algopromotectl.8 \
	    $(MANDIR)/man5/algopromoted.yaml.5 \
	    $(UNITDIR)/algopromoted.service \
	    $(DOCDIR)/README.md $(DOCDIR)/examples/algopromoted.yaml \
	    $(addprefix $(MONDIR)/,$(notdir $(MONITORING))) \
	    $(addprefix $(BASHCOMPDIR)/,$(COMPLETIONS)) \
	    $(SYSCONFDIR)/logrotate.d/algopromoted
# Directories that are ours alone, innermost first: uninstall removes
# them when empty (the keys directory keeps any key an operator put in).
INSTALLED_DIRS = $(DOCDIR)/examples $(DOCDIR) $(MONDIR) \
		 $(DATADIR)/algopromoted $(SYSCONFDIR)/algopromoted/keys \
		 $(SYSCONFDIR)/algopromoted

# The unit names $(SBINDIR)'s binaries.  The keys directory the unit's
# LoadCredential= reads must exist (0700); an existing one is left as it
# is.  The example configuration goes with the documentation, never to
# /etc: the service starts once the operator wrote its configuration.
install: all
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MANDIR)/man8 \
	    $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(UNITDIR) \
	    $(DESTDIR)$(DOCDIR)/examples $(DESTDIR)$(MONDIR) \
	    $(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(SYSCONFDIR)/logrotate.d
	install -m 0755 $(OUT)/algopromoted $(OUT)/algopromotectl \
	    $(DESTDIR)$(SBINDIR)/
	install -m 0644 daemon/algopromoted.8 daemon/algopromotectl.8 \
	    $(DESTDIR)$(MANDIR)/man8/
	install -m 0644 config/algopromoted.yaml.5 $(DESTDIR)$(MANDIR)/man5/
	sed 's|/usr/sbin/algopromoted|$(SBINDIR)/algopromoted|g' \
	    systemd/algopromoted.service > $(DESTDIR)$(UNITDIR)/algopromoted.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/algopromoted.service
	install -m 0644 README.md $(DESTDIR)$(DOCDIR)/
	install -m 0644 config/example.yaml \
	    $(DESTDIR)$(DOCDIR)/examples/algopromoted.yaml
	$(if $(MONITORING),install -m 0644 $(MONITORING) $(DESTDIR)$(MONDIR)/)
	install -m 0644 $(addprefix packaging/completion/,$(COMPLETIONS)) \
	    $(DESTDIR)$(BASHCOMPDIR)/
	install -m 0644 packaging/logrotate \
	    $(DESTDIR)$(SYSCONFDIR)/logrotate.d/algopromoted
	[ -d $(DESTDIR)$(SYSCONFDIR)/algopromoted/keys ] || \
	    install -d -m 0700 $(DESTDIR)$(SYSCONFDIR)/algopromoted/keys

uninstall:
	rm -f $(addprefix $(DESTDIR),$(INSTALLED))
	for d in $(addprefix $(DESTDIR),$(INSTALLED_DIRS)); do \
		[ ! -d "$$d" ] || rmdir --ignore-fail-on-non-empty "$$d"; \
	done

# The Debian package (packaging/debian/), in build-deb/: dpkg-buildpackage
# builds where debian/ is, so it runs on a copy of the tree (the files
# git shows, tracked or new, not ignored) with packaging/debian as
# debian/, and builds into that copy's debian/build; nothing is written
# outside build-deb/.  Then lintian: any error or warning fails.
DEBDIR	:= build-deb
deb:
	@sh packaging/deps.sh deb
	rm -rf $(DEBDIR)
	mkdir -p $(DEBDIR)/src
	if git rev-parse --show-toplevel >/dev/null 2>&1; then \
		git ls-files -z --cached --others --exclude-standard; \
	else \
		find . -path './build*' -prune -o -path './.git' -prune -o \
		    ! -type d -print0; \
	fi | tar --null --ignore-failed-read -T - -cf - | \
	    tar -xf - -C $(DEBDIR)/src
	cp -R packaging/debian $(DEBDIR)/src/debian
	cd $(DEBDIR)/src && dpkg-buildpackage -us -uc -b
	lintian --display-info --fail-on error,warning \
	    $(DEBDIR)/algopromoted_$(VERSION)_*.deb
	@ls $(DEBDIR)/*.deb

clean:
	rm -rf build build-asan build-tsan algopromoted algopromotectl

-include $(LIBOBJ:.o=.d) $(TESTOBJ:.o=.d) $(MAINS:%.c=$(BUILD)/%.d)
include tests/fuzz/fuzz.mk
