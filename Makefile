# st - GNU make, no configure step. `make help` lists the targets.
.SUFFIXES:
# keep the programs' objects: no relink on every make
.SECONDARY:
.DEFAULT_GOAL := all

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
ZSHCOMPDIR ?= $(PREFIX)/share/zsh/vendor-completions
FISHCOMPDIR ?= $(PREFIX)/share/fish/vendor_completions.d
# systemd reads units and sysusers.d from /lib, /usr/lib and /usr/local/lib; st
# reads /etc/spacetime/st.yaml. Another PREFIX ($HOME/.local) keeps them under it.
SYSTEMDUNITDIR ?= $(if $(filter /usr,$(PREFIX)),/lib,$(PREFIX)/lib)/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
SYSCONFDIR ?= $(if $(filter /usr /usr/local,$(PREFIX)),/etc,$(PREFIX)/etc)
DESTDIR ?=

BUILD ?= build
CC ?= cc
PKGS := libcurl openssl yaml-0.1 libevent libevent_openssl jansson
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null || echo -lcurl -lssl -lcrypto -lyaml -levent_openssl -levent -ljansson)

WARN := -Wall -Wextra -Werror -Wshadow -Wconversion -Wno-sign-conversion \
        -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 -Wno-format-nonliteral -Wno-format-truncation
OPT ?= -O2 -g
# SAN=1: AddressSanitizer + UndefinedBehaviorSanitizer (make check-asan)
ifeq ($(SAN),1)
OPT := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
SANLD := -fsanitize=address,undefined
endif
CPPFLAGS += -Iinclude -D_GNU_SOURCE -DST_BUILD_VERSION='"$(VERSION)"'
CFLAGS += -std=c17 $(OPT) $(WARN) $(PKG_CFLAGS) -MMD -MP
LDFLAGS += $(SANLD) -Wl,--as-needed
LDLIBS += $(PKG_LIBS) -lm

VERSION := $(shell cat VERSION 2>/dev/null || echo 0.0.0)

