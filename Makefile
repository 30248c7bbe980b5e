# zt-inference: build, test and demo entry points.
#
#   make             deps + the module (.so) against Debian's nginx source
#   make test        deps + module + the Test::Nginx suite
#   make test-json   the strict JSON reader against jansson (t/json/)
#   make check-calls no file of src/ calls back into one that calls it
#   make check-docs  every directive and variable named in README.md and
#                    docs/reference.md; nothing links outside the repository
#   make test-asan   the same suite with the module built under ASan
#   make test-valgrind  the suite with nginx under valgrind memcheck
#   make test-workers2  the same suite with worker_processes 2
#   make test-openresty TEST_NGINX_LIB=/path/to/test-nginx/lib
#                    the suite under openresty's Test::Nginx
#   make test-matrix NGINX_SRCS="/tmp/nginx-1.26.3 ..." ECHO_SRC=...
#                    the suite against each nginx.org source tree, with
#                    and without --with-debug (scripts/matrix.sh)
#   make test-e2e    a real OpenID provider rotating its keys under traffic,
#                    and OpenAI's Node client against the usage limits
#   make demo        gateway, Redis and a stub model on 127.0.0.1:8080
#   make bench       wrk benchmarks against a plain proxy_pass
#
# NGINX_SRC=/path/to/nginx-x.y.z builds against an nginx.org source tree
# instead of Debian's: the module, and an nginx binary of that source
# (build/sbin/nginx) that the tests run.  NGINX_CONFIGURE adds configure
# flags (--with-debug ...); ECHO_SRC is the echo-nginx-module source the
# suite needs, built beside it.

