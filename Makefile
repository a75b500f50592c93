# ipfs-cluster-scylla
GO ?= go
TAGS ?= scylla
WITH_DB = scripts/with-cassandra.sh

.PHONY: all deps preflight-test build install quickstart kubo fuzz test-integration test-faults test-chaos test-monitoring test-sharness test-sharness-run vet fmt-check shellcheck test test-unit demo bench bench-tools bench-quick bench-compare cassandra-start cassandra-stop cassandra-status clean

all: build

COMMIT := $(shell git rev-parse HEAD 2>/dev/null)
LDFLAGS := -X main.commit=$(COMMIT)

## deps: install the missing Debian packages (as root; otherwise print the
## sudo apt-get line and fail), check Go (>= go.mod's) and OpenJDK 17
deps:
	scripts/deps.sh install

## build: compile everything with and without the scylla build tag; put
## ipfs-cluster-service (tag scylla) and upstream ipfs-cluster-ctl v1.1.5 in bin/
build:
	$(GO) build ./...
	$(GO) build -tags $(TAGS) ./...
	$(GO) build -trimpath -tags $(TAGS) -ldflags "$(LDFLAGS)" -o bin/ ./cmd/ipfs-cluster-service
	$(GO) build -trimpath -o bin/ github.com/ipfs-cluster/ipfs-cluster/cmd/ipfs-cluster-ctl

## install: ipfs-cluster-service (tag scylla) and ipfs-cluster-ctl into GOBIN
install:
	$(GO) install -trimpath -tags $(TAGS) -ldflags "$(LDFLAGS)" ./cmd/ipfs-cluster-service
	$(GO) install -trimpath github.com/ipfs-cluster/ipfs-cluster/cmd/ipfs-cluster-ctl

## vet: go vet and gofmt, with and without the scylla build tag (and of the
## bench/compare module), and shellcheck
vet: fmt-check shellcheck
	$(GO) vet ./...
	$(GO) vet -tags $(TAGS) ./...
	$(GO) vet -tags $(TAGS),integration ./...
	cd bench/compare && $(GO) vet ./...

## shellcheck: every shell script of the repo (tests as bash, following what they source)
SHELL_SCRIPTS = $(shell git ls-files --cached --others --exclude-standard -- '*.sh' .ci/run 2>/dev/null || find . -name '*.sh' -not -path './sharness/trash directory.*')
shellcheck:
	@command -v shellcheck >/dev/null || { echo "shellcheck is not installed (apt-get install shellcheck)"; exit 1; }
	shellcheck -x $(SHELL_SCRIPTS)

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

## test: deps and a check of every prerequisite first (sharness, ports,
## disk, Cassandra's jars), then every tier: vet and build with and without
## the scylla tag, the tests that need no database, the monitoring files,
## then - with a real Cassandra started here - the integration tests
## (-race) and the sharness end-to-end suite (real kubo, daemon and
## ipfs-cluster-ctl)
test: deps preflight-test vet build kubo test-unit test-monitoring
	scripts/deps.sh built
	$(WITH_DB) $(MAKE) --no-print-directory test-integration test-sharness-run

preflight-test:
	scripts/deps.sh preflight test

## test-unit: the tests that need no database (as plain `go test ./...`),
## with and without the scylla tag, and those of the bench/compare module
test-unit:
	$(GO) test -count=1 ./...
	$(GO) test -count=1 -tags $(TAGS) ./...
	cd bench/compare && $(GO) test -count=1 ./...

## test-integration: the tests that need the database (build tag
## integration; a missing database fails them). Use `make test`, or start
## the database and `eval "$$(scripts/cassandra.sh env)"` first.
## ./service runs whole in-process clusters without -race: upstream's
## NewClusterHost writes the global network.DialPeerTimeout for every host,
## which races with the dials of the other hosts of the same process (a
## daemon has one). Our concurrent code runs with -race elsewhere.
## ./cmd/ipfs-cluster-service runs daemons from its race-built test binary:
## upstream's raft store (boltdb) fails Go's pointer checks that -race
## turns on, so those are off there (-d=checkptr=0; races still count).
test-integration:
	$(GO) test -race -count=1 -timeout 30m -tags $(TAGS),integration $$($(GO) list -tags $(TAGS),integration ./... | grep -v -e '/service$$' -e '/cmd/ipfs-cluster-service$$')
	$(GO) test -race -gcflags=all=-d=checkptr=0 -count=1 -timeout 30m -tags $(TAGS),integration ./cmd/ipfs-cluster-service/
	$(GO) test -count=1 -timeout 30m -tags $(TAGS),integration ./service/