LIB_SRC := $(sort $(wildcard lib/*.c))
CMD_SRC := $(sort $(wildcard cmd/st-*.c))
# the process-level part (usage, messages, exit): linked into the programs, never into libst.a
CLI_SRC := cmd/cli.c cmd/complete.c cmd/common-main.c cmd/tty.c
# modules of one program only (see the st-connect rule)
PROG_SRC := cmd/connect_session.c cmd/crawl_publish.c
UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
FUZZ_SRC := $(sort $(wildcard tests/fuzz/fuzz_*.c))
BENCH_SRC := $(sort $(wildcard bench/*.c))

LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o)
PROGRAMS := $(CMD_SRC:cmd/%.c=$(BUILD)/%)
UNIT_TESTS := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
BENCH_BIN := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)
LIBST := $(BUILD)/libst.a
CLI_OBJ := $(BUILD)/cmd/cli.o $(BUILD)/cmd/complete.o $(BUILD)/cmd/tty.o

.PHONY: all deps check check-asan unit bats fuzz fuzz-build bench demo install uninstall \
        lint clean help deb

# Generated from the programs themselves, so a new program or option needs no edit:
# the completions (one generator, tools/gen-completions) and the st.yaml example
# (from lib/config.c's key table).
# The completions are committed in completions/ (a test checks they are the
# generator's output) and remade when the generator changes.
COMPLETIONS := completions/st.bash completions/_st completions/st.fish
EXAMPLE_CONF := $(BUILD)/st.yaml
UNITS := $(sort $(wildcard dist/systemd/*.service dist/systemd/*.timer))

all: $(LIBST) $(PROGRAMS) $(COMPLETIONS) $(EXAMPLE_CONF)

$(COMPLETIONS) &: tools/gen-completions Makefile
	tools/gen-completions completions $(notdir $(PROGRAMS))

$(EXAMPLE_CONF): $(BUILD)/st-keygen
	$(BUILD)/st-keygen --example-config >$@.tmp && mv $@.tmp $@

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(LIBST): $(LIB_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/st-%: $(BUILD)/cmd/st-%.o $(BUILD)/cmd/common-main.o $(CLI_OBJ) $(LIBST)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# a program's own extra modules (cmd/ files not named st-*): listed before libst.a
$(BUILD)/st-connect: $(BUILD)/cmd/st-connect.o $(BUILD)/cmd/common-main.o $(CLI_OBJ) \
                     $(BUILD)/cmd/connect_session.o $(LIBST)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/st-crawl: $(BUILD)/cmd/st-crawl.o $(BUILD)/cmd/common-main.o $(CLI_OBJ) \
                   $(BUILD)/cmd/crawl_publish.o $(LIBST)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# Unit tests are warning-clean too, but may convert freely. UNIT_WRAP_<test> names library
# calls a test counts (ld --wrap: the test defines __wrap_f and calls __real_f).
UNIT_WRAP_test_addrbook_exclude := -Wl,--wrap=st_endpoint_equal
UNIT_WRAP_test_bans_cache := -Wl,--wrap=st_peerbook_free
UNIT_WRAP_test_addrbook_oom := -Wl,--wrap=st_map_put64
UNIT_WRAP_test_conn := -Wl,--wrap=send
$(BUILD)/tests/%: tests/unit/%.c tests/unit/unit.h $(LIBST)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) -Itests/unit $(filter-out -Wconversion,$(CFLAGS)) $(LDFLAGS) $(UNIT_WRAP_$*) \
	    -o $@ $< $(LIBST) $(LDLIBS) -lcmocka

# the cli module's test links what the programs link
$(BUILD)/tests/test_cli: tests/unit/test_cli.c tests/unit/unit.h $(CLI_OBJ) $(LIBST)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) -Itests/unit $(filter-out -Wconversion,$(CFLAGS)) $(LDFLAGS) \
	    -o $@ $< $(CLI_OBJ) $(LIBST) $(LDLIBS) -lcmocka

$(BUILD)/bench/%: bench/%.c $(LIBST)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIBST) $(LDLIBS)

deps:
	@tools/deps

# Every test of the normal build; the last line is the count.
check: deps
	@$(MAKE) --no-print-directory all unit-build
	@tools/run-tests $(BUILD)

unit-build: $(UNIT_TESTS) $(BENCH_BIN)
.PHONY: unit-build

unit: $(UNIT_TESTS)
	@tools/run-tests --unit-only $(BUILD)

bats: all
	@tools/run-tests --bats-only $(BUILD)

# The unit and bats tests again, every program built with ASan + UBSan.
check-asan: deps
	@$(MAKE) --no-print-directory BUILD=build-asan SAN=1 all unit-build
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	    tools/run-tests build-asan

# libFuzzer targets, built with clang; FUZZ_SECONDS per target.
FUZZ_SECONDS ?= 10
FUZZ_BUILD := build-fuzz
FUZZ_CFLAGS := -std=c17 -g -O1 -fsanitize=fuzzer-no-link,address,undefined $(PKG_CFLAGS) \
               -Wall -Wextra -Werror
FUZZ_LIB_OBJ := $(LIB_SRC:%.c=$(FUZZ_BUILD)/%.o)
FUZZ_BIN := $(FUZZ_SRC:tests/fuzz/%.c=$(FUZZ_BUILD)/%)

$(FUZZ_BUILD)/lib/%.o: lib/%.c
	@mkdir -p $(@D)
	clang $(CPPFLAGS) $(FUZZ_CFLAGS) -c -o $@ $<

$(FUZZ_BUILD)/libst.a: $(FUZZ_LIB_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_BUILD)/libst.a
	clang $(CPPFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_BUILD)/libst.a \
	    $(LDLIBS)

fuzz-build: $(FUZZ_BIN)

fuzz: deps
	@$(MAKE) --no-print-directory fuzz-build
	@tools/run-fuzz $(FUZZ_BUILD) $(FUZZ_SECONDS)

bench: deps
	@$(MAKE) --no-print-directory all $(BENCH_BIN)
	@bench/run $(BUILD)

demo: deps
	@$(MAKE) --no-print-directory all
	@tools/demo $(BUILD)

lint: all
	cppcheck --quiet --error-exitcode=1 --enable=warning,portability,performance \
	    --inline-suppr --std=c11 -Iinclude --suppress=missingIncludeSystem lib cmd
	clang-tidy --quiet $(LIB_SRC) $(CMD_SRC) $(CLI_SRC) $(PROG_SRC) -- $(CPPFLAGS) -std=c17 $(PKG_CFLAGS)
	mandoc -Tlint -Wwarning man/*.[157]

# What install puts down, uninstall takes away: both walk the same lists.
MAN_PAGES := $(sort $(wildcard man/*.[157]))
INSTALLED = $(addprefix $(BINDIR)/,$(notdir $(PROGRAMS))) \
            $(foreach m,$(MAN_PAGES),$(MANDIR)/man$(subst .,,$(suffix $(m)))/$(notdir $(m))) \
            $(BASHCOMPDIR)/st $(addprefix $(BASHCOMPDIR)/,$(notdir $(PROGRAMS))) \
            $(ZSHCOMPDIR)/_st $(FISHCOMPDIR)/st.fish \
            $(addprefix $(FISHCOMPDIR)/,$(addsuffix .fish,$(notdir $(PROGRAMS)))) \
            $(addprefix $(SYSTEMDUNITDIR)/,$(notdir $(UNITS))) $(SYSUSERSDIR)/spacetime.conf \
            $(SYSCONFDIR)/spacetime/st.yaml

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 \
	    $(DESTDIR)$(MANDIR)/man7 $(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(ZSHCOMPDIR) \
	    $(DESTDIR)$(FISHCOMPDIR) $(DESTDIR)$(SYSTEMDUNITDIR) $(DESTDIR)$(SYSUSERSDIR) \
	    $(DESTDIR)$(SYSCONFDIR)/spacetime
	install -m 0755 $(PROGRAMS) $(DESTDIR)$(BINDIR)
	for m in $(MAN_PAGES); do s=$${m##*.}; install -m 0644 $$m $(DESTDIR)$(MANDIR)/man$$s; done
	install -m 0644 completions/st.bash $(DESTDIR)$(BASHCOMPDIR)/st
	for p in $(notdir $(PROGRAMS)); do ln -sf st $(DESTDIR)$(BASHCOMPDIR)/$$p; done
	install -m 0644 completions/_st $(DESTDIR)$(ZSHCOMPDIR)/_st
	install -m 0644 completions/st.fish $(DESTDIR)$(FISHCOMPDIR)/st.fish
	for p in $(notdir $(PROGRAMS)); do ln -sf st.fish $(DESTDIR)$(FISHCOMPDIR)/$$p.fish; done
	for u in $(UNITS); do sed 's|/usr/bin/|$(BINDIR)/|g; s|/etc/|$(SYSCONFDIR)/|g' $$u \
	    >$(DESTDIR)$(SYSTEMDUNITDIR)/$${u##*/} && chmod 0644 $(DESTDIR)$(SYSTEMDUNITDIR)/$${u##*/}; done
	install -m 0644 dist/sysusers.d/spacetime.conf $(DESTDIR)$(SYSUSERSDIR)/spacetime.conf
	@# an operator's own st.yaml is never overwritten
	[ -e $(DESTDIR)$(SYSCONFDIR)/spacetime/st.yaml ] || \
	    install -m 0644 $(EXAMPLE_CONF) $(DESTDIR)$(SYSCONFDIR)/spacetime/st.yaml

# st.yaml goes only as it came: an operator's edits stay
uninstall:
	rm -f $(addprefix $(DESTDIR),$(filter-out $(SYSCONFDIR)/spacetime/st.yaml,$(INSTALLED)))
	if cmp -s $(EXAMPLE_CONF) $(DESTDIR)$(SYSCONFDIR)/spacetime/st.yaml; then \
	    rm -f $(DESTDIR)$(SYSCONFDIR)/spacetime/st.yaml; fi
	-rmdir $(DESTDIR)$(SYSCONFDIR)/spacetime 2>/dev/null

# A Debian package from a staged install (tools/mkdeb): DEBDIR/st_VERSION_ARCH.deb
DEBDIR ?= $(BUILD)
deb:
	@tools/deps deb
	@$(MAKE) --no-print-directory all
	rm -rf $(DEBDIR)/deb
	@$(MAKE) --no-print-directory install DESTDIR=$(abspath $(DEBDIR))/deb/debian/st PREFIX=/usr \
	    >/dev/null
	tools/mkdeb $(DEBDIR)/deb $(VERSION) $(DEBDIR)

clean:
	rm -rf build build-asan build-fuzz build-*

help:
	@echo "make            build libst.a and the programs into $(BUILD)/"
	@echo "make demo       install missing packages (as root), build, run a discovery pipeline"
	@echo "make check      install missing packages (as root), build, run every test"
	@echo "make check-asan every test again under ASan + UBSan (build-asan/)"
	@echo "make fuzz       run each libFuzzer target FUZZ_SECONDS (default 10) seconds"
	@echo "make bench      benchmarks: one table against sqlite3, curl and raw limits (bench/README.md)"
	@echo "make lint       cppcheck, clang-tidy, mandoc -Tlint"
	@echo "make install    PREFIX=/usr/local DESTDIR=... programs, man pages, completions,"
	@echo "                systemd units, /etc/spacetime/st.yaml; make uninstall undoes it"
	@echo "make deb        a Debian package in $(BUILD)/ (dpkg-deb; lintian when installed)"

-include $(shell find $(BUILD) -name '*.d' -type f 2>/dev/null)
