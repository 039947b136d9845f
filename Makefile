# The two commands a newcomer needs:
#   make run    the whole service on an embedded broker and database
#   make test   every test, end to end included
GO       ?= go
FUZZTIME ?= 10s
PKGS     := ./...

.PHONY: run test test-rules vet fmt-check fuzz bench build clean help \
        infra-up infra-down infra-clean infra-status test-infra test-faults bench-infra bench-client bench-list bench-store bench-load bench-reportes \
        test-consola vendor-chartjs

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

run: ## start kfake + FerretDB + worker + edge in one process (Ctrl-C stops)
	$(GO) run ./cmd/dev

test: fmt-check vet test-rules ## gofmt, vet, alert rule tests, unit, contract and end-to-end tests with the race detector
	$(GO) test -race -count=1 $(PKGS)

# promtool comes from the github.com/prometheus/prometheus module at the
# version go.mod pins (the tests parse PromQL with the same module), built
# from the Go module proxy into bin/: nothing else to install. `go install
# pkg@version` builds it with the module's own go.mod, apart from ours. The
# first build takes about 5.5 minutes on 2 cores; later runs reuse it.
PROMETHEUS_VERSION = $(shell $(GO) list -m -f '{{.Version}}' github.com/prometheus/prometheus)
PROMTOOL_DIR       = bin/promtool-$(PROMETHEUS_VERSION)
PROMTOOL           = $(PROMTOOL_DIR)/promtool

$(PROMTOOL):
	@test -n "$(PROMETHEUS_VERSION)" || { echo "go.mod does not require github.com/prometheus/prometheus"; exit 1; }
	GOBIN=$(CURDIR)/$(PROMTOOL_DIR) $(GO) install github.com/prometheus/prometheus/cmd/promtool@$(PROMETHEUS_VERSION)

test-rules: $(PROMTOOL) ## check the Prometheus configuration and run the alert rules' unit tests with promtool
	$(PROMTOOL) check config deploy/prometheus/prometheus.yml
	$(PROMTOOL) test rules deploy/prometheus/alerts_test.yml

# The web console in a real headless browser: Debian's chromium (installed
# here when missing, with one font, as the other real parts are) driven by
# chromedp over the dev stack of cmd/dev's tests. `make test` skips it. It
# writes a PNG of each view into CONSOLA_SCREENSHOTS. -race as in `make
# test`, so CI reuses that build.
CONSOLA_SCREENSHOTS ?= $(CURDIR)/cmd/dev/testdata/consola
test-consola: ## the web console in headless chromium (installed when missing): charts, search, customer page; PNGs in CONSOLA_SCREENSHOTS
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || command -v google-chrome >/dev/null || { \
	  [ "$$(id -u)" = 0 ] || { echo "test-consola: no chromium: apt-get install -y chromium (as root), or set CONSOLA_CHROMIUM"; exit 1; }; \
	  echo "apt-get install -y chromium fonts-dejavu-core"; \
	  DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null; }
	CONSOLA_BROWSER=1 CONSOLA_SCREENSHOTS='$(CONSOLA_SCREENSHOTS)' $(GO) test -race -count=1 -run '^TestConsola$$' -timeout 8m ./cmd/dev

vendor-chartjs: ## download the pinned Chart.js for the console from the npm registry and check it against its pinned hashes
	bash cmd/internal/httpapi/consola/vendor.sh

vet:
	$(GO) vet $(PKGS)

