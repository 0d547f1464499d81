# tests/fuzz/fuzz.mk: the fuzz targets (tests/fuzz/fuzz_NAME.c), included
# by the Makefile.
#
#   make fuzz [FUZZ_SECONDS=N] [FUZZ_TARGETS="config pktline"]
#	builds each target with clang and libFuzzer (ASan, UBSan) from
#	objects of its own in $(BUILD)/fuzz/obj and runs it for N seconds
#	over tests/fuzz/corpus/NAME; new inputs go to $(BUILD)/fuzz/new/NAME
#	(not the repository); a crash, leak, timeout or failed check fails
#	the make and names the reproducer, $(BUILD)/fuzz/crash/NAME-*.
#   make fuzz-replay
#	builds $(BUILD)/fuzz/replay-NAME with the normal compiler: the same
#	target under a main() that runs it over files. `make check` replays
#	every corpus (tests/fuzz/test_fuzz.py) with them.
ifndef FUZZ_MK
FUZZ_MK		:= 1

FUZZ_NAMES	:= $(sort $(patsubst tests/fuzz/fuzz_%.c,%,\
		   $(wildcard tests/fuzz/fuzz_*.c)))
FUZZ_TARGETS	?= $(FUZZ_NAMES)
FUZZ_SECONDS	?= 60
FUZZ_CC		?= clang
FUZZ_DIR	 = $(BUILD)/fuzz
FUZZ_SAN	:= -fsanitize=address,undefined -fno-sanitize-recover=all \
		   -fno-omit-frame-pointer
# clang warns of other things than gcc: shown, but not fatal here (CI's
# -Werror applies to the project's compiler).
FUZZ_WARN	 = $(filter-out -Werror,$(WARN))
FUZZ_CFLAGS	 = -std=gnu11 $(FUZZ_WARN) -D_GNU_SOURCE \
		   -DAP_VERSION='"$(VERSION)"' -Icommon -Idaemon -Itests/fuzz \
		   $(DEPCFLAGS) -O1 -g $(FUZZ_SAN)
FUZZ_LIB	 = $(FUZZ_DIR)/obj/libalgopromote.a
FUZZ_REPLAYS	 = $(FUZZ_NAMES:%=$(FUZZ_DIR)/replay-%)

.PHONY: fuzz fuzz-build fuzz-replay fuzz-deps fuzz-lib

# --- the regression replay: cc, the project's flags and library ---------

$(FUZZ_DIR)/replay/%.o: tests/fuzz/%.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -Itests/fuzz -MMD -MP -c -o $@ $<

$(FUZZ_DIR)/replay-%: $(FUZZ_DIR)/replay/fuzz_%.o $(FUZZ_DIR)/replay/replay.o \
    $(BUILD)/libalgopromote.a
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(DEPLIBS)

fuzz-replay: $(FUZZ_REPLAYS)

# --- libFuzzer: clang, sanitizers, objects of its own -------------------

fuzz-deps:
	@sh packaging/deps.sh fuzz

# The library from the Makefile's own object list and compile rule, with
# clang and the fuzzer's instrumentation, in $(FUZZ_DIR)/obj.
fuzz-lib: | fuzz-deps
	@+$(MAKE) --no-print-directory -f Makefile BUILD=$(FUZZ_DIR)/obj \
	    CC=$(FUZZ_CC) CI= OPT='-O1 -g' HARDEN= HARDEN_LD= TESTHOOKS= \
	    SANFLAGS='$(strip $(FUZZ_SAN)) -fsanitize=fuzzer-no-link' \
	    $(FUZZ_LIB)

$(FUZZ_DIR)/clang/%.o: tests/fuzz/%.c | fuzz-deps
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -MMD -MP \
	    -c -o $@ $<

$(FUZZ_LIB): fuzz-lib
	@:

$(FUZZ_DIR)/fuzz-%: $(FUZZ_DIR)/clang/fuzz_%.o $(FUZZ_LIB)
	$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $^ $(DEPLIBS)

fuzz-build: $(FUZZ_TARGETS:%=$(FUZZ_DIR)/fuzz-%)

# Each target in turn; a summary line each (runs, exec/s, coverage,
# corpus), and the reproducers of every failure at the end.
FUZZ_ENV = ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:symbolize=1 \
	   UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
fuzz: fuzz-build
	@failed=; \
	for t in $(FUZZ_TARGETS); do \
		new=$(FUZZ_DIR)/new/$$t; log=$(FUZZ_DIR)/log/$$t.log; \
		mkdir -p $$new $(FUZZ_DIR)/log $(FUZZ_DIR)/crash; \
		dict=; [ -f tests/fuzz/$$t.dict ] && \
		    dict=-dict=tests/fuzz/$$t.dict; \
		echo "fuzz: $$t for $(FUZZ_SECONDS) s (log $$log)"; \
		if $(FUZZ_ENV) $(FUZZ_DIR)/fuzz-$$t $$dict \
		    -max_total_time=$(FUZZ_SECONDS) -timeout=10 \
		    -print_final_stats=1 \
		    -artifact_prefix=$(FUZZ_DIR)/crash/$$t- \
		    $$new tests/fuzz/corpus/$$t >$$log 2>&1; then \
			rv=ok; \
		else \
			rv=FAILED; failed="$$failed $$t"; \
			tail -n 60 $$log; \
		fi; \
		runs=$$(sed -n 's/^stat::number_of_executed_units: *//p' $$log); \
		eps=$$(sed -n 's/^stat::average_exec_per_sec: *//p' $$log); \
		cov=$$(grep -o 'cov: [0-9]* ft: [0-9]* corp: [0-9]*' $$log | \
		    tail -n 1); \
		echo "fuzz: $$t: $$rv, $${runs:-?} runs, $${eps:-?} exec/s," \
		    "$${cov:-no coverage line}"; \
		grep -h 'Test unit written to' $$log | \
		    sed "s/^/fuzz: $$t: /"; \
	done; \
	if [ -n "$$failed" ]; then \
		echo "fuzz: failed:$$failed (reproducers above; replay one" \
		    "with $(FUZZ_DIR)/fuzz-NAME FILE)"; \
		exit 1; \
	fi

-include $(wildcard $(FUZZ_DIR)/replay/*.d $(FUZZ_DIR)/clang/*.d)

endif
