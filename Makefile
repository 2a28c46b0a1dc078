# hnet — one build for everything. `make` builds the runtime library, the hnet CLI,
# every layer plugin (layers/NAME -> build/layers/NAME.so) and every other plugin
# (plugins/NAME -> build/plugins/NAME.so). `make run` / `make test` also install the
# system packages first (scripts/deps.sh).
#
# Parallel by default (one job per core; `make -jN` chooses). Quiet: one short line per
# step (`CC runtime/x.c`); `make V=1` prints the full commands. The CUDA backend is
# built where nvcc is found and a GPU is present (`CUDA=1` forces it, e.g. to build on a
# CPU machine for a GPU one; `CUDA=0` or `NVCC=` skips it).

NPROC := $(shell nproc 2>/dev/null || echo 2)
ifeq ($(MAKELEVEL),0)
ifeq ($(filter -j%,$(MAKEFLAGS)),)
MAKEFLAGS += -j$(NPROC)
endif
endif
ifeq ($(V),1)
Q    :=
say   = true
else
Q    := @
say   = printf '  %-6s %s\n' '$(1)' '$(2)'
endif

CC      ?= cc
PKGS    := lua5.4 sqlite3 openblas libcjson zlib libcurl libcrypto cairo libpcre2-8
OPT     ?= -O2
CFLAGS  ?= $(OPT) -g
CFLAGS  += $(SAN) -std=c11 -Wall -Wextra -Wno-unused-parameter -fPIC -D_GNU_SOURCE -pthread \
           -Iruntime -I$(B)/gen $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS  := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lm -ldl -lpthread
# SentencePiece (runtime/data/sentencepiece.cc, hnet's one C++ file): its library only,
# not the trainer pkg-config also lists
CXX     ?= c++
# (links go through the C driver, which brings no C++ sanitizer runtime: no vptr checks)
CXXFLAGS = $(OPT) -g $(SAN) $(if $(strip $(SAN)),-fno-sanitize=vptr) -std=c++17 -Wall -Wextra \
           -Wno-unused-parameter -fPIC -D_GNU_SOURCE -pthread -Iruntime \
           $(shell pkg-config --cflags sentencepiece 2>/dev/null)
LDLIBS  += -lsentencepiece -lstdc++
B       := build

# MPI, for data-parallel training (`mpirun -np N hnet run FILE`, runtime/dist): built
# where Open MPI's development files are (pkg-config ompi-c, from libopenmpi-dev, which
# scripts/deps.sh installs); MPI=0 never (hnet then refuses an MPI launch, saying why).
MPI     ?= auto
ifneq ($(MPI),0)
MPI_PC  := $(shell pkg-config --exists ompi-c 2>/dev/null && echo ompi-c)
ifeq ($(MPI)$(MPI_PC),1)
$(error MPI=1 but pkg-config finds no ompi-c: install libopenmpi-dev (sh scripts/deps.sh))
endif
endif
ifneq ($(MPI_PC),)
CFLAGS  += -DHN_HAVE_MPI $(shell pkg-config --cflags $(MPI_PC))
LDLIBS  += $(shell pkg-config --libs $(MPI_PC))
endif

# `make test SANITIZE=1` (or `make test-sanitize`): everything, plugins included, built
# with AddressSanitizer and UndefinedBehaviorSanitizer into build-san/ (cpu only: nvcc
# code is not instrumented), and the whole CPU suite run on it. A sanitizer report fails
# the test that caused it, even when it came from a process whose output the test
# swallowed: reports go to files in build-san/san-logs/, which run-tests.sh checks.
ifeq ($(SANITIZE),1)
B       := build-san
NVCC    :=
SAN     := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
SAN_LOGS := $(abspath $(B)/san-logs)
export HNET := $(B)/hnet
export HNET_SAN_LOGS := $(SAN_LOGS)
# malloc returns NULL on absurd sizes as it does unsanitized (hnet reports those itself);
# LeakSanitizer findings in third-party libraries: tests/sanitize/lsan.supp
export ASAN_OPTIONS := allocator_may_return_null=1:detect_leaks=1:log_path=$(SAN_LOGS)/asan
export LSAN_OPTIONS := suppressions=$(abspath tests/sanitize/lsan.supp):print_suppressions=0
export UBSAN_OPTIONS := print_stacktrace=1:halt_on_error=1:log_path=$(SAN_LOGS)/ubsan
endif
# `make FUZZ=1 fuzzers`: the libFuzzer targets of tests/fuzz/ with everything they link
# built by clang with coverage, ASan and UBSan into build-fuzz/ (tests/fuzz/README.md).
ifeq ($(FUZZ),1)
B       := build-fuzz
CC      := clang
CXX     := clang++
NVCC    :=
SAN     := -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined \
           -fno-omit-frame-pointer
