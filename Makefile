# Makefile - a thin wrapper over pharos.sh and bench/run.sh for those who
# type `make`; the build itself is meson + ninja (see docs/building.md).

.PHONY: all build run test bench bench-quick

all: build

build:
	./pharos.sh build

run:
	./pharos.sh run

test:
	./pharos.sh test

bench:
	bench/run.sh

bench-quick:
	bench/run.sh --quick
