# ipfs-cluster-scylla
GO ?= go
TAGS ?= scylla
WITH_DB = scripts/with-cassandra.sh

.PHONY: all deps preflight-test build install quickstart kubo test-go test-sharness test-sharness-run test-notag vet fmt-check test test-unit demo bench cassandra-start cassandra-stop cassandra-status clean

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

## vet: go vet and gofmt, with and without the scylla build tag
vet: fmt-check
	$(GO) vet ./...
	$(GO) vet -tags $(TAGS) ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

## test: deps and a check of every prerequisite first (sharness, ports,
## disk, Cassandra's jars), vet, build, kubo, the tests of the build without
## the tag, then - with a real Cassandra started here - unit and integration
## tests (-race) and the sharness end-to-end suite (real kubo, daemon and
## ipfs-cluster-ctl)
test: deps preflight-test vet build kubo test-notag
	scripts/deps.sh built
	$(WITH_DB) $(MAKE) --no-print-directory test-go test-sharness-run

preflight-test:
	scripts/deps.sh preflight test

## test-go: Go unit and integration tests (needs the database: use `make test`).
## ./service runs whole in-process clusters without -race: upstream's
## NewClusterHost writes the global network.DialPeerTimeout for every host,
## which races with the dials of the other hosts of the same process (a
## daemon has one). Our concurrent code runs with -race in consensus/scylla.
test-go:
	$(GO) test -race -count=1 -timeout 30m -tags $(TAGS) $$($(GO) list -tags $(TAGS) ./... | grep -v '/service$$')
	$(GO) test -count=1 -timeout 30m -tags $(TAGS) ./service/

## test-sharness: the end-to-end suite alone (starts Cassandra when needed)
test-sharness: build kubo test-sharness-run

test-sharness-run:
	sharness/run-sharness-tests.sh

## kubo: build bin/ipfs (kubo v0.43.1) from the tools/kubo module
kubo: bin/ipfs
bin/ipfs: tools/kubo/go.mod tools/kubo/go.sum
	scripts/kubo.sh build

## test-notag: the binary without the scylla tag refuses Scylla clearly
test-notag:
	$(GO) test -count=1 ./config/ ./cmd/...

## test-unit: only the tests that need no database
test-unit: test-notag
	$(GO) test -count=1 -run 'Test(Default|JSON|LoadJSON|Display|Apply|Validate|Errors|ClusterConfig|Split|Replication)' ./state/...
	$(GO) test -count=1 -tags $(TAGS) -run 'Test(Resolve|Init|Bad|Env|Displayed|CrdtConfig|TwoConsensus|Usage)' ./config/ ./cmd/...

## demo: the main job: local Cassandra, three kubo daemons and three cluster
## peers on one keyspace; a file added and pinned through ipfs-cluster-ctl
demo: deps build kubo
	scripts/deps.sh preflight demo
	scripts/deps.sh built
	scripts/demo.sh

## quickstart: the usage guide's Quick Start against a local Cassandra
quickstart:
	WITH_SECURE=0 $(WITH_DB) $(GO) run ./examples/quickstart

## bench: scyllastate vs upstream dsstate/pebble, side by side
bench:
	WITH_SECURE=0 $(WITH_DB) $(GO) test -run '^$$' -bench . -benchtime $${BENCHTIME:-1s} ./bench/

cassandra-start:
	scripts/cassandra.sh start
cassandra-stop:
	scripts/cassandra.sh stop
cassandra-status:
	scripts/cassandra.sh status

clean:
	$(GO) clean ./...
	rm -rf bin sharness/test-results "sharness/trash directory."*
