# hookgate — the commands the README names.
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X github.com/hookgate/hookgate/internal/cli.Version=$(VERSION)

.PHONY: build run test chaos deps bench bench-redis fuzz vet docker helm-template helm-lint

## build: the one binary, bin/hookgate
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/hookgate .

## docker: the image (Dockerfile), tagged IMAGE:VERSION and IMAGE:latest; the version passed as a build
## arg, since .dockerignore keeps .git out of the build
IMAGE ?= hookgate
docker:
	docker build --build-arg VERSION=$(VERSION) -t $(IMAGE):$(VERSION) -t $(IMAGE):latest .

## run: the gateway with ./config.yaml on the embedded store
run: build
	./bin/hookgate serve -config config.yaml

## deps: install what the tests need (redis-server, redis-cli) when missing
deps:
	./scripts/deps.sh

## test: the whole suite, race detector on, real redis-server; then the Helm chart (deploy/helm/check, a
## module of its own so that Helm and the Kubernetes types stay out of go.mod; -mod=mod lets it follow the root
## module's requirements through its replace): lint, render, strict decode
test: deps
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 30m ./...
	cd deploy/helm/check && $(GO) vet -mod=mod ./... && $(GO) test -mod=mod -count=1 ./...

## helm-template: the chart's manifests as `helm template` prints them, decoded strictly first, without the
## helm binary; HELM_FLAGS for values: make helm-template HELM_FLAGS='-f my-values.yaml --set replicaCount=3'
## helm-lint: Helm's linter on the chart, with the same HELM_FLAGS
HELM_FLAGS ?=
HELM_CHECK = cd deploy/helm/check && $(GO) build -mod=mod -o $(CURDIR)/bin/hookgate-chart . && cd $(CURDIR) && bin/hookgate-chart
helm-template:
	@$(HELM_CHECK) template -chart deploy/helm/hookgate $(HELM_FLAGS)
helm-lint:
	@$(HELM_CHECK) lint -chart deploy/helm/hookgate $(HELM_FLAGS)

## chaos: the long fault matrix (issue 14): every fault (network, server, failover, slot move) on one
## Redis, Sentinel and a 3+3 Cluster, under load, HOOKGATE_CHAOS_REPEAT times (default 3); prints the
## matrix (acked, lost, duplicates, recovery times, peak RSS) at the end. `make test` runs the short one.
chaos: deps
	HOOKGATE_CHAOS=1 $(GO) test -race -count=1 -timeout 60m -run 'TestChaos' -v ./e2e

## fuzz: the hostile-input suite's long half, FUZZTIME each (default 10m): each provider's parser (the
## untrusted input at the edge), the public listener's request framing against Go's HTTP parser (smuggling),
## config.yaml parsing, the envelope encoder against json.Marshal, the W3C trace context parser,
## transforms over any provider data, the outbound signature and Retry-After parsers, and the admin
## search's CEL compiler (?q=). `make test` runs every seed corpus once.
FUZZTIME ?= 10m
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzDecode -fuzztime $(FUZZTIME) ./plugins/iimmpact
	$(GO) test -run '^$$' -fuzz FuzzDecode -fuzztime $(FUZZTIME) ./plugins/catalog360
	$(GO) test -run '^$$' -fuzz FuzzRequestFraming -fuzztime $(FUZZTIME) ./routes
	$(GO) test -run '^$$' -fuzz FuzzParseConfig -fuzztime $(FUZZTIME) ./gateway/config
	$(GO) test -run '^$$' -fuzz FuzzEncodeEnvelope -fuzztime $(FUZZTIME) ./gateway
	$(GO) test -run '^$$' -fuzz FuzzTraceContext -fuzztime $(FUZZTIME) ./gateway
	$(GO) test -run '^$$' -fuzz FuzzTransformApply -fuzztime $(FUZZTIME) ./gateway/filter
	$(GO) test -run '^$$' -fuzz FuzzVerify -fuzztime $(FUZZTIME) ./gateway/deliver
	$(GO) test -run '^$$' -fuzz FuzzParseRetryAfter -fuzztime $(FUZZTIME) ./gateway/deliver
	$(GO) test -run '^$$' -fuzz FuzzCompileQuery -fuzztime $(FUZZTIME) ./gateway/filter

## bench: the floor (Fiber + HMAC + one Redis XADD), the lean relay's sustained, drain, fanout and paced
## (relay-paced-always: its Redis at appendfsync always), and the gateway's held ingest, backlog drain,
## sustained, 10-subscriber fanout and paced runs on both stores (paced-always: Redis at appendfsync
## always), each as a ratio to the floor, delivery to the matching relay run too, paced CPU to
## relay-paced's and relay-paced-always's; medians of 3 repetitions (~7 min on 2 cores;
## BENCH_FLAGS='-repeat 1' for a quick look, a third of that).
## BENCH_FLAGS to vary: -runs relay,held,drain,sustained,fanout,paced -store embedded|redis -n -c -rate
## -fanout -paced 1000,2000 -paced-for 8s -repeat 3 -json
BENCH_FLAGS ?=
bench: build deps
	$(GO) run ./cmd/hookbench $(BENCH_FLAGS)

## bench-redis: the same, the gateway on Redis only
bench-redis: build deps
	$(GO) run ./cmd/hookbench -store redis $(BENCH_FLAGS)
