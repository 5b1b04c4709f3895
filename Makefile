# Build: `make` builds every binary into priv/bin and the Erlang side;
# `make install PREFIX=/usr/local` installs the binaries and their man
# pages, the runtime as a static and a shared library, its headers and
# cnode.pc.  `make test` runs the C
# unit tests, a short fuzz run, and the Common Test suites against real erl
# nodes (C binaries under ASan/UBSan).  `make bench` prints the benchmarks.
# `make demo` runs the main job.

CC       ?= cc
EI_DIR   := $(shell erl -noshell -eval 'io:format("~s",[code:lib_dir(erl_interface)]),halt().' 2>/dev/null)
CFLAGS   ?= -O2 -g
CFLAGS   += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wshadow -Wno-unused-parameter \
            -I$(EI_DIR)/include -I/usr/include/cjson
LDLIBS   := -L$(EI_DIR)/lib -lei -luv -lcjson -lssl -lcrypto -lz -lpthread -lm

NODE_SRC := $(wildcard c_src/node/*.c)
PRIV     := priv
OBJ_DIR  := _build/c/rel

# Sanitizer build used by the tests.
SAN_CC     := clang
SAN_CFLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
              -fno-sanitize-recover=undefined
SAN_DIR    := _build/c/san
PIC_DIR    := _build/c/pic
VERSION    := $(shell sed -n 's/^\#define CN_VERSION "\(.*\)"/\1/p' c_src/node/cn.h)
SONAME     := libcnode.so.$(firstword $(subst ., ,$(VERSION)))
LOSE_SO    := $(OBJ_DIR)/lib/liblose_unsynced.so
LOSE_TOOL  := $(OBJ_DIR)/bin/lose_unsynced

# Binaries and their main files.  Everything else under c_src/<protocol>/
# (the pure cores and their glue) goes into libproto.a, which the unit and
# simulation tests link too.
BINS            := echo_node chatterbox gossip_chat raft_kv
echo_node_MAIN  := c_src/echo/echo_node.c
chatterbox_MAIN := c_src/chatterbox/main.c
gossip_chat_MAIN := c_src/gossip/main.c
raft_kv_MAIN    := c_src/raft/main.c
TOOLS           := testnode bench_node
testnode_MAIN   := test/c/testnode.c
bench_node_MAIN := bench/bench_node.c
# a binary is built once its main file exists
BUILT_BINS  := $(foreach b,$(BINS),$(if $(wildcard $($(b)_MAIN)),$(b)))
MAINS       := $(foreach b,$(BINS) $(TOOLS),$($(b)_MAIN))
PROTO_SRC   := $(filter-out $(MAINS) c_src/node/%,$(wildcard c_src/*/*.c))
HEADERS     := $(wildcard c_src/*/*.h)

.PHONY: all san deps test test-c fuzz bench demo clean erlang soak install
all: $(addprefix $(PRIV)/bin/,$(BUILT_BINS)) $(PRIV)/bin/cnode-check erlang

# The Erlang side (reference peers, cnode-check) in _build/default.
erlang:
	@rebar3 compile >/dev/null

$(PRIV)/bin/cnode-check: scripts/cnode-check
	@mkdir -p $(dir $@)
	cp $< $@.tmp && mv $@.tmp $@      # a new file: running copies read on undisturbed

# libcnode.a (the runtime) and libproto.a (the protocols), per build flavour
define libs
$(1)/libcnode.a: $(patsubst c_src/%.c,$(1)/%.o,$(NODE_SRC))
	ar rcs $$@ $$^
$(1)/libproto.a: $(patsubst c_src/%.c,$(1)/%.o,$(PROTO_SRC))
	@mkdir -p $$(dir $$@)
	rm -f $$@ && ar rcs $$@ $$^
$(1)/%.o: c_src/%.c $(HEADERS)
	@mkdir -p $$(dir $$@)
	$(2) $(3) $(CFLAGS) -c $$< -o $$@
endef
$(eval $(call libs,$(OBJ_DIR),$(CC),))
$(eval $(call libs,$(SAN_DIR),$(SAN_CC),$(SAN_CFLAGS)))
$(eval $(call libs,$(PIC_DIR),$(CC),-fPIC))

# The runtime as a shared library, for programs outside this tree.
$(PIC_DIR)/libcnode.so.$(VERSION): $(patsubst c_src/%.c,$(PIC_DIR)/%.o,$(NODE_SRC))
	$(CC) -shared -Wl,-soname,$(SONAME) -o $@ $^ $(LDLIBS)

# ---- install -----------------------------------------------------------------
PREFIX  ?= /usr/local
DESTDIR ?=
PUBLIC_HEADERS := $(addprefix c_src/node/,cn.h term.h buf.h cli.h peers.h)
install: all $(OBJ_DIR)/libcnode.a $(PIC_DIR)/libcnode.so.$(VERSION)
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig \
		$(DESTDIR)$(PREFIX)/include/cnode
	install -m 755 $(addprefix $(PRIV)/bin/,$(BUILT_BINS)) $(DESTDIR)$(PREFIX)/bin/
	install -m 644 $(OBJ_DIR)/libcnode.a $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(PIC_DIR)/libcnode.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/
	ln -sf libcnode.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(PREFIX)/lib/libcnode.so
	install -m 644 $(PUBLIC_HEADERS) $(DESTDIR)$(PREFIX)/include/cnode/
	install -d $(DESTDIR)$(PREFIX)/share/man/man1
	for b in $(BUILT_BINS); do \
		scripts/manpage.sh $(PRIV)/bin/$$b $(VERSION) > $(DESTDIR)$(PREFIX)/share/man/man1/$$b.1 || exit 1; done
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' -e 's|@EI_DIR@|$(EI_DIR)|' \
		c_src/node/cnode.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/cnode.pc

# A binary: release build in $(2) (priv/bin for the product, _build/c/rel/bin
# for tools), sanitizer build for the tests in _build/c/san/bin.
define binary
$(2)/$(1): $($(1)_MAIN) $(OBJ_DIR)/libproto.a $(OBJ_DIR)/libcnode.a
	@mkdir -p $$(dir $$@)
	$(CC) $(CFLAGS) $$< $(OBJ_DIR)/libproto.a $(OBJ_DIR)/libcnode.a $(LDLIBS) -o $$@
$(SAN_DIR)/bin/$(1): $($(1)_MAIN) $(SAN_DIR)/libproto.a $(SAN_DIR)/libcnode.a
	@mkdir -p $$(dir $$@)
	$(SAN_CC) $(SAN_CFLAGS) $(CFLAGS) $$< $(SAN_DIR)/libproto.a $(SAN_DIR)/libcnode.a $(LDLIBS) -o $$@
endef
$(foreach b,$(BUILT_BINS),$(eval $(call binary,$(b),$(PRIV)/bin)))
$(foreach b,$(TOOLS),$(eval $(call binary,$(b),$(OBJ_DIR)/bin)))

san: $(addprefix $(SAN_DIR)/bin/,$(BUILT_BINS) $(TOOLS)) $(LOSE_SO) $(LOSE_TOOL)

# Power loss for tests (test/c/lose_unsynced.c): an LD_PRELOAD shim that
# journals unsynced writes, and the tool that undoes them after a SIGKILL.
$(LOSE_SO): test/c/lose_unsynced.c
	@mkdir -p $(dir $@)
	$(CC) -O2 -g -Wall -Wextra -shared -fPIC $< -o $@ -ldl -lpthread
$(LOSE_TOOL): test/c/lose_unsynced.c
	@mkdir -p $(dir $@)
	$(CC) -O2 -g -Wall -Wextra -DLOSE_TOOL $< -o $@

clean:
	rm -rf _build/c priv/bin

# ---- tests -------------------------------------------------------------------
export CNODE_ROOT := $(CURDIR)
UNIT_TESTS := $(patsubst test/c/%.c,$(SAN_DIR)/test/%,$(wildcard test/c/*_test.c))

deps:
	@scripts/deps.sh

$(SAN_DIR)/test/%: test/c/%.c $(SAN_DIR)/libproto.a $(SAN_DIR)/libcnode.a $(wildcard test/c/*.h)
	@mkdir -p $(dir $@)
	$(SAN_CC) $(SAN_CFLAGS) $(CFLAGS) $< $(SAN_DIR)/libproto.a $(SAN_DIR)/libcnode.a $(LDLIBS) -o $@

# storage_crash_test also links the fault-injecting file system it runs on.
$(SAN_DIR)/test/storage_crash_test: test/c/storage_crash_test.c test/c/fault_fs.c \
		$(SAN_DIR)/libproto.a $(SAN_DIR)/libcnode.a $(wildcard test/c/*.h)
	@mkdir -p $(dir $@)
	$(SAN_CC) $(SAN_CFLAGS) $(CFLAGS) $(filter %.c,$^) $(SAN_DIR)/libproto.a $(SAN_DIR)/libcnode.a $(LDLIBS) -o $@

test-c: $(UNIT_TESTS) $(LOSE_SO) $(LOSE_TOOL)
	@rc=0; for t in $(UNIT_TESTS); do $$t || rc=1; done; exit $$rc

fuzz:
	bash test/fuzz/run.sh

# The whole run: unit tests, a short fuzz, Common Test; ends with totals.
test: deps
	@mkdir -p _build
	@$(MAKE) --no-print-directory all san $(UNIT_TESTS) > _build/make_test.log 2>&1 || \
		{ tail -30 _build/make_test.log; echo "0 passed, 1 failed"; exit 1; }
	@test/run_all.sh

# ---- soak: long cnode-check runs (docs/check.md), then raft_kv's memory and disk
# under constant writes (bench/raft_soak.sh); SOAK_SECONDS each ----
SOAK_SECONDS ?= 600
SOAK_OUT     := _build/soak
soak: deps
	@$(MAKE) --no-print-directory -s all
	@rm -rf $(SOAK_OUT) && mkdir -p $(SOAK_OUT)
	@for p in raft gossip chatterbox; do \
		priv/bin/cnode-check run test/scenarios/soak_$$p.json --seconds $(SOAK_SECONDS) \
			--out $(SOAK_OUT) || true; done
	@priv/bin/cnode-check summary $(SOAK_OUT)/*/results.json
	@SOAK_SECONDS=$(SOAK_SECONDS) bash bench/raft_soak.sh

# ---- benchmarks --------------------------------------------------------------
BENCH_ERL := erl -noshell -pa _build/default/lib/cnode/ebin -pa _build/bench

bench: deps
	@scripts/deps.sh --bench
	@$(MAKE) --no-print-directory -s all $(OBJ_DIR)/bin/bench_node $(OBJ_DIR)/bin/testnode
	rebar3 compile
	@mkdir -p _build/bench
	erlc -o _build/bench bench/*.erl
	$(BENCH_ERL) -sname bench_$$$$ -setcookie bench_$$$$ -eval 'dist_bench:main(), halt().'
	$(BENCH_ERL) -sname tbench_$$$$ -setcookie tbench_$$$$ -eval 'tls_bench:main(), halt().'
	$(BENCH_ERL) -sname bench_$$$$ -setcookie bench_$$$$ -eval 'raft_bench:main(), halt().'
	$(BENCH_ERL) -sname cbench_$$$$ -setcookie cbench_$$$$ -eval 'chatterbox_bench:main(), halt().'
	$(BENCH_ERL) -sname gbench_$$$$ -setcookie gbench_$$$$ -eval 'gossip_bench:main(), halt().'
	bash bench/raft_catchup.sh

# ---- the main job ------------------------------------------------------------
demo: deps
	@$(MAKE) --no-print-directory -s all
	@rebar3 compile >/dev/null
	@erl -noshell -pa _build/default/lib/cnode/ebin -sname demo_$$$$ -setcookie demo_$$$$ \
		-eval 'raft_demo:main().'
