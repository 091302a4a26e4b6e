# twinstream: the README's two set-up commands are `make synth` and `make test`.
SHELL := /bin/bash
export CI ?=
# Node.js is pinned in package.json (npm ci installs it in node_modules/.bin):
# first on PATH, it is the node the jsii runtime starts for the CDK
# constructs (synth and tests), the CDK CLI and the npm stand-ins run on,
# whatever Node the machine has.
export PATH := $(CURDIR)/node_modules/.bin:$(PATH)

GO ?= go
# -count=1: go test caches results even when handler sources it builds change.
GOTEST_FLAGS ?= -count=1 -timeout 30m

.PHONY: synth test test-go modules examples lint deps bench vet synth-time drill

# The repository holds two Go modules: the library (this directory, what a
# team's module requires) and e2e/ (the stand-ins, the handlers' end-to-end
# tests, the outage drill and the pinned tools), kept apart so that none of
# the test-only code reaches a team's module graph.
E2E := e2e

# MODULES are the repository's other Go modules, which producers and
# operators require on their own (client: the producer client and its load
# generator, standard library only; cmd/twinstream: the operator CLI and
# the AWS SDK clients it calls): make test checks that each is tidy, vets it
# and runs its tests, also under the race detector.
MODULES := client cmd/twinstream

# EXAMPLES are modules as a team writes them (each its own go.mod, requiring
# the library through a replace of this checkout): make test checks that
# they are tidy and that their tests pass.
EXAMPLES := examples/orders

# deps installs what the tests need: the pinned npm stand-ins (kinesalite,
# local-aws-sqs, the CDK CLI) and the Go modules and tools (aws-lambda-rie)
# of both modules, the other modules and the examples.
deps: node_modules/.package-lock.json
	@echo "node $$(node --version) ($$(command -v node))"
	$(GO) mod download
	cd $(E2E) && $(GO) mod download
	for d in $(MODULES) $(EXAMPLES); do (cd $$d && $(GO) mod download) || exit 1; done

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund

# synth: the main job. Synthesizes the two regional stacks and the global
# stack with cdk.json's configuration into cdk.out/ through the pinned CDK CLI
# (no AWS account or credentials needed).
synth: deps
	npx --no-install cdk synth --no-notices

vet:
	$(GO) vet ./...
	cd $(E2E) && $(GO) vet ./...
	for d in $(MODULES); do (cd $$d && $(GO) vet ./...) || exit 1; done

# test: both modules' tests, then the handlers again under the race
# detector (their packages in the library, their end-to-end tests in e2e),
# then the other modules and the examples, then lint.
test: deps vet test-go modules examples lint

test-go:
	$(GO) test $(GOTEST_FLAGS) ./...
	cd $(E2E) && $(GO) test $(GOTEST_FLAGS) ./...
	$(GO) test $(GOTEST_FLAGS) -race ./lambdas/...
	cd $(E2E) && $(GO) test $(GOTEST_FLAGS) -race ./lambdas/... ./client/... ./send/...

# modules: each of MODULES must be what `go mod tidy` makes it, then its
# tests, and again under the race detector (the client is concurrent:
# buffered batches, shared failover state); vet covers them.
modules:
	@for d in $(MODULES); do \
	  echo "module $$d: go mod tidy, test, race"; \
	  (cd $$d && $(GO) mod tidy -diff) || { echo "$$d is not tidy: run go mod tidy there and commit go.mod (and go.sum)"; exit 1; }; \
	  (cd $$d && $(GO) test $(GOTEST_FLAGS) ./... && $(GO) test $(GOTEST_FLAGS) -race ./...) || exit 1; \
	done

# examples: each example module must be what `go mod tidy` makes it (a
# team runs tidy, which drops every requirement its own code does not
# import: the library's handlers must build all the same), then vet and its
# tests (synth, golden templates, cdk-nag, the CDK CLI's synth). A library
# change that changes the example's templates fails here: review, then
# rewrite them with (cd examples/orders && go test -run Golden -update .).
examples:
	@for d in $(EXAMPLES); do \
	  echo "example $$d: go mod tidy, vet, test"; \
	  (cd $$d && $(GO) mod tidy -diff) || { echo "$$d is not tidy: run go mod tidy there and commit go.mod and go.sum"; exit 1; }; \
	  (cd $$d && $(GO) vet ./... && $(GO) test $(GOTEST_FLAGS) ./...) || exit 1; \
	done

# lint: staticcheck, pinned by e2e/go.mod's tool directive (not the
# library's go.mod, which every team's module inherits), over both modules,
# the other modules and the examples with its default check set (every
# check but the few it leaves off by default; staticcheck -list-checks). A
# finding that is right to keep is silenced where it stands with a
# //lint:ignore CHECK reason comment.
lint:
	@sc=$$(cd $(E2E) && $(GO) tool -n staticcheck) || exit 1; rc=0; \
	echo "$$($$sc -version): library module"; $$sc ./... || rc=1; \
	echo "staticcheck: e2e module"; (cd $(E2E) && $$sc ./...) || rc=1; \
	for d in $(MODULES) $(EXAMPLES); do echo "staticcheck: $$d"; (cd $$d && $$sc ./...) || rc=1; done; \
	exit $$rc

# drill: the outage drill on this machine (see README): synthesizes, then runs
# two local regions from cdk.out and fails region A's Kinesis while producers
# send 3,000 records/s in batches of 100. Options:
# make drill DRILL_FLAGS="-failure hang -return empty -rate 300 -batch 10".
DRILL_FLAGS ?=
drill: synth
	cd $(E2E) && $(GO) run ./drill/cmd/drill -cdk-out $(CURDIR)/cdk.out -out $(CURDIR)/drill-report $(DRILL_FLAGS)

# synth-time: the app's warm synth time next to a one-resource app's.
synth-time: deps
	$(GO) test -run '^$$' -bench Synth -benchtime 3x .

# bench: CPU per record on one core (-cpu 1; records/cpu-s counts CPU time,
# which a shared machine disturbs less than records/s), replay's drain rate,
# bootstrap sizes and each bootstrap's init duration under aws-lambda-rie
# (init-ms, target <= 50); then e2e/benchtargets prints each of issue 10's
# figures with its target. The README's performance section quotes its output.
bench: deps
	$(GO) test -run '^$$' -bench . -benchmem -cpu 1 -count 3 ./lambdas/... | tee bench.txt
	cd client && $(GO) test -run '^$$' -bench . -benchmem -cpu 1 -count 3 ./... | tee -a $(CURDIR)/bench.txt
	cd $(E2E) && $(GO) test -count=1 -v -run TestBootstrapSizes ./lambdas/ | grep bootstrap | tee -a $(CURDIR)/bench.txt
	cd $(E2E) && $(GO) test -run '^$$' -bench Init -benchtime 10x -count 3 ./lambdas/ | grep -E '^(Benchmark|ok|FAIL)' | tee -a $(CURDIR)/bench.txt
	cd $(E2E) && $(GO) run ./benchtargets < $(CURDIR)/bench.txt | tee -a $(CURDIR)/bench.txt
