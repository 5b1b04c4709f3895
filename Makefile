# Build: `make` builds every binary into priv/bin.  `make test` runs the C
# unit tests, a short fuzz run, and the Common Test suites against real erl
# nodes (C binaries under ASan/UBSan).  `make bench` prints the benchmarks.
# `make demo` runs the main job.

CC       ?= cc
EI_DIR   := $(shell erl -noshell -eval 'io:format("~s",[code:lib_dir(erl_interface)]),halt().' 2>/dev/null)
CFLAGS   ?= -O2 -g
CFLAGS   += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wshadow -Wno-unused-parameter \
            -I$(EI_DIR)/include -I/usr/include/cjson
LDLIBS   := -L$(EI_DIR)/lib -lei -luv -lcjson -lcrypto -lpthread -lm

NODE_SRC := $(wildcard c_src/node/*.c)
PRIV     := priv
OBJ_DIR  := _build/c/rel

# Sanitizer build used by the tests.
SAN_CC     := clang
SAN_CFLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
              -fno-sanitize-recover=undefined
SAN_DIR    := _build/c/san

BINS := echo_node

.PHONY: all san test test-c test-ct fuzz bench demo clean
all: $(addprefix $(PRIV)/bin/,$(BINS))

define node_lib
$(1)/libcnode.a: $(patsubst c_src/node/%.c,$(1)/node/%.o,$(NODE_SRC))
	ar rcs $$@ $$^
$(1)/node/%.o: c_src/node/%.c $(wildcard c_src/node/*.h)
	@mkdir -p $$(dir $$@)
	$(2) $(3) $(CFLAGS) -c $$< -o $$@
endef
$(eval $(call node_lib,$(OBJ_DIR),$(CC),))
$(eval $(call node_lib,$(SAN_DIR),$(SAN_CC),$(SAN_CFLAGS)))

# A binary from one main file: release build in $(3) (priv/bin for the
# product, _build/c/rel/bin for tools), sanitizer build for the tests in
# _build/c/san/bin.
define binary
$(3)/$(1): $(2) $(OBJ_DIR)/libcnode.a
	@mkdir -p $$(dir $$@)
	$(CC) $(CFLAGS) $$< $(OBJ_DIR)/libcnode.a $(LDLIBS) -o $$@
$(SAN_DIR)/bin/$(1): $(2) $(SAN_DIR)/libcnode.a
	@mkdir -p $$(dir $$@)
	$(SAN_CC) $(SAN_CFLAGS) $(CFLAGS) $$< $(SAN_DIR)/libcnode.a $(LDLIBS) -o $$@
endef
$(eval $(call binary,echo_node,c_src/echo/echo_node.c,$(PRIV)/bin))
$(eval $(call binary,testnode,test/c/testnode.c,$(OBJ_DIR)/bin))
$(eval $(call binary,bench_node,bench/bench_node.c,$(OBJ_DIR)/bin))

san: $(addprefix $(SAN_DIR)/bin/,$(BINS) testnode)

clean:
	rm -rf _build/c priv/bin

# ---- tests -------------------------------------------------------------------
export CNODE_ROOT := $(CURDIR)
CT_SUITES ?=
test: san test-c test-ct

test-ct: san
	rebar3 ct $(if $(CT_SUITES),--suite $(CT_SUITES))

# ---- benchmarks --------------------------------------------------------------
BENCH_ERL := erl -noshell -pa _build/default/lib/cnode/ebin -pa _build/bench

bench: all $(OBJ_DIR)/bin/bench_node $(OBJ_DIR)/bin/testnode
	rebar3 compile
	@mkdir -p _build/bench
	erlc -o _build/bench bench/*.erl
	$(BENCH_ERL) -sname bench_$$$$ -setcookie bench_$$$$ -eval 'dist_bench:main(), halt().'
