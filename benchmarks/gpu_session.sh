#!/usr/bin/env bash
# Issue 14's speed checks in one or two device calls, each part under its own time limit.
#
# Here, before the call (the folders are git-ignored and travel with `carry`):
#   mkdir -p .whl .data && cp ../shared/wheels/*.whl .whl/ && cp ../shared/data/mnist.npz .data/
# Device tool: run(command="bash benchmarks/gpu_session.sh speed", carry=[".whl", ".data"], timeout_s=420)
#              run(command="bash benchmarks/gpu_session.sh rest", carry=[".whl", ".data"], timeout_s=420)
# The second call comes within the machine's idle window, so it finds the machine warm.
# Budget (device status of 2026-12-06): 15 minutes of device time a session, the machine's start
# included, so the two calls above do not both fit at their full limits. Run `speed` first (the
# acceptance table); give `rest` the timeout_s that budget_left_s allows: its parts run in order of
# importance (gpu tests, ShRB, streams), each keeps what it wrote when the call is cut, and
# $OUT/parts.txt says which finished.
# A session of its own:
#              run(command="bash benchmarks/gpu_session.sh betavae", carry=[".whl"], timeout_s=600)
# betavae = issue 14's long run (benchmarks/betavae_shards.py): $OUT/betavae.tar.gz holds the report,
# figures, every run's log and scores; unpack it into reports/ and copy to docs/figures/betavae_dsprites/.
# Parts: speed = throughput (pythae vs tight loop vs cfae's Trainer); rest = gpu tests (CUDA graphs
# against eager, NCCL with one process against none), ShRB, streams (1000 batched vs one at a time),
# repeatability (one CUDA training twice, compared weight for weight).
# Each part writes $OUT/<part>.jsonl (its JSON lines) and $OUT/<part>.err; $OUT/parts.txt lists
# each part's exit status and seconds. Results go to docs/results.md with the device named.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/gpu-session}
mkdir -p "$OUT" /tmp/gpu-session-runs
for wheel in .whl/*.whl; do  # one at a time: a wheel for another Python must not stop the others
    python3 -m pip install -q --no-index --no-deps --target /tmp/site "$wheel" >>"$OUT/pip.txt" 2>&1
done
export PYTHONPATH="$PWD/src:/tmp/site" CFAE_DATA="$PWD/.data"
python3 - <<'EOF' || exit 3
import importlib.util, sys
needed = ("torch", "numpy", "scipy", "sklearn", "matplotlib", "PIL", "safetensors", "pydantic", "typer", "rich", "yaml", "pytest", "pythae")
missing = [name for name in needed if importlib.util.find_spec(name) is None]
if missing:
    sys.exit(f"gpu_session.sh: these modules are not importable on this machine: {', '.join(missing)}")
EOF
nvidia-smi >"$OUT/nvidia-smi.txt" 2>&1

part() {  # part NAME SECONDS COMMAND...: run COMMAND under a time limit, record its status and time
    local name=$1 limit=$2 start=$SECONDS
    shift 2
    timeout "$limit" "$@" >"$OUT/$name.jsonl" 2>"$OUT/$name.err"
    echo "$name rc=$? $((SECONDS - start)) s" | tee -a "$OUT/parts.txt"
}

parts=("$@")
[ ${#parts[@]} -eq 0 ] && parts=(speed rest)
for chosen in "${parts[@]}"; do
    case $chosen in
    speed)
        part throughput 380 python3 benchmarks/gpu_throughput.py --epochs 3 --batches 100,512 \
            --modes off:fp32,reduce-overhead:fp32,off:bf16
        ;;
    rest)
        part gpu_tests 120 python3 -m pytest -q -m gpu -p no:cacheprovider tests/test_training.py tests/test_distributed.py
        part shrb 40 python3 benchmarks/shrb_speed.py --device cuda --repeats 20
        part stream_vae 60 python3 -m cfae.cli train vae -d mnist --network conv --latent-dim 16 --epochs 5 \
            --device cuda --quiet --out /tmp/gpu-session-runs/vae
        part stream_classifier 60 python3 -m cfae.cli train-classifier -d mnist --network mlp --epochs 3 --quiet \
            --out /tmp/gpu-session-runs/classifier
        part streams 100 python3 benchmarks/stream_speed.py --run /tmp/gpu-session-runs/vae \
            --model /tmp/gpu-session-runs/classifier --streams 1000 --sequential 50 --device cuda
        part repeatability 60 python3 benchmarks/repeatability.py --threads 16 --repeats 2 \
            --work /tmp/gpu-session-runs/repeat -- vae -d mnist --network conv --latent-dim 16 --epochs 1 \
            --limit 10000 --device cuda
        ;;
    betavae)  # a call of its own: 9 beta-VAEs, up to BETAVAE_EPOCHS (default 100) as time allows, then the report
        part betavae 560 python3 benchmarks/betavae_shards.py /tmp/gpu-session-runs/betavae \
            --epochs "${BETAVAE_EPOCHS:-100}" --deadline 500 --score-seconds 300
        cp /tmp/gpu-session-runs/betavae/betavae.tar.gz "$OUT/" 2>>"$OUT/betavae.err"
        ;;
    *)
        echo "gpu_session.sh: unknown part '$chosen'; valid choices: speed, rest, betavae" >&2
        exit 2
        ;;
    esac
done
