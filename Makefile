# hookgate — the commands the README names.
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X github.com/hookgate/hookgate/internal/cli.Version=$(VERSION)

.PHONY: build run test deps bench bench-redis fuzz vet

## build: the one binary, bin/hookgate
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/hookgate .

## run: the gateway with ./config.yaml on the embedded store
run: build
	./bin/hookgate serve -config config.yaml

## deps: install what the tests need (redis-server) when missing
deps:
	./scripts/deps.sh

## test: the whole suite, race detector on, real redis-server
test: deps
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 30m ./...

## fuzz: each provider's parser (the untrusted input at the edge) for FUZZTIME each (default 10m)
FUZZTIME ?= 10m
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzDecode -fuzztime $(FUZZTIME) ./plugins/iimmpact
	$(GO) test -run '^$$' -fuzz FuzzDecode -fuzztime $(FUZZTIME) ./plugins/catalog360

## bench: bare baseline vs gateway on the embedded store; BENCH_FLAGS to vary (-n -c -rate -mix -batch -subscribers -json)
BENCH_FLAGS ?=
bench: build
	$(GO) run ./cmd/hookbench -mode both -store embedded $(BENCH_FLAGS)

## bench-redis: the same with the gateway on a throwaway redis-server
bench-redis: build deps
	$(GO) run ./cmd/hookbench -mode both -store redis $(BENCH_FLAGS)
