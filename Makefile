# The two commands a newcomer needs:
#   make run    the whole service on an embedded broker and database
#   make test   every test, end to end included
GO       ?= go
FUZZTIME ?= 10s
PKGS     := ./...

.PHONY: run test vet fmt-check unit fuzz build clean help

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

build: ## static binaries of the worker and the edge into bin/
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/ ./cmd/worker ./cmd/edge

clean:
	rm -rf bin .data
