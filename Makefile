# twinstream: the README's two set-up commands are `make synth` and `make test`.
SHELL := /bin/bash
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export CI ?=

GO ?= go
# -count=1: go test caches results even when handler sources it builds change.
GOTEST_FLAGS ?= -count=1 -timeout 30m

.PHONY: test deps bench vet

# deps installs what the tests need: the pinned npm stand-ins (kinesalite,
# local-aws-sqs, the CDK CLI) and the Go modules and tools (aws-lambda-rie).
deps: node_modules/.package-lock.json
	$(GO) mod download

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund

vet:
	$(GO) vet ./...

test: deps vet
	$(GO) test $(GOTEST_FLAGS) ./...

bench: deps
	$(GO) test -run '^$$' -bench . -benchmem -count 5 ./lambdas/... | tee bench.txt
