# The two commands a newcomer needs:
#   make run    the whole service on an embedded broker and database
#   make test   every test, end to end included
GO       ?= go
FUZZTIME ?= 10s
PKGS     := ./...

.PHONY: run test vet fmt-check fuzz bench build clean help

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

run: ## start kfake + FerretDB + worker + edge in one process (Ctrl-C stops)
	$(GO) run ./cmd/dev

test: fmt-check vet ## gofmt, vet, unit, contract and end-to-end tests with the race detector
	$(GO) test -race -count=1 $(PKGS)

vet:
	$(GO) vet $(PKGS)

fmt-check:
	@out=$$(gofmt -l $$(find . -name '*.go' -not -path './.data/*')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

fuzz: ## run each fuzz target for FUZZTIME
	$(GO) test -run='^$$' -fuzz='^FuzzValidate$$' -fuzztime=$(FUZZTIME) ./handlers/
	$(GO) test -run='^$$' -fuzz='^FuzzDispatch$$' -fuzztime=$(FUZZTIME) ./topics/

BENCH_N ?= 1000
bench: ## start the dev stack on a fresh data dir and time BENCH_N sequential GET /cliente/{id}
	$(GO) build -o bin/dev ./cmd/dev
	@data=$$(mktemp -d); \
	DEV_DATA_DIR=$$data HTTP_ADDR=127.0.0.1:18080 DEV_KAFKA_PORT=0 DEV_WORKER_HTTP_ADDR=127.0.0.1:0 LOG_LEVEL=warn \
	  bin/dev >$$data/dev.log 2>&1 & pid=$$!; \
	$(GO) run ./cmd/bench -url http://127.0.0.1:18080 -n $(BENCH_N); rc=$$?; \
	kill $$pid; wait $$pid; rm -rf $$data; exit $$rc

build: ## static binaries of the worker and the edge into bin/
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/ ./cmd/worker ./cmd/edge

clean:
	rm -rf bin .data
