# The two commands of the README are `make run` and `make test`; both install what they need.
SHELL := /bin/bash
export CARGO_TARGET_DIR ?= $(CURDIR)/target
PORT ?= 3000

.PHONY: run test bench load install stack-stop fmt lint lambda-build check-roots import bench-import admin

## Start DynamoDB Local (data kept in .local/dynamodb) + moto, create tables, serve on 127.0.0.1:$(PORT).
run:
	PORT=$(PORT) scripts/run.sh

## A legacy server's export (FROM=<dir> with users.jsonl, rooms.jsonl, tokens.jsonl) into the tables
## `make run` serves; ARGS=--dry-run checks it and writes nothing (docs/import.md).
import:
	FROM="$(FROM)" ARGS="$(ARGS)" scripts/import.sh

## The import at scale: generated exports of BENCH_IMPORT_SIZES users (5000 20000) into DynamoDB
## Local; accounts/s, the argon2id wrap's share, peak RSS per size. Prints only.
bench-import:
	scripts/bench-import.sh

## The operator tool: ARGS='disable --pk 7' (enable, signout, find --pk|--username|--phone, delete),
## on the local stack, or ARGS='--stack NAME ...' on a deployed one (docs/operator.md).
admin:
	scripts/admin.sh $(ARGS)

## Every test: unit, HTTP contract, events, concurrency; emulators started and stopped around them.
test:
	scripts/test.sh

install:
	scripts/stack.sh install
	scripts/stack.sh install-sam

## sam build: every function cross-compiled for arm64 Lambda, then each zipped bootstrap's size.
lambda-build:
	scripts/lambda-build.sh $(ARGS)

stack-stop:
	scripts/stack.sh stop

fmt:
	cargo fmt --all

lint:
	cargo clippy --workspace --all-targets -- -D warnings

## Figures (argon2id time, latencies through the local server, cold starts of every function under the
## Lambda emulator beside a floor and a GetItem function; BENCH_BEFORE=<rev> adds that commit); prints only.
bench:
	scripts/bench.sh

## Load: LOAD_USERS virtual users (64) for LOAD_SECONDS (30), then the invariants; prints only.
load:
	scripts/load.sh

## From a machine on the internet, before a deploy: do the providers' hosts (Apple, WeChat, QQ,
## Weibo) still chain to the roots compiled into the functions? (docs/security.md)
check-roots:
	scripts/check-roots.sh
