# The project's entry points. `make test` runs on a fresh Debian/Ubuntu
# machine: it installs what it needs (as root) or says in one line what is
# missing, then runs every package's tests with the race detector against a
# real SoftHSM2 token (created per test binary in a temporary directory) and
# SQLite, plus PostgreSQL when CSC_TEST_POSTGRES_DSN is set, and the
# signer's pages in headless Chromium.

GO       ?= go
PKGS     ?= ./...
SOFTHSM  := $(firstword $(wildcard /usr/lib/softhsm/libsofthsm2.so /usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so /usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so))

.PHONY: test deps test-deps vet bench fuzz run build bench-http

test: test-deps vet
	CGO_ENABLED=1 CSC_TEST_REQUIRE_HSM=1 $(GO) test -race -count=1 $(PKGS)

vet: deps
	CGO_ENABLED=1 $(GO) vet $(PKGS)

# deps installs the system packages the build and tests need: a C compiler
# for cgo (PKCS#11 and SQLite) and SoftHSM2.
deps:
	@command -v $(GO) >/dev/null || { echo "Go is missing: install Go 1.26.8 or later (https://go.dev/dl/)"; exit 1; }
	@missing=""; \
	  command -v gcc >/dev/null || missing="$$missing gcc libc6-dev"; \
	  [ -n "$(SOFTHSM)" ] || missing="$$missing softhsm2"; \
	  if [ -n "$$missing" ]; then \
	    if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	      echo "installing:$$missing"; \
	      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null || exit 1; \
	    else \
	      echo "missing:$$missing (run: sudo apt-get install -y$$missing)"; exit 1; \
	    fi; \
	  fi

# test-deps adds what only the tests need: Chromium, for the browser test of
# the signer's pages (api/browser_test.go), and poppler's pdfsig, qpdf and
# NSS's certutil, which check the PDFs sam/pades signs. Without root it says
# what to install and goes on; those tests then skip, or fail under CI=true
# (or CSC_TEST_REQUIRE_BROWSER=1 / CSC_TEST_REQUIRE_PDF_TOOLS=1).
test-deps: deps
	@missing=""; \
	  command -v chromium >/dev/null || command -v chromium-browser >/dev/null || missing="$$missing chromium"; \
	  command -v pdfsig >/dev/null || missing="$$missing poppler-utils"; \
	  command -v qpdf >/dev/null || missing="$$missing qpdf"; \
	  command -v certutil >/dev/null || missing="$$missing libnss3-tools"; \
	  if [ -n "$$missing" ]; then \
	    if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	      echo "installing:$$missing"; \
	      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null || exit 1; \
	    else \
	      echo "missing:$$missing, the browser and PDF validator tests will skip (run: sudo apt-get install -y$$missing)"; \
	    fi; \
	  fi

# run is the quick start: a SoftHSM2 token, master keys, a development CA and
# a SQLite database under ./var (created on the first run, kept afterwards),
# a demo signer written to ./var/demo.json, then the server on
# https://127.0.0.1:8443 until Ctrl-C.
CONFIG ?= configs/cscd.yaml
run: deps build
	@./bin/cscctl -config $(CONFIG) demo -out var/demo.json
	@./bin/cscd -config $(CONFIG)

build: deps
	CGO_ENABLED=1 $(GO) build -o bin/ ./cmd/...

# bench-http measures signHash over HTTPS against a running `make run` server
# (start it first in another terminal), with the raw PKCS#11 rate of the same
# token in the same run.
bench-http: build
	./bin/cscbench -config $(CONFIG)

# bench prints the raw PKCS#11 sign rate and the SAM signing path as a ratio
# of it (see sam/bench_test.go; CSC_BENCH_SECONDS sets seconds per cell).
bench: deps
	CGO_ENABLED=1 $(GO) test -run '^$$' -bench SigningCore -benchtime 1x ./sam

# fuzz runs each fuzz target of untrusted-input decoders for FUZZTIME.
FUZZTIME ?= 20s
fuzz: deps
	CGO_ENABLED=1 $(GO) test -run '^$$' -fuzz '^FuzzParseURI$$' -fuzztime $(FUZZTIME) ./hsm
	CGO_ENABLED=1 $(GO) test -run '^$$' -fuzz '^FuzzParsePSSParams$$' -fuzztime $(FUZZTIME) ./sam
	CGO_ENABLED=1 $(GO) test -run '^$$' -fuzz '^FuzzDecodeHashes$$' -fuzztime $(FUZZTIME) ./sam
	CGO_ENABLED=1 $(GO) test -run '^$$' -fuzz '^FuzzOCSPRequest$$' -fuzztime $(FUZZTIME) ./sam
	CGO_ENABLED=1 $(GO) test -run '^$$' -fuzz '^FuzzSignUntrusted$$' -fuzztime $(FUZZTIME) ./sam/pades
	CGO_ENABLED=1 $(GO) test -run '^$$' -fuzz '^FuzzSignatures$$' -fuzztime $(FUZZTIME) ./sam/pades
	CGO_ENABLED=1 $(GO) test -run '^$$' -fuzz '^FuzzRequestBodies$$' -fuzztime $(FUZZTIME) ./api
	CGO_ENABLED=1 $(GO) test -run '^$$' -fuzz '^FuzzBase64Hashes$$' -fuzztime $(FUZZTIME) ./api
	CGO_ENABLED=1 $(GO) test -run '^$$' -fuzz '^FuzzAuthorizationDetails$$' -fuzztime $(FUZZTIME) ./oauth