NGINX_SRC   ?=
NGINX_CONFIGURE ?=
ECHO_SRC    ?=
BUILD       ?= build
SANITIZE    ?=
ASAN        ?=
MODULE_NAME  = ngx_http_zt_inference_module
MODULE       = $(CURDIR)/$(BUILD)/$(MODULE_NAME).so
OBJS_DIR     = $(BUILD)/nginx
SOURCES      = config $(MODULE_NAME).c $(wildcard src/*.c src/*.h)
CC_OPT       = -O2 -Wall -Wextra -Werror -Wno-unused-parameter $(SANITIZE)
LD_OPT       = $(SANITIZE)
PROVE_FLAGS ?= -r
TESTS       ?= t/
# under valgrind nginx is 20 to 50 times slower: left out are the runner's
# self-tests and the files whose assertions are about time (a Redis
# command answered within 200-300 ms, races between two workers, tokens
# that expire in 2 s)
VALGRIND_TESTS ?= $(filter-out t/000-runner.t t/001-runner-fails.t \
                    t/05%.t t/060-token-cache.t t/070-dpop.t \
                    t/071-dpop-htu.t t/072-dpop-replay.t, \
                    $(wildcard t/[0-9]*.t))

ifeq ($(NGINX_SRC),)
NGINX_BIN   ?= /usr/sbin/nginx
else
NGINX_BIN   ?= $(CURDIR)/$(BUILD)/sbin/nginx
endif

# what the build tree was configured with: a change reconfigures it
CONF_ARGS    = $(NGINX_SRC) | $(NGINX_CONFIGURE) | $(ECHO_SRC) | $(CC_OPT) \
               | $(LD_OPT)

# a configure that fails leaves no objs/Makefile to look done
.DELETE_ON_ERROR:

.PHONY: all deps module check-calls check-docs test check-echo test-json \
        test-asan test-valgrind test-workers2 test-openresty test-matrix \
        test-e2e demo demo-stop bench clean FORCE

all: deps module

deps:
	@sh scripts/deps.sh

module: $(MODULE)

$(BUILD)/configure.args: FORCE
	@mkdir -p $(BUILD)
	@echo '$(CONF_ARGS)' | cmp -s - $@ || echo '$(CONF_ARGS)' > $@

$(OBJS_DIR)/objs/Makefile: config scripts/configure.sh $(BUILD)/configure.args
	rm -rf $(OBJS_DIR) $(BUILD)/sbin $(BUILD)/ngx_http_echo_module.so
	BUILD_DIR=$(OBJS_DIR) NGINX_SRC="$(NGINX_SRC)" MODULE_DIR=$(CURDIR) \
	    NGINX_CONFIGURE="$(NGINX_CONFIGURE)" ECHO_SRC="$(ECHO_SRC)" \
	    CC_OPT="$(CC_OPT)" LD_OPT="$(LD_OPT)" bash scripts/configure.sh

# files are replaced, never rewritten in place: an nginx still running
# has the old ones mapped
ifeq ($(NGINX_SRC),)
$(MODULE): $(OBJS_DIR)/objs/Makefile $(SOURCES)
	$(MAKE) -C $(OBJS_DIR) -f objs/Makefile modules
	cp $(OBJS_DIR)/objs/$(MODULE_NAME).so $@.tmp && mv $@.tmp $@
else
# the binary too: a module loads only into the nginx it was built with
$(MODULE): $(OBJS_DIR)/objs/Makefile $(SOURCES)
	$(MAKE) -C $(OBJS_DIR) -f objs/Makefile
	mkdir -p $(BUILD)/sbin
	cp $(OBJS_DIR)/objs/nginx $(BUILD)/sbin/nginx.tmp
	mv $(BUILD)/sbin/nginx.tmp $(BUILD)/sbin/nginx
	if [ -n "$(ECHO_SRC)" ]; then \
	    cp $(OBJS_DIR)/objs/ngx_http_echo_module.so $(BUILD)/echo.tmp && \
	    mv $(BUILD)/echo.tmp $(BUILD)/ngx_http_echo_module.so; fi
	cp $(OBJS_DIR)/objs/$(MODULE_NAME).so $@.tmp && mv $@.tmp $@
endif

# the reader alone, built with nginx's headers, against jansson
JSON_DIFF    = $(BUILD)/json-diff
NGX_INCS     = $(addprefix -I$(OBJS_DIR)/, src/core src/event \
               src/event/modules src/os/unix objs src/http src/http/modules \
               src/http/v2) -Isrc

$(JSON_DIFF): t/json/json_diff.c src/ngx_http_zt_json.c $(wildcard src/*.h) \
              $(OBJS_DIR)/objs/Makefile
	$(CC) $(CC_OPT) -g $(NGX_INCS) -o $@ t/json/json_diff.c \
	    src/ngx_http_zt_json.c $(LD_OPT) -ljansson

test-json: deps $(JSON_DIFF)
	$(JSON_DIFF)

check-calls: module
	perl scripts/check-calls.pl $(OBJS_DIR)/objs/addon/src

check-docs:
	perl scripts/check-docs.pl

test: check-echo deps module test-json check-calls check-docs
	ASAN=$(ASAN) MODULE=$(MODULE) NGINX_BIN=$(NGINX_BIN) TESTS="$(TESTS)" \
	    PROVE_FLAGS="$(PROVE_FLAGS)" sh scripts/test.sh

# the suite needs the echo module, and Debian's loads only into Debian's nginx
check-echo:
	@if [ -n "$(NGINX_SRC)" ] && [ -z "$(ECHO_SRC)" ]; then \
	    echo "the tests need the echo module built for NGINX_SRC:" \
	         "add ECHO_SRC=/path/to/echo-nginx-module" >&2; exit 1; fi

test-asan:
	$(MAKE) BUILD=build-asan SANITIZE="-fsanitize=address \
	    -fno-omit-frame-pointer" ASAN=1 test

# nginx under valgrind memcheck: a report against the module fails the run
test-valgrind: deps module
	VALGRIND=1 MODULE=$(MODULE) NGINX_BIN=$(NGINX_BIN) \
	    TESTS="$(VALGRIND_TESTS)" PROVE_FLAGS="$(PROVE_FLAGS)" \
	    sh scripts/test.sh

# the same suite with two workers and a master process
test-workers2: deps module
	TEST_NGINX_WORKERS=2 TEST_NGINX_MASTER_PROCESS=on MODULE=$(MODULE) \
	    NGINX_BIN=$(NGINX_BIN) TESTS="$(TESTS)" PROVE_FLAGS="$(PROVE_FLAGS)" \
	    sh scripts/test.sh

# openresty's runner instead of the bundled one: TEST_NGINX_LIB is the lib/
# of a checkout of github.com/openresty/test-nginx (scripts/test.sh takes
# whichever Test::Nginx::Socket Perl finds first)
TEST_NGINX_LIB ?=
test-openresty:
	@test -f "$(TEST_NGINX_LIB)/Test/Nginx/Socket.pm" || { echo \
	    "TEST_NGINX_LIB=/path/to/test-nginx/lib (openresty's runner)" >&2; \
	    exit 1; }
	PERL5LIB="$(abspath $(TEST_NGINX_LIB))$${PERL5LIB:+:$$PERL5LIB}" \
	    $(MAKE) test

NGINX_SRCS  ?=
test-matrix:
	ECHO_SRC="$(ECHO_SRC)" sh scripts/matrix.sh $(NGINX_SRCS)

# not part of "test": it needs the npm registry once (npm ci)
test-e2e: deps module
	sh scripts/deps.sh e2e
	MODULE=$(MODULE) NGINX_BIN=$(NGINX_BIN) sh scripts/e2e.sh
	MODULE=$(MODULE) NGINX_BIN=$(NGINX_BIN) sh scripts/e2e-usage.sh

demo: deps module
	MODULE=$(MODULE) NGINX_BIN=$(NGINX_BIN) sh demo/demo.sh start

demo-stop:
	sh demo/demo.sh stop

bench: deps module
	MODULE=$(MODULE) NGINX_BIN=$(NGINX_BIN) bash bench/run.sh

clean:
	rm -rf build build-asan build-valgrind t/servroot*
