#!/usr/bin/env bash
# chain.sh PID SEED...: after process PID ends, seeds SEED... one after another, one thread each
pid=$1; shift
while kill -0 $pid 2>/dev/null; do sleep 20; done
for seed in "$@"; do ./one.sh $seed 1 > s$seed.log 2>&1; done
