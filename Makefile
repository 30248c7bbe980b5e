# zt-inference: build, test and demo entry points.
#
#   make             deps + the module (.so) against Debian's nginx source
#   make test        deps + module + the Test::Nginx suite (Redis included)
#   make test-json   the strict JSON reader against jansson (t/json/)
#   make test-asan   the same suite with the module built under ASan
#   make test-workers2  the same suite with worker_processes 2
#   make test-e2e    a real OpenID provider rotating its keys under traffic
#   make demo        gateway, Redis and a stub model on 127.0.0.1:8080
#   make bench       wrk benchmarks against a plain proxy_pass
#
# NGINX_SRC=/path/to/nginx-x.y.z builds against an operator's own nginx
# source (configured --with-compat) instead of Debian's.

NGINX_SRC   ?=
NGINX_BIN   ?= /usr/sbin/nginx
BUILD       ?= build
SANITIZE    ?=
MODULE_NAME  = ngx_http_zt_inference_module
MODULE       = $(CURDIR)/$(BUILD)/$(MODULE_NAME).so
OBJS_DIR     = $(BUILD)/nginx
SOURCES      = config $(MODULE_NAME).c $(wildcard src/*.c src/*.h)
CC_OPT       = -O2 -Wall -Wextra -Werror -Wno-unused-parameter $(SANITIZE)
LD_OPT       = $(SANITIZE)
PROVE_FLAGS ?= -r
TESTS       ?= t/

.PHONY: all deps module test test-json test-asan test-workers2 test-e2e \
        demo demo-stop bench clean

all: deps module

deps:
	@sh scripts/deps.sh

module: $(MODULE)

$(OBJS_DIR)/Makefile: config Makefile scripts/configure.sh
	rm -rf $(OBJS_DIR)
	mkdir -p $(BUILD)
	BUILD_DIR=$(OBJS_DIR) NGINX_SRC="$(NGINX_SRC)" MODULE_DIR=$(CURDIR) \
	    CC_OPT="$(CC_OPT)" LD_OPT="$(LD_OPT)" bash scripts/configure.sh

$(MODULE): $(OBJS_DIR)/Makefile $(SOURCES)
	$(MAKE) -C $(OBJS_DIR) -f objs/Makefile modules
	cp $(OBJS_DIR)/objs/$(MODULE_NAME).so $@

# the reader alone, built with nginx's headers, against jansson
JSON_DIFF    = $(BUILD)/json-diff
NGX_INCS     = $(addprefix -I$(OBJS_DIR)/, src/core src/event \
               src/event/modules src/os/unix objs src/http src/http/modules \
               src/http/v2) -Isrc

$(JSON_DIFF): t/json/json_diff.c src/ngx_http_zt_json.c $(wildcard src/*.h) \
              $(OBJS_DIR)/Makefile
	$(CC) $(CC_OPT) -g $(NGX_INCS) -o $@ t/json/json_diff.c \
	    src/ngx_http_zt_json.c $(LD_OPT) -ljansson

test-json: deps $(JSON_DIFF)
	$(JSON_DIFF)

test: deps module test-json
	MODULE=$(MODULE) NGINX_BIN=$(NGINX_BIN) TESTS="$(TESTS)" \
	    PROVE_FLAGS="$(PROVE_FLAGS)" sh scripts/test.sh

test-asan:
	$(MAKE) BUILD=build-asan SANITIZE="-fsanitize=address \
	    -fno-omit-frame-pointer" deps module test-json
	ASAN=1 MODULE=$(CURDIR)/build-asan/$(MODULE_NAME).so \
	    NGINX_BIN=$(NGINX_BIN) TESTS="$(TESTS)" \
	    PROVE_FLAGS="$(PROVE_FLAGS)" sh scripts/test.sh

# the same suite with two workers and a master process
test-workers2: deps module
	TEST_NGINX_WORKERS=2 TEST_NGINX_MASTER_PROCESS=on MODULE=$(MODULE) \
	    NGINX_BIN=$(NGINX_BIN) TESTS="$(TESTS)" PROVE_FLAGS="$(PROVE_FLAGS)" \
	    sh scripts/test.sh

# not part of "test": it needs the npm registry once (npm ci)
test-e2e: deps module
	sh scripts/deps.sh e2e
	MODULE=$(MODULE) NGINX_BIN=$(NGINX_BIN) sh scripts/e2e.sh

demo: deps module
	MODULE=$(MODULE) NGINX_BIN=$(NGINX_BIN) sh demo/demo.sh start

demo-stop:
	sh demo/demo.sh stop

bench: deps module
	MODULE=$(MODULE) NGINX_BIN=$(NGINX_BIN) bash bench/run.sh

clean:
	rm -rf build build-asan t/servroot
