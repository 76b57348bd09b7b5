# dongmul — one static binary for a neighborhood barter market.
#
#   make            dev build: ./dongmul (gcc, glibc, -O2 -g)
#   make static     fully static musl binary: $(B)/static/dongmul
#   make static ARCH=aarch64   the same for 64-bit ARM (Pi 3/4/5, 64-bit OS):
#                   $(B)/static-aarch64/dongmul
#   make static ARCH=armv7     32-bit ARM hard-float (Pi 2/3/Zero 2 W on a
#                   32-bit OS): $(B)/static-armv7/dongmul
#   make run        build, then serve on the embedded default (0.0.0.0:8080)
#   make test       build, then every test (unit, black-box, empty root)
#   make asan       the tests under AddressSanitizer + UBSan
#   make bench      benchmarks (bench/)
#   make screenshots  the browser tests, then README's screenshots into docs/
#   make clean      remove build outputs (keeps the vendor tarball cache)
#
# Third-party sources are fetched at build time by vendor/fetch.sh from
# Debian's source packages pinned in vendor/lock; nothing third-party is in
# the repository.

# `CC ?=` would silently keep make's built-in `cc`: test the origin instead.
ifeq ($(origin CC),default)
CC := gcc
endif
MUSL_CC ?= musl-gcc

# B: where objects and binaries go (helpers building in parallel use their
# own, e.g. make B=build/mine). The vendor tree is shared.
B       ?= build
V       := build/vendor
STAMP   := $(V)/.stamp
JOBS    ?= $(shell nproc 2>/dev/null || echo 2)
MAKEFLAGS += -j$(JOBS)

WARN    := -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter -Wformat=2 -Wvla
MBEDCFG := -DMBEDTLS_CONFIG_FILE='"$(CURDIR)/vendor/mbedtls_config.h"'
# src/ is in three layers (see test/layers.js)
LAYERS  := core web market
INC     := -I$(V)/sqlite -I$(V)/civetweb/include -I$(V)/mbedtls/include $(addprefix -Isrc/,$(LAYERS)) -I$(B)/gen
SQLITE_DEFS := -DSQLITE_THREADSAFE=1 -DSQLITE_ENABLE_FTS5 -DSQLITE_DQS=0 \
  -DSQLITE_DEFAULT_MEMSTATUS=0 -DSQLITE_DEFAULT_WAL_SYNCHRONOUS=1 \
  -DSQLITE_OMIT_LOAD_EXTENSION -DSQLITE_OMIT_DEPRECATED -DSQLITE_OMIT_SHARED_CACHE \
  -DSQLITE_LIKE_DOESNT_MATCH_BLOBS -DSQLITE_USE_ALLOCA -DSQLITE_ENABLE_MATH_FUNCTIONS \
  -DHAVE_LOCALTIME_R -DHAVE_GMTIME_R -DHAVE_USLEEP -DSQLITE_MAX_WORKER_THREADS=0 \
  -DSQLITE_DEFAULT_FOREIGN_KEYS=1 -DSQLITE_TEMP_STORE=2 -DSQLITE_DEFAULT_PCACHE_INITSZ=0
# UBSan's object-size check misreads balance_nonroot's
# `(nNew>nOld ? apNew : apOld)[nOld-1]` (two arrays of different sizes) and
# halts inserts of large rows under the asan variant; harmless elsewhere.
SQLITE_NOSAN := -fno-sanitize=object-size
# Each open WebSocket holds a civetweb worker thread: small stacks keep 1,000
# of them cheap (only touched pages count in RSS).
# -DNDEBUG is given to civetweb.o alone: our own asserts (dm_assert) stay on.
CIVET_DEFS := -DUSE_MBEDTLS -DUSE_WEBSOCKET -DNO_CGI -DNO_FILES -DNO_CACHING \
  -DUSE_IPV6 -DUSE_STACK_SIZE=262144 -DSOCKET_TIMEOUT_QUANTUM=500
VERSION := $(shell git describe --always --dirty 2>/dev/null || echo dev)
DEFS    := -D_GNU_SOURCE $(MBEDCFG) $(CIVET_DEFS) -DDONGMUL_VERSION='"$(VERSION)"'

