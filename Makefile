# anonvm - one Makefile, named modes (STYLE 19).
#
#   make            build/anonvm and build/libanonvm.a (AVM_DEBUG=1)
#   make test       every suite: unit, scenarios, examples, corpus replay,
#                   host oracle, the same under ASan+UBSan; ends "N passed, N failed"
#   make demo       a tour of the examples
#   make bench      model against kernel benchmarks (bench/results/), release
#                   build (build/release, AVM_DEBUG=0: no assertions)
#   make check-asan only the ASan+UBSan build of the suites
#   make hard       unit tests with AVM_DEBUG=3 and 2-bit page-table levels
#   make fuzz       libFuzzer harness for the scenario language (clang)

CC      ?= cc
BUILD   ?= build
AVM_DEBUG ?= 1
WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
           -Wno-unused-parameter
CFLAGS  ?= -O2 -g
ALLCFLAGS := -std=c11 -D_GNU_SOURCE $(WARN) $(CFLAGS) -fvisibility=hidden -Iinclude -Ilib \
             -DAVM_DEBUG=$(AVM_DEBUG) $(EXTRA_CFLAGS)
LDLIBS  := -lm

LIB_SRC    := $(sort $(wildcard lib/*.c))
SCRIPT_SRC := $(sort $(wildcard script/*.c))
HOST_SRC   := $(sort $(wildcard host/*.c))
CLI_SRC    := $(sort $(wildcard cli/*.c))
UNIT_SRC   := $(sort $(wildcard tests/unit/*.c))
HDRS       := $(wildcard include/anonvm/*.h lib/*.h script/*.h host/*.h cli/*.h tests/unit/*.h)

obj = $(patsubst %.c,$(BUILD)/%.o,$(1))

LIB_OBJ    := $(call obj,$(LIB_SRC))
APP_OBJ    := $(call obj,$(SCRIPT_SRC) $(HOST_SRC) $(CLI_SRC))
UNIT_OBJ   := $(call obj,$(UNIT_SRC))

.PHONY: all test demo bench check-asan hard fuzz clean unit
all: $(BUILD)/anonvm $(BUILD)/libanonvm.a

$(BUILD)/%.o: %.c $(HDRS) Makefile
	@mkdir -p $(dir $@)
	$(CC) $(ALLCFLAGS) -Iscript -Ihost -c $< -o $@

$(BUILD)/libanonvm.a: $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/anonvm: $(APP_OBJ) $(BUILD)/libanonvm.a
	$(CC) $(ALLCFLAGS) -o $@ $(APP_OBJ) $(BUILD)/libanonvm.a $(LDLIBS)

$(BUILD)/unit: $(UNIT_OBJ) $(BUILD)/libanonvm.a
	$(CC) $(ALLCFLAGS) -o $@ $(UNIT_OBJ) $(BUILD)/libanonvm.a $(LDLIBS)

# Test builds: the validator after every public call (AVM_DEBUG=3).
# The release build (AVM_DEBUG=0) is what make bench measures; make test
# builds it too so that it keeps compiling warning-free.
RELBUILD := build/release
TESTBUILD := build/test
ASANBUILD := build/asan
SAN := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

unit:
	$(MAKE) --no-print-directory BUILD=$(TESTBUILD) AVM_DEBUG=3 $(TESTBUILD)/unit $(TESTBUILD)/anonvm

test:
	$(MAKE) --no-print-directory BUILD=$(TESTBUILD) AVM_DEBUG=3 $(TESTBUILD)/unit $(TESTBUILD)/anonvm
	$(MAKE) --no-print-directory BUILD=$(ASANBUILD) AVM_DEBUG=3 CFLAGS="-O1 -g $(SAN)" $(ASANBUILD)/unit $(ASANBUILD)/anonvm
	$(MAKE) --no-print-directory all
	$(MAKE) --no-print-directory BUILD=$(RELBUILD) AVM_DEBUG=0 $(RELBUILD)/anonvm
	@tests/run.sh $(TESTBUILD) $(ASANBUILD)

check-asan:
	$(MAKE) --no-print-directory BUILD=$(ASANBUILD) AVM_DEBUG=3 CFLAGS="-O1 -g $(SAN)" $(ASANBUILD)/unit $(ASANBUILD)/anonvm
	@tests/run.sh --only-asan $(TESTBUILD) $(ASANBUILD)

hard:
	$(MAKE) --no-print-directory BUILD=build/hard AVM_DEBUG=3 EXTRA_CFLAGS=-DAVM_HARD_PT_BITS=2 build/hard/unit
	build/hard/unit

demo: all
	@tools/demo.sh $(BUILD)/anonvm

bench:
	$(MAKE) --no-print-directory BUILD=$(RELBUILD) AVM_DEBUG=0 $(RELBUILD)/anonvm
	@bench/run.sh $(RELBUILD)

fuzz:
	@tools/fuzz.sh

clean:
	rm -rf build