## test-faults: peers over a multi-node Cassandra whose nodes are killed,
## paused and restarted, and over two data centers (starts its own
## clusters on 127.0.0.21-23, 127.0.0.31-34 and, for scylla check,
## 127.0.0.6-8; about 15 minutes)
test-faults:
	scripts/cassandra.sh fetch
	GOLOG_LOG_LEVEL=error $(GO) test -count=1 -v -p 1 -timeout 60m -tags $(TAGS),integration,faults -run '^TestFault' ./service/ ./service/scyllacheck/

## test-chaos: a randomized test in the style of Jepsen: four peers over a
## two-data-center Cassandra (its own, on 127.0.0.41-44), clients pinning
## and unpinning a small pool of CIDs while nodes are paused, killed and
## cut off, peers stopped and writers' clocks skewed; then the history is
## checked for linearizability (porcupine), the peers for agreement and
## the change feed against the pins. CHAOS_DURATION [3m] is the workload's
## length, CHAOS_SEED replays a run (printed at the start and on failure),
## CHAOS_OUT keeps the history and porcupine's HTML of a failed run;
## about CHAOS_DURATION plus 2 to 4 minutes
test-chaos:
	scripts/cassandra.sh fetch
	GOLOG_LOG_LEVEL=$${GOLOG_LOG_LEVEL:-error} $(GO) test -count=1 -v -p 1 -timeout 60m -tags $(TAGS),integration,faults -run '^TestChaos' ./service/

## fuzz: run every Go fuzz target for FUZZTIME each [1m] (`go test ./...` runs their seeds)
fuzz:
	scripts/fuzz.sh

## test-sharness: the end-to-end suite alone (starts Cassandra when needed)
test-sharness: build kubo test-sharness-run

test-sharness-run:
	sharness/run-sharness-tests.sh

## kubo: build bin/ipfs (kubo v0.43.1) from the tools/kubo module
kubo: bin/ipfs
bin/ipfs: tools/kubo/go.mod tools/kubo/go.sum
	scripts/kubo.sh build

## test-monitoring: the Prometheus alert rules (promtool check and unit
## tests), the example Prometheus configuration and the Grafana dashboard
## (monitoring/, a Go module of its own); needs promtool (Debian: prometheus)
test-monitoring:
	promtool check rules monitoring/prometheus/alerts.yml
	promtool test rules monitoring/prometheus/alerts_test.yml
	promtool check config monitoring/prometheus/prometheus.yml
	cd monitoring && $(GO) vet ./... && $(GO) test -count=1 ./...

## demo: the main job: local Cassandra, three kubo daemons and three cluster
## peers on one keyspace; a file added and pinned through ipfs-cluster-ctl
demo: deps build kubo
	scripts/deps.sh preflight demo
	scripts/deps.sh built
	scripts/harness.sh demo

## quickstart: the usage guide's Quick Start against a local Cassandra
quickstart:
	WITH_SECURE=0 $(WITH_DB) $(GO) run ./docs/examples/quickstart

## bench: scyllastate vs upstream dsstate/pebble, side by side
bench:
	WITH_SECURE=0 $(WITH_DB) $(GO) test -tags integration -run '^$$' -bench . -benchtime $${BENCHTIME:-1s} ./bench/

## bench-tools: what bench-quick/bench-compare run: upstream's ipfs-cluster-service
## v1.1.5 (crdt, raft) in bin/upstream/ and the harness in bin/bench-compare
bench-tools:
	$(GO) build -trimpath -o bin/upstream/ipfs-cluster-service github.com/ipfs-cluster/ipfs-cluster/cmd/ipfs-cluster-service
	cd bench/compare && $(GO) build -o ../../bin/bench-compare .

## bench-quick: side-by-side upstream crdt, upstream raft and ours through their
## binaries and REST APIs, 10k pins, a few minutes (BENCH_ARGS: more flags;
## BENCH_DB=own: a dedicated Cassandra instead of the shared test one)
bench-quick: build kubo bench-tools
	scripts/bench-compare.sh -mode quick $(BENCH_ARGS)

## bench-compare: the same at 10k, 100k and 1M pins; updates docs/benchmarks.md
## (e.g. BENCH_ARGS='-sizes 10k,100k' for a shorter run)
bench-compare: build kubo bench-tools
	scripts/bench-compare.sh -mode full -out bench/results -readme docs/benchmarks.md $(BENCH_ARGS)

cassandra-start:
	scripts/cassandra.sh start
cassandra-stop:
	scripts/cassandra.sh stop
cassandra-status:
	scripts/cassandra.sh status

clean:
	$(GO) clean ./...
	rm -rf bin sharness/test-results "sharness/trash directory."*