endif

RUNTIME_SRC := $(shell find runtime -name '*.c' ! -path 'runtime/cli/*' | sort)
RUNTIME_CXX_SRC := $(shell find runtime -name '*.cc' | sort)

# The cuda backend: built where nvcc is found and (CUDA=auto, the default) a GPU is
# present, so a CPU-only machine with the toolkit does not pay a minute of nvcc on every
# fresh build; CUDA=1 builds it wherever nvcc is, CUDA=0 (or NVCC=) never.
# Hopper by default; set CUDA_ARCH for other GPUs (e.g. -arch=sm_80).
CUDA      ?= auto
ifeq ($(CUDA),0)
NVCC      :=
endif
NVCC      ?= $(shell command -v nvcc 2>/dev/null)
ifeq ($(CUDA),auto)
ifneq ($(strip $(NVCC)),)
HAVE_GPU  := $(shell nvidia-smi -L 2>/dev/null | grep -q '^GPU' && echo 1)
ifneq ($(HAVE_GPU),1)
NVCC      :=
endif
endif
endif
CUDA_ARCH ?= -gencode=arch=compute_90a,code=sm_90a -gencode=arch=compute_90,code=compute_90
ifneq ($(strip $(NVCC)),)
CUDA_HOME ?= $(patsubst %/bin/nvcc,%,$(realpath $(NVCC)))
CUDA_SRC  := $(sort $(wildcard runtime/backend/cuda/*.cu))
CUDA_OBJ  := $(CUDA_SRC:%.cu=$(B)/obj/%.o)
# nccl.h (for runtime/dist/nccl.c's types; libnccl.so.2 itself is loaded at run time)
CFLAGS    += -DHN_HAVE_CUDA -I$(CUDA_HOME)/include
LDLIBS    += -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64 -lcublas -lcublasLt -lcudart_static -lrt -lstdc++
# CUPTI (hnet bench --timeline, runtime/backend/cuda/cupti_timeline.cu): its headers and
# libcupti ship with the toolkit, in include/ and lib64/ or in extras/CUPTI/. Without
# them the build goes on and --timeline says it is unavailable; CUPTI=0 leaves it out.
CUPTI     ?= auto
ifneq ($(CUPTI),0)
CUPTI_INC := $(patsubst %/cupti.h,%,$(firstword $(wildcard $(CUDA_HOME)/include/cupti.h \
                 $(CUDA_HOME)/extras/CUPTI/include/cupti.h)))
CUPTI_LIB := $(patsubst %/libcupti.so,%,$(firstword $(wildcard $(CUDA_HOME)/lib64/libcupti.so \
                 $(CUDA_HOME)/extras/CUPTI/lib64/libcupti.so)))
endif
ifneq ($(and $(CUPTI_INC),$(CUPTI_LIB)),)
CUPTI_FLAGS := -DHN_HAVE_CUPTI -I$(CUPTI_INC)
LDLIBS    += -L$(CUPTI_LIB) -Wl,-rpath,$(CUPTI_LIB) -lcupti
else ifeq ($(CUPTI),1)
$(error CUPTI=1 but no cupti.h and libcupti.so under $(CUDA_HOME) (include, lib64 or extras/CUPTI))
endif
endif
CLI_SRC     := $(wildcard runtime/cli/*.c)
GEN_SRC     := $(B)/gen/prelude_lua.c
RUNTIME_OBJ := $(RUNTIME_SRC:%.c=$(B)/obj/%.o) $(RUNTIME_CXX_SRC:%.cc=$(B)/obj/%.o) \
               $(B)/obj/gen/prelude_lua.o
CLI_OBJ     := $(CLI_SRC:%.c=$(B)/obj/%.o)

LAYER_DIRS  := $(patsubst %/,%,$(dir $(wildcard layers/*/*.c)))
PLUGIN_DIRS := $(patsubst %/,%,$(dir $(wildcard plugins/*/*.c)))
LAYER_SO    := $(sort $(foreach d,$(LAYER_DIRS),$(B)/layers/$(notdir $(d)).so))
PLUGIN_SO   := $(sort $(foreach d,$(PLUGIN_DIRS),$(B)/plugins/$(notdir $(d)).so))

TEST_SRC    := $(wildcard tests/unit/test_*.c)
TEST_BIN    := $(TEST_SRC:tests/unit/%.c=$(B)/tests/%)
TEST_HELPERS := $(wildcard tests/unit/support/*.c)

# Objects depend on this stamp, rewritten only when the compile flags change (e.g. a
# CUDA build after a CPU-only one), so a changed configuration rebuilds what it must.
FLAGS_LINE := $(CC) $(CFLAGS) | $(CXX) $(CXXFLAGS) | $(NVCC) $(CUDA_ARCH) $(CUPTI_FLAGS)
$(shell mkdir -p $(B) && printf '%s\n' '$(FLAGS_LINE)' | cmp -s - $(B)/.flags || printf '%s\n' '$(FLAGS_LINE)' > $(B)/.flags)

.PHONY: all deps run test test-sanitize test-unit test-e2e clean
all: $(B)/hnet $(LAYER_SO) $(PLUGIN_SO)

deps: $(B)/.deps-ok
$(B)/.deps-ok: scripts/deps.sh
	@mkdir -p $(B) && sh scripts/deps.sh && touch $@
$(B)/.deps-tests-ok: scripts/deps.sh
	@mkdir -p $(B) && sh scripts/deps.sh --tests && touch $@

$(B)/gen/prelude_lua.c: runtime/lua/prelude.lua scripts/embed.sh
	@mkdir -p $(dir $@)
	@$(call say,GEN,$@)
	$(Q)sh scripts/embed.sh hn_lua_prelude $< > $@

$(B)/obj/gen/%.o: $(B)/gen/%.c $(B)/.flags
	@mkdir -p $(dir $@)
	@$(call say,CC,$<)
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

$(B)/obj/%.o: %.c $(B)/.flags
	@mkdir -p $(dir $@)
	@$(call say,CC,$<)
	$(Q)$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(B)/obj/%.o: %.cc $(B)/.flags
	@mkdir -p $(dir $@)
	@$(call say,CXX,$<)
	$(Q)$(CXX) $(CXXFLAGS) -MMD -MP -c $< -o $@

$(B)/obj/%.o: %.cu $(wildcard runtime/backend/cuda/*.cuh runtime/backend/cuda/*.h) runtime/backend/backend.h
	@mkdir -p $(dir $@)
	@$(call say,NVCC,$<)
	$(Q)$(NVCC) -O2 -std=c++17 $(CUDA_ARCH) -Xcompiler -fPIC -DHN_HAVE_CUDA -Iruntime -c $< -o $@

# the recorder alone sees CUPTI's headers (the rule above covers the other .cu files)
$(B)/obj/runtime/backend/cuda/cupti_timeline.o: runtime/backend/cuda/cupti_timeline.cu \
        runtime/backend/cuda/cupti_timeline.h runtime/core/timeline.h $(B)/.flags
	@mkdir -p $(dir $@)
	@$(call say,NVCC,$<)
	$(Q)$(NVCC) -O2 -std=c++17 $(CUDA_ARCH) -Xcompiler -fPIC -DHN_HAVE_CUDA $(CUPTI_FLAGS) -Iruntime -c $< -o $@

$(B)/libhnet.a: $(RUNTIME_OBJ) $(CUDA_OBJ)
	@$(call say,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(B)/hnet: $(CLI_OBJ) $(B)/libhnet.a
	@$(call say,LD,$@)
	$(Q)$(CC) $(CFLAGS) -o $@ $(CLI_OBJ) $(B)/libhnet.a $(LDLIBS)

# A plugin is every .c file of its folder, built with hidden visibility and linked with
# nothing of hnet: it reaches core through the host API table handed to its one exported
# symbol, hn_plugin_entry (runtime/plugin/plugin.h), and the device through the backend
# table. -z defs turns a stray call into core into a link error (not under sanitizers,
# whose runtime the host supplies). Sinks use cJSON for their request bodies.
# (dir_objs is a function, not inline: make substitutes the stem for every % in a pattern
# rule's prerequisite text before the second expansion, which would break the patsubst)
dir_objs = $(patsubst %.c,$(B)/obj/%.o,$(wildcard $(1)/*.c))
PLUGIN_CFLAGS  := -fvisibility=hidden
PLUGIN_LDFLAGS := -shared -Wl,--as-needed $(if $(strip $(SAN)),,-Wl,-z,defs)
PLUGIN_LIBS    := $(shell pkg-config --libs libcjson) -lm
$(B)/obj/layers/%.o: layers/%.c $(B)/.flags
	@mkdir -p $(dir $@)
	@$(call say,CC,$<)
	$(Q)$(CC) $(CFLAGS) $(PLUGIN_CFLAGS) -MMD -MP -c $< -o $@
$(B)/obj/plugins/%.o: plugins/%.c $(B)/.flags
	@mkdir -p $(dir $@)
	@$(call say,CC,$<)
	$(Q)$(CC) $(CFLAGS) $(PLUGIN_CFLAGS) -MMD -MP -c $< -o $@
# keep plugin objects (make would delete them as intermediates of the .so rule)
.SECONDARY:
.SECONDEXPANSION:
$(B)/layers/%.so: $$(call dir_objs,layers/$$*)
	@mkdir -p $(dir $@)
	@$(call say,LD,$@)
	$(Q)$(CC) $(SAN) $(PLUGIN_LDFLAGS) -o $@ $(filter %.o,$^) $(PLUGIN_LIBS)

$(B)/plugins/%.so: $$(call dir_objs,plugins/$$*)
	@mkdir -p $(dir $@)
	@$(call say,LD,$@)
	$(Q)$(CC) $(SAN) $(PLUGIN_LDFLAGS) -o $@ $(filter %.o,$^) $(PLUGIN_LIBS)

$(B)/tests/%: tests/unit/%.c $(TEST_HELPERS) $(B)/libhnet.a
	@mkdir -p $(dir $@)
	@$(call say,LD,$@)
	$(Q)$(CC) $(CFLAGS) -Itests/unit -o $@ $< $(TEST_HELPERS) $(B)/libhnet.a $(LDLIBS) -lcmocka

FUZZ_BIN := $(patsubst tests/fuzz/%.c,$(B)/fuzz/%,$(wildcard tests/fuzz/fuzz_*.c))
.PHONY: fuzzers fuzz-build
fuzzers: all $(FUZZ_BIN)
$(B)/fuzz/%: tests/fuzz/%.c $(B)/libhnet.a
	@mkdir -p $(dir $@)
	@$(call say,LD,$@)
	$(Q)$(CC) $(CFLAGS) -fsanitize=fuzzer -o $@ $< $(B)/libhnet.a $(LDLIBS)
fuzz-build: $(B)/.deps-tests-ok
	$(MAKE) FUZZ=1 fuzzers

# The NCCL backend's logic without a GPU (tests/unit/nccl): runtime/dist/nccl.c built against
# nccl.h, its CUDA calls answered from host memory by the test and libnccl.so.2 replaced by
# a fake one. Built where nccl.h is (NCCL_INC) in a cpu-only build: a CUDA build links the
# real CUDA runtime, whose calls the test stands in for.
NCCL_INC ?= $(patsubst %/nccl.h,%,$(firstword $(wildcard /usr/local/cuda/include/nccl.h)))
ifeq ($(strip $(NVCC)),)
ifneq ($(NCCL_INC),)
TEST_BIN += $(B)/tests/test_nccl_backend
$(B)/tests/libfake_nccl.so: tests/unit/nccl/fake_nccl.c
	@mkdir -p $(dir $@)
	@$(call say,LD,$@)
	$(Q)$(CC) $(CFLAGS) -I$(NCCL_INC) -shared -o $@ $<
$(B)/tests/test_nccl_backend: tests/unit/nccl/test_nccl_backend.c runtime/dist/nccl.c $(TEST_HELPERS) $(B)/libhnet.a $(B)/tests/libfake_nccl.so
	@mkdir -p $(dir $@)
	@$(call say,LD,$@)
	$(Q)$(CC) $(CFLAGS) -DHN_HAVE_CUDA -I$(NCCL_INC) -Itests/unit -DFAKE_NCCL_SO='"$(abspath $(B)/tests/libfake_nccl.so)"' \
	    -o $@ $< runtime/dist/nccl.c $(TEST_HELPERS) $(B)/libhnet.a $(LDLIBS) -lcmocka
endif
endif

# CPU-vs-CUDA parity tests (tests/gpu), built only where nvcc is; run on a GPU machine
# with scripts/gpu-check.sh.
GPU_TEST_BIN := $(patsubst tests/gpu/%.c,$(B)/gpu-tests/%,$(wildcard tests/gpu/test_*.c))
.PHONY: gpu-tests
ifneq ($(strip $(NVCC)),)
# The kit's plugins are built as an author builds one: against an install of this tree
# ($(B)/gpu-sdk, `make install`), found through pkg-config, with the template's own
# Makefile (-B: it does not track the installed headers; this rule runs when they change).
# sdk/linmix.so is the template as shipped (tests/gpu/test_sdk_cuda.sh runs it from the
# installed hnet); kit_linmix_planted.so has a wrong cuda backward (silu' without its
# (1 - s) factor) that the kit's parity must fail (tests/gpu/test_plugin_kernels.c).
GPU_SDK     := $(abspath $(B)/gpu-sdk)
GPU_KIT_SO  := $(B)/gpu-tests/kit_linmix.so $(B)/gpu-tests/kit_linmix_planted.so $(B)/gpu-tests/sdk/linmix.so
GPU_KIT_DEP := $(wildcard templates/layer/* runtime/plugin/*.h runtime/backend/*.h runtime/core/*.h)
GPU_KIT_MAKE = PKG_CONFIG_PATH=$(GPU_SDK)/lib/pkgconfig $(MAKE) -B -s --no-print-directory \
               OBJ=$(abspath $(B)/gpu-kit) NVCC="$(NVCC)"
gpu-tests: all $(GPU_TEST_BIN) $(GPU_KIT_SO)
$(GPU_SDK)/lib/pkgconfig/hnet.pc: $(GPU_KIT_DEP) $(B)/hnet
	@$(call say,INSTALL,$(GPU_SDK))
	+$(Q)$(MAKE) -s --no-print-directory install PREFIX=$(GPU_SDK)
$(B)/gpu-tests/kit_linmix.so: $(GPU_SDK)/lib/pkgconfig/hnet.pc
	@mkdir -p $(B)/gpu-tests $(B)/gpu-kit
	@$(call say,MAKE,templates/layer -> $@)
	+$(Q)$(GPU_KIT_MAKE) -C templates/layer NAME=kit_linmix OUT=$(abspath $(B)/gpu-tests)
$(B)/gpu-tests/sdk/linmix.so: $(GPU_SDK)/lib/pkgconfig/hnet.pc
	@mkdir -p $(B)/gpu-tests/sdk $(B)/gpu-kit/sdk
	@$(call say,MAKE,templates/layer -> $@)
	+$(Q)$(GPU_KIT_MAKE) -C templates/layer OUT=$(abspath $(B)/gpu-tests/sdk) OBJ=$(abspath $(B)/gpu-kit/sdk)
$(B)/gpu-tests/kit_linmix_planted.so: $(GPU_SDK)/lib/pkgconfig/hnet.pc
	@mkdir -p $(B)/gpu-tests $(B)/gpu-kit/planted
	@$(call say,MAKE,templates/layer planted -> $@)
	$(Q)cp templates/layer/* $(B)/gpu-kit/planted/
	$(Q)sed -i 's/s \* (1.0f + v \* (1.0f - s))/s * (1.0f + v)/' $(B)/gpu-kit/planted/linmix_ops.cu
	$(Q)grep -q 's \* (1.0f + v);' $(B)/gpu-kit/planted/linmix_ops.cu || \
	    { echo "could not plant the wrong kernel in linmix_ops.cu"; exit 1; }
	+$(Q)$(GPU_KIT_MAKE) -C $(B)/gpu-kit/planted NAME=kit_linmix_planted OUT=$(abspath $(B)/gpu-tests)
$(B)/gpu-tests/%: tests/gpu/%.c tests/gpu/parity.c tests/gpu/parity.h $(B)/libhnet.a
	@mkdir -p $(dir $@)
	@$(call say,LD,$@)
	$(Q)$(CC) $(CFLAGS) -Itests/gpu -o $@ $< tests/gpu/parity.c $(B)/libhnet.a $(LDLIBS) -lcmocka
else
gpu-tests:
	@echo "gpu-tests: no nvcc found; this build is cpu-only"
endif

# `make install PREFIX=DIR` (default /usr/local): bin/hnet, every plugin into lib/hnet
# (where hnet looks beside its bin/), the plugin SDK headers into include/hnet (the same
# relative paths as in runtime/, so a plugin's source builds in tree and out of tree)
# and lib/pkgconfig/hnet.pc. templates/layer builds against it (templates/layer/README.md).
PREFIX      ?= /usr/local
SDK_HEADERS := runtime/plugin/plugin.h runtime/plugin/host_api.h runtime/plugin/layer_abi.h \
               runtime/plugin/chunker_abi.h runtime/plugin/sink_abi.h runtime/plugin/config_view.h \
               runtime/backend/backend.h runtime/backend/tensor.h runtime/backend/ops_chunk.h \
               runtime/backend/ops_moe.h runtime/backend/ops_ssm.h runtime/backend/kernels.h \
               runtime/core/error.h \
               runtime/core/rng.h runtime/core/stash.h runtime/core/grow.h runtime/core/crc32c.h \
               runtime/core/fs.h
HOST_API_VERSION = $(shell sed -n 's/^\#define HN_HOST_API_VERSION \([0-9]*\)u$$/\1/p' runtime/plugin/host_api.h)
.PHONY: install
install: all
	@$(call say,INSTALL,$(PREFIX))
	$(Q)install -d $(PREFIX)/bin $(PREFIX)/lib/hnet $(PREFIX)/lib/pkgconfig \
	    $(addprefix $(PREFIX)/include/hnet/,plugin backend core)
	$(Q)install -m 755 $(B)/hnet $(PREFIX)/bin/hnet
	$(Q)install -m 755 $(LAYER_SO) $(PLUGIN_SO) $(PREFIX)/lib/hnet/
	$(Q)for h in $(SDK_HEADERS); do install -m 644 $$h $(PREFIX)/include/hnet/$${h#runtime/}; done
	$(Q)sed -e 's|@PREFIX@|$(abspath $(PREFIX))|' -e 's|@HOST_API_VERSION@|$(HOST_API_VERSION)|' \
	    -e 's|@CUDA_ARCH@|$(if $(strip $(NVCC)),$(CUDA_ARCH))|' \
	    sdk/hnet.pc.in > $(PREFIX)/lib/pkgconfig/hnet.pc

# The README's two commands.
run: deps all
	$(B)/hnet run experiments/llamabyte.lua

# a short run of each fuzzer is part of the plain suite (the sanitized one skips it)
ifeq ($(SANITIZE),1)
FUZZ_SMOKE :=
else
FUZZ_SMOKE := tests/fuzz/smoke.sh
endif
test: deps $(B)/.deps-tests-ok all $(TEST_BIN) $(if $(FUZZ_SMOKE),fuzz-build)
	@rm -rf $(SAN_LOGS) && $(if $(SAN_LOGS),mkdir -p $(SAN_LOGS),true)
	sh scripts/run-tests.sh $(TEST_BIN) $(wildcard tests/e2e/test_*.sh) $(FUZZ_SMOKE)

test-sanitize:
	$(MAKE) test SANITIZE=1

clean:
	rm -rf $(B) build-san build-fuzz

-include $(shell find $(B)/obj -name '*.d' 2>/dev/null)