fmt-check:
	@out=$$(gofmt -l $$(find . -name '*.go' -not -path './.data/*')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

fuzz: ## run each fuzz target for FUZZTIME
	$(GO) test -run='^$$' -fuzz='^FuzzValidate$$' -fuzztime=$(FUZZTIME) ./handlers/
	$(GO) test -run='^$$' -fuzz='^FuzzValidarVenta$$' -fuzztime=$(FUZZTIME) ./handlers/
	$(GO) test -run='^$$' -fuzz='^FuzzSalesEvent$$' -fuzztime=$(FUZZTIME) ./topics/
	$(GO) test -run='^$$' -fuzz='^FuzzDispatch$$' -fuzztime=$(FUZZTIME) ./topics/
	$(GO) test -run='^$$' -fuzz='^FuzzEdgeRequest$$' -fuzztime=$(FUZZTIME) ./cmd/internal/httpapi/

BENCH_N ?= 1000
# Benchmarks' dev stacks take no fixed port but the API's, so they run beside `make run`.
BENCH_PORTS := METRICS_ADDR=127.0.0.1:0 DEV_ISSUER_ADDR=127.0.0.1:0
# bench and bench-infra serve the dev stack's HTTP API on BENCH_ADDR.
BENCH_ADDR ?= 127.0.0.1:18080
bench: ## start the dev stack on a fresh data dir and time BENCH_N sequential GET /cliente/{id}
	$(GO) build -o bin/dev ./cmd/dev
	@data=$$(mktemp -d); \
	DEV_DATA_DIR=$$data HTTP_ADDR=$(BENCH_ADDR) DEV_KAFKA_PORT=0 DEV_WORKER_HTTP_ADDR=127.0.0.1:0 $(BENCH_PORTS) LOG_LEVEL=warn \
	  bin/dev >$$data/dev.log 2>&1 & pid=$$!; \
	$(GO) run ./cmd/bench -url http://$(BENCH_ADDR) -n $(BENCH_N) -token-file $$data/dev-token; rc=$$?; \
	kill $$pid; wait $$pid; rm -rf $$data; exit $$rc

BENCH_STORE_SIZES ?= 1000,100000
bench-store: ## time store lookups, list pages and inserts on the embedded FerretDB/SQLite at BENCH_STORE_SIZES customers
	BENCH_STORE_SIZES=$(BENCH_STORE_SIZES) $(GO) test -run='^$$' -bench='^BenchmarkStore$$' -benchtime=2s -count=2 -timeout=60m ./repository/

# bench-list keeps its dev stack's data in BENCH_LIST_DIR, so the customers
# are seeded once (over HTTP, a few minutes for 20,000) and later runs
# measure at once; delete the folder to start over.
BENCH_LIST_DIR       ?= $(CURDIR)/.bench/list
BENCH_LIST_CUSTOMERS ?= 20000
BENCH_LIST_ADDR      ?= 127.0.0.1:18081
bench-list: ## dev stack with BENCH_LIST_CUSTOMERS stored: time every list page and 200 searches
	$(GO) build -o bin/dev ./cmd/dev
	@mkdir -p '$(BENCH_LIST_DIR)'; \
	DEV_DATA_DIR='$(BENCH_LIST_DIR)' HTTP_ADDR=$(BENCH_LIST_ADDR) DEV_KAFKA_PORT=0 DEV_WORKER_HTTP_ADDR=127.0.0.1:0 $(BENCH_PORTS) LOG_LEVEL=warn \
	  bin/dev >'$(BENCH_LIST_DIR)/dev.log' 2>&1 & pid=$$!; \
	$(GO) run ./cmd/benchlist -url http://$(BENCH_LIST_ADDR) -customers $(BENCH_LIST_CUSTOMERS) -token-file '$(BENCH_LIST_DIR)/dev-token'; rc=$$?; \
	kill $$pid; wait $$pid; \
	if [ $$rc -ne 0 ]; then echo "dev log:"; tail -n 20 '$(BENCH_LIST_DIR)/dev.log'; fi; exit $$rc

build: ## static binaries of the worker and the edge into bin/
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/ ./cmd/worker ./cmd/edge

clean:
	rm -rf bin .data

# Real infrastructure on 127.0.0.1 (deploy/local/README.md): Apache Kafka
# 127.0.0.1:19092 (SASL/SCRAM, ACLs), PostgreSQL 127.0.0.1:25432, FerretDB
# 127.0.0.1:27018, Ory Hydra 127.0.0.1:4444. Everything lives in INFRA_DIR;
# the logic is in deploy/local/infra.sh. The ports are overridable (a second
# set beside the first), and infra.sh reads the same variables.
INFRA_DIR                   ?= $(CURDIR)/.infra
INFRA_KAFKA_PORT            ?= 19092
INFRA_KAFKA_CONTROLLER_PORT ?= 19093
INFRA_PG_PORT               ?= 25432
INFRA_FERRETDB_PORT         ?= 27018
INFRA_HYDRA_PORT            ?= 4444
INFRA_HYDRA_ADMIN_PORT      ?= 4445
export INFRA_KAFKA_PORT INFRA_KAFKA_CONTROLLER_PORT INFRA_PG_PORT INFRA_FERRETDB_PORT INFRA_HYDRA_PORT INFRA_HYDRA_ADMIN_PORT
INFRA         := INFRA_DIR='$(INFRA_DIR)' bash deploy/local/infra.sh
INFRA_KAFKA   := 127.0.0.1:$(INFRA_KAFKA_PORT)
INFRA_MONGODB := mongodb://127.0.0.1:$(INFRA_FERRETDB_PORT)/
# Start of a recipe line whose processes talk to the broker as its super
# user (KAFKA_SASL_* generated by infra.sh): the tests use their own topic
# names, which the services' ACLs do not cover.
AS_KAFKA_ADMIN := set -a; . '$(INFRA_DIR)/credentials/kafka-admin.env'; set +a;

infra-up: ## install what is missing, start Kafka (SASL, ACLs) + PostgreSQL + FerretDB + Hydra, wait until they answer
	@$(INFRA) up

infra-down: ## stop what infra-up started (data kept)
	@$(INFRA) down

infra-clean: ## infra-down, then remove INFRA_DIR (jars, binaries, data, logs)
	@$(INFRA) clean

infra-status: ## what of the infrastructure runs and answers
	@$(INFRA) status

test-infra: infra-up ## end-to-end, broker, store, access-control and token tests against the real infra (left running)
	$(AS_KAFKA_ADMIN) SPRING_INTEROP=1 INFRA_DIR='$(INFRA_DIR)' KAFKA_BROKERS=$(INFRA_KAFKA) MONGODB_URI=$(INFRA_MONGODB) \
	  INFRA_POSTGRESQL_URL=postgres://postgres@127.0.0.1:$(INFRA_PG_PORT)/ferretdb \
	  $(GO) test -count=1 -p 1 -timeout 20m ./cmd/dev ./topics/... ./repository/... ./cmd/internal/infratest

test-faults: infra-up ## kill -9, takeover, broker restart, database stop, SIGTERM: real processes on the real infra
	$(AS_KAFKA_ADMIN) FAULT_TESTS=1 INFRA_DIR='$(INFRA_DIR)' KAFKA_BROKERS=$(INFRA_KAFKA) MONGODB_URI=$(INFRA_MONGODB) \
	  $(GO) test -count=1 -v -timeout 30m ./cmd/faults/

bench-infra: infra-up ## like bench, with the dev binary on the real Kafka and FerretDB (left running)
	$(GO) build -o bin/dev ./cmd/dev
	@data=$$(mktemp -d); $(AS_KAFKA_ADMIN) \
	KAFKA_BROKERS=$(INFRA_KAFKA) MONGODB_URI=$(INFRA_MONGODB) MONGODB_DATABASE=cliente_bench \
	DEV_DATA_DIR=$$data HTTP_ADDR=$(BENCH_ADDR) DEV_KAFKA_PORT=0 DEV_WORKER_HTTP_ADDR=127.0.0.1:0 $(BENCH_PORTS) LOG_LEVEL=warn \
	  bin/dev >$$data/dev.log 2>&1 & pid=$$!; \
	$(GO) run ./cmd/bench -url http://$(BENCH_ADDR) -n $(BENCH_N) -token-file $$data/dev-token; rc=$$?; \
	kill $$pid; wait $$pid; \
	if [ $$rc -ne 0 ]; then echo "dev log:"; tail -n 40 $$data/dev.log; fi; \
	rm -rf $$data; exit $$rc

# bench-reportes seeds a new database on the real FerretDB in bulk
# (repository.Importar: every document the use cases would write, one
# report notice per customer; BENCH_REPORTES_SEED=casos seeds through the
# use cases instead, hours at full size), folds the notices with the
# projector, reads each report BENCH_REPORTES_N times, then streams
# customers and sales through the use cases for BENCH_REPORTES_LIVE while
# reading the reports, and checks every counter against a rebuild from
# scratch. About 8 minutes at full size on 2 cores.
BENCH_REPORTES_CLIENTES ?= 100000
BENCH_REPORTES_VENTAS   ?= 1000000
BENCH_REPORTES_N        ?= 1000
BENCH_REPORTES_SEED     ?= bulk
BENCH_REPORTES_LIVE     ?= 2m
BENCH_REPORTES_TIMEOUT  ?= 60m
bench-reportes: infra-up ## p50/p99 of each report with BENCH_REPORTES_CLIENTES customers and BENCH_REPORTES_VENTAS sales on the real FerretDB, quiet and while folding, and exactness
	$(GO) run ./cmd/benchreportes -mongodb $(INFRA_MONGODB) -clientes $(BENCH_REPORTES_CLIENTES) -ventas $(BENCH_REPORTES_VENTAS) \
	  -n $(BENCH_REPORTES_N) -seed $(BENCH_REPORTES_SEED) -live $(BENCH_REPORTES_LIVE) -seed-timeout $(BENCH_REPORTES_TIMEOUT)

# bench-client's dev stack has topics, group, reply topic and database of its
# own, so no other stack on the broker (bench-infra, test runs) answers its
# requests, and HTTP on port 0, so it never collides with one. The database
# is new on every run: FerretDB 1.24 does not push ObtenerVarios' `_id $in`
# filter down to PostgreSQL and scans the whole collection, so a database
# that kept every run's customers would slow that figure down run after run.
# It waits for the line the stack prints once worker and edge serve;
# benchclient then retries its first request until the worker's group joined.
BENCH_CLIENT_TOPICS := TOPIC_COMMANDS=cliente.benchclient.comandos TOPIC_QUERIES=cliente.benchclient.consultas \
  TOPIC_DEAD_LETTER=cliente.benchclient.dlq WORKER_GROUP=cliente-benchclient REPLY_TOPIC=cliente.respuestas.benchclient-edge \
  TOPIC_SALES_EVENTS=cliente.benchclient.ventas TOPIC_CUSTOMER_EVENTS=cliente.benchclient.eventos
BENCH_EVENTS ?= 10000
bench-client: infra-up ## time BENCH_N Go-client calls (ValidarParaVenta, ObtenerVarios of 50) and BENCH_EVENTS sales events on the real Kafka and FerretDB
	$(GO) build -o bin/dev ./cmd/dev
	@data=$$(mktemp -d); db=cliente_benchclient_$$(date +%Y%m%d%H%M%S); $(AS_KAFKA_ADMIN) \
	echo "bench-client: dev stack on $(INFRA_KAFKA) and $(INFRA_MONGODB) database $$db"; \
	$(BENCH_CLIENT_TOPICS) KAFKA_BROKERS=$(INFRA_KAFKA) MONGODB_URI=$(INFRA_MONGODB) MONGODB_DATABASE=$$db \
	DEV_DATA_DIR=$$data HTTP_ADDR=127.0.0.1:0 DEV_KAFKA_PORT=0 DEV_WORKER_HTTP_ADDR=127.0.0.1:0 $(BENCH_PORTS) LOG_LEVEL=warn \
	  bin/dev >$$data/dev.log 2>&1 & pid=$$!; \
	rc=1; for i in $$(seq 600); do \
	  if grep -q 'dev stack ready' $$data/dev.log; then rc=0; break; fi; \
	  if ! kill -0 $$pid 2>/dev/null; then break; fi; sleep 0.2; \
	done; \
	if [ $$rc -ne 0 ]; then echo "bench-client: the dev stack exited or was not ready within 2 minutes"; \
	else $(GO) run ./cmd/benchclient -brokers $(INFRA_KAFKA) -commands cliente.benchclient.comandos \
	  -queries cliente.benchclient.consultas -sales cliente.benchclient.ventas -n $(BENCH_N) -events $(BENCH_EVENTS); rc=$$?; fi; \
	kill $$pid 2>/dev/null; wait $$pid; \
	if [ $$rc -ne 0 ]; then echo "dev log:"; tail -n 40 $$data/dev.log; fi; \
	rm -rf $$data; exit $$rc

# bench-load: open-loop constant-rate steps (cmd/benchload, vegeta) against
# BENCH_LOAD_TARGET: `run` (the `make run` binary on a fresh data folder)
# or `infra` (cmd/edge and cmd/worker as separate processes on the real
# infrastructure, which it starts). Tunables: BENCH_LOAD_RATES,
# BENCH_LOAD_POST_RATES, BENCH_LOAD_STEP, BENCH_LOAD_CUSTOMERS,
# BENCH_LOAD_SCENARIOS, BENCH_LOAD_TIMEOUT (cmd/benchload/main.go). Not in CI.
BENCH_LOAD_TARGET ?= run
bench-load: $(if $(filter infra,$(BENCH_LOAD_TARGET)),infra-up) ## open-loop load steps: rates, latency, CPU per request of every process (BENCH_LOAD_TARGET=run|infra)
	$(GO) build -o bin/ ./cmd/dev ./cmd/edge ./cmd/worker
	BENCH_LOAD_TARGET=$(BENCH_LOAD_TARGET) INFRA_DIR='$(INFRA_DIR)' KAFKA_BROKERS=$(INFRA_KAFKA) MONGODB_URI=$(INFRA_MONGODB) \
	  $(GO) run ./cmd/benchload