# src/ is in three layers (core, web, market: see test/layers.js, which
# `make test` runs); every header is reachable by its bare name.
SRCS    := dongmul.c $(foreach l,$(LAYERS),$(wildcard src/$(l)/*.c))
HDRS    := $(foreach l,$(LAYERS),$(wildcard src/$(l)/*.h))
MBED_SRCS := $(wildcard $(V)/mbedtls/library/*.c)

# ---- variants --------------------------------------------------------------
# $(1) name, $(2) compiler, $(3) cflags, $(4) ldflags, $(5) what must exist
# before anything compiles (a cross variant's musl)
define variant
$(1)_DIR   := $(B)/$(1)
# generated objects: the unit tests link all but the web app's (unit_web
# brings its own table of assets)
$(1)_TGEN  := $(B)/$(1)/gen/schema.o $(B)/$(1)/gen/openapi.o
$(1)_GEN   := $$($(1)_TGEN) $(B)/$(1)/gen/web.o
$(1)_OURS  := $$(patsubst %.c,$(B)/$(1)/%.o,$$(SRCS)) $$($(1)_GEN)
$(1)_VEND  := $(B)/$(1)/sqlite3.o $(B)/$(1)/civetweb.o $(B)/$(1)/mbedtls.a

$(B)/$(1)/%.o: %.c $$(HDRS) $$(STAMP) | $(B)/gen/schema.c $(B)/gen/openapi.c $(5)
	@mkdir -p $$(dir $$@)
	@echo "  CC      $$<"
	@$(2) $(3) $$(WARN) $$(DEFS) $$(INC) -c $$< -o $$@

$(B)/$(1)/gen/%.o: $(B)/gen/%.c | $(5)
	@mkdir -p $$(dir $$@)
	@$(2) $(3) -c $$< -o $$@

$(B)/$(1)/gen/web.o: $(B)/gen/web.c src/web/web.h | $(5)
	@mkdir -p $$(dir $$@)
	@echo "  CC      gen/web.c"
	@$(2) $(3) -Isrc/web -c $$< -o $$@

$(B)/$(1)/sqlite3.o: $$(STAMP) | $(5)
	@mkdir -p $$(dir $$@)
	@echo "  CC      sqlite3.c ($(1))"
	@$(2) $(3) -w $$(SQLITE_DEFS) $$(SQLITE_NOSAN) -c $(V)/sqlite/sqlite3.c -o $$@

$(B)/$(1)/civetweb.o: $$(STAMP) vendor/mbedtls_config.h | $(5)
	@mkdir -p $$(dir $$@)
	@echo "  CC      civetweb.c ($(1))"
	@$(2) $(3) -w $$(CIVET_DEFS) -DNDEBUG $$(MBEDCFG) $$(INC) -c $(V)/civetweb/src/civetweb.c -o $$@

$(B)/$(1)/mbedtls.a: $$(STAMP) vendor/mbedtls_config.h | $(5)
	@echo "  CC      mbedtls ($(1))"
	@mkdir -p $(B)/$(1)/mbedtls
	@$$(MAKE) --no-print-directory -f vendor/mbedtls.mk OUT=$(B)/$(1)/mbedtls \
	  CC="$(2)" CFLAGS="$(3) -w -I$(V)/mbedtls/include -I$(V)/mbedtls/library" CONFIG=$(CURDIR)/vendor/mbedtls_config.h \
	  SRCDIR=$(V)/mbedtls/library LIB=$$@

$(B)/$(1)/dongmul: $$($(1)_OURS) $$($(1)_VEND)
	@echo "  LD      $$@"
	@$(2) $(3) -o $$@ $$($(1)_OURS) $(B)/$(1)/sqlite3.o $(B)/$(1)/civetweb.o $(B)/$(1)/mbedtls.a $(4)

# unit tests #include the .c file they test (h2o's t/00unit style)
$(B)/$(1)/test/%: test/%.c $$(HDRS) $$(SRCS) $$($(1)_VEND) $$($(1)_TGEN)
	@mkdir -p $$(dir $$@)
	@echo "  CC      $$<"
	@$(2) $(3) $$(WARN) $$(DEFS) $$(INC) -Itest -o $$@ $$< $$($(1)_TGEN) \
	  $(B)/$(1)/sqlite3.o $(B)/$(1)/civetweb.o $(B)/$(1)/mbedtls.a $(4)
endef

DEV_CFLAGS    := -O2 -g -pthread
STATIC_CFLAGS := -O2 -pthread -ffunction-sections -fdata-sections
ASAN_CFLAGS   := -O1 -g -pthread -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined

$(eval $(call variant,dev,$(CC),$(DEV_CFLAGS),-lm))
# (a literal comma would end $(call)'s argument: -Wl,--gc-sections needs $(comma))
comma := ,
$(eval $(call variant,static,$(MUSL_CC),$(STATIC_CFLAGS),-static -Wl$(comma)--gc-sections -s -lm))
$(eval $(call variant,asan,$(CC),$(ASAN_CFLAGS),-lm))

# ---- Raspberry Pi: cross variants --------------------------------------------
# Debian's cross gcc (glibc-targeted) drives a musl built here for each
# target from Debian's musl source (vendor/lock), through musl's own
# musl-gcc wrapper. The musl build lives in the vendor tree: built once,
# shared by every B dir.
CROSS_ARCHS      := aarch64 armv7
CROSS_aarch64    := aarch64-linux-gnu
CROSS_armv7      := arm-linux-gnueabihf
# Pi 2 (Cortex-A7) is the oldest 32-bit board served: ARMv7-A, Thumb-2,
# hard float with the VFPv3-D16 every ARMv7 Pi has (Debian armhf's baseline).
ARCHFLAGS_aarch64 :=
ARCHFLAGS_armv7  := -march=armv7-a -mthumb -mfpu=vfpv3-d16 -mfloat-abi=hard
QEMU_aarch64     := qemu-aarch64-static
QEMU_armv7       := qemu-arm-static

define cross
$(V)/musl-$(1)/lib/libc.a: $$(STAMP) | deps-cross
	@echo "  MUSL    $(1) (from Debian's musl source)"
	@rm -rf $(V)/musl-build-$(1) $(V)/musl-$(1)
	@mkdir -p $(V)/musl-build-$(1)
	@cd $(V)/musl-build-$(1) && $(CURDIR)/$(V)/musl-src/configure --quiet \
	  --prefix=$(CURDIR)/$(V)/musl-$(1) --target=$(CROSS_$(1)) CROSS_COMPILE=$(CROSS_$(1))- \
	  --disable-shared --enable-wrapper=gcc CFLAGS="-O2 $(ARCHFLAGS_$(1))" >/dev/null
	@$$(MAKE) --no-print-directory -s -C $(V)/musl-build-$(1) install >/dev/null
	@rm -rf $(V)/musl-build-$(1)
$(eval $(call variant,static-$(1),$(V)/musl-$(1)/bin/musl-gcc,$(STATIC_CFLAGS) $(ARCHFLAGS_$(1)),-static -Wl$(comma)--gc-sections -s -lm,$(V)/musl-$(1)/lib/libc.a))
endef
$(foreach a,$(CROSS_ARCHS),$(eval $(call cross,$(a))))

# `make static ARCH=…`: the native build unless ARCH names a cross target
ifneq ($(filter $(ARCH),$(CROSS_ARCHS)),)
STATIC_NAME := static-$(ARCH)
STATIC_DEPS := deps-cross
else
STATIC_NAME := static
STATIC_DEPS :=
endif

UNIT_TESTS := $(patsubst test/%.c,%,$(wildcard test/unit_*.c))

.PHONY: all static cross run test asan bench clean deps deps-cross vendor unit blackbox emptyroot screenshots
.DEFAULT_GOAL := all

all: dongmul

dongmul: deps $(B)/dev/dongmul
	@cp $(B)/dev/dongmul $@.tmp && mv -f $@.tmp $@

static: deps $(STATIC_DEPS) $(B)/$(STATIC_NAME)/dongmul
	@echo "static binary: $(B)/$(STATIC_NAME)/dongmul ($$(stat -c %s $(B)/$(STATIC_NAME)/dongmul) bytes)"

# Both Raspberry Pi binaries and their unit tests (what `make test` runs
# under qemu).
CROSS_UNIT := $(UNIT_TESTS)
cross: deps deps-cross $(foreach a,$(CROSS_ARCHS),$(B)/static-$(a)/dongmul \
       $(addprefix $(B)/static-$(a)/test/,$(CROSS_UNIT)))

run: dongmul
	./dongmul serve

# ---- set-up ------------------------------------------------------------------
# Installs what a fresh Debian machine lacks (as root), else prints the command.
deps:
	@sh vendor/deps.sh
# the cross compilers and qemu, only where ARM binaries are built (after
# deps: two apt-get runs at once would fight over dpkg's lock)
deps-cross: deps
	@sh vendor/deps.sh cross

vendor: $(STAMP)
$(STAMP): vendor/lock vendor/fetch.sh $(wildcard vendor/patches/*.patch)
	@sh vendor/fetch.sh $(V)

$(B)/gen/schema.c: schema.sql vendor/embed.sh
	@mkdir -p $(B)/gen
	@sh vendor/embed.sh schema.sql dm_schema_sql > $@

# The OpenAPI document travels compact: leading blanks and line breaks go
# (a JSON string cannot span lines, so none is touched).
$(B)/gen/openapi.c: docs/openapi.json vendor/embed.sh
	@mkdir -p $(B)/gen
	@sed -e 's/^[[:space:]]*//' docs/openapi.json | tr -d '\n' > $(B)/gen/openapi.min.json
	@sh vendor/embed.sh $(B)/gen/openapi.min.json dm_openapi_json > $@

# The web app (web/, see web/build.sh): rebuilt when any file there is
# added, removed or changed, or the pinned socket.io-client changes.
NPM_STAMP := $(V)/npm/.stamp
SIO_JS    := $(V)/npm/socket.io-client/dist/socket.io.min.js
$(NPM_STAMP): vendor/lock vendor/fetch_npm.sh
	@sh vendor/fetch_npm.sh $(V)

$(B)/gen/web.c: $(wildcard web web/*) $(NPM_STAMP)
	@mkdir -p $(B)/gen
	@echo "  WEB     web/ -> $@"
	@sh web/build.sh web $@.tmp $(SIO_JS) && mv -f $@.tmp $@

# ---- tests -----------------------------------------------------------------
# CI runs this: every test against the dev build, the static binary in an
# empty root, then every test again under ASan + UBSan.
test: deps dongmul static cross $(addprefix $(B)/dev/test/,$(UNIT_TESTS)) \
      $(B)/asan/dongmul $(addprefix $(B)/asan/test/,$(UNIT_TESTS))
	@B=$(B) sh test/run.sh dev
	@B=$(B) sh test/run.sh static-aarch64 $(QEMU_aarch64)
	@B=$(B) sh test/run.sh static-armv7 $(QEMU_armv7)
	@B=$(B) sh test/run.sh asan

asan: deps $(B)/asan/dongmul $(addprefix $(B)/asan/test/,$(UNIT_TESTS))
	@B=$(B) sh test/run.sh asan

bench: deps static cross
	@B=$(B) sh bench/run.sh

# The browser tests save every page under build/screenshots/; three of
# them are the README's pictures of the real app.
screenshots: deps $(B)/dev/dongmul
	@cd test && DONGMUL_BIN=$(CURDIR)/$(B)/dev/dongmul node --test --test-concurrency=1 browser.test.js
	@mkdir -p docs && for f in phone-home phone-chat desktop-item; do \
	  cp build/screenshots/docs-$$f.png docs/screenshot-$$f.png; done
	@echo "docs/screenshot-*.png refreshed"

clean:
	rm -rf build/dev build/static build/asan $(B)/gen dongmul \
	  $(foreach a,$(CROSS_ARCHS),build/static-$(a) $(V)/musl-$(a))
	@echo "(the vendor cache stays in $(V); rm -rf build for everything)"
