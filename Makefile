# ipfs-cluster-scylla
GO ?= go
TAGS ?= scylla
WITH_DB = scripts/with-cassandra.sh

.PHONY: all build vet fmt-check test test-unit demo bench cassandra-start cassandra-stop cassandra-status clean

all: build

## build: compile everything, with and without the scylla build tag
build:
	$(GO) build ./...
	$(GO) build -tags $(TAGS) ./...

## vet: go vet and gofmt, with and without the scylla build tag
vet: fmt-check
	$(GO) vet ./...
	$(GO) vet -tags $(TAGS) ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

## test: unit and integration tests (-race) on a real Cassandra started here
## (the code without the tag is built and vetted by `vet`)
test: vet build
	$(WITH_DB) $(GO) test -race -count=1 -timeout 30m -tags $(TAGS) ./...

## test-unit: only the tests that need no database
test-unit:
	$(GO) test -count=1 -run 'Test(Default|JSON|LoadJSON|Display|Apply|Validate|Errors|ClusterConfig|Split|Replication)' ./state/...

## demo: the main job until the daemon lands: local Cassandra + the Quick Start
demo:
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
