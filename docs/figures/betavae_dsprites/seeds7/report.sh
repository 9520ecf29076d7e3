# report FOLDER EPOCHS SEEDS FIRST_SEED, sourced by assemble.sh and assemble2.sh: link the runs of seeds 0-6 into
# FOLDER, then write FOLDER/betavae-dsprites/report.md without training.
report() {  # report FOLDER EPOCHS SEEDS FIRST_SEED: link the runs, then write FOLDER/betavae-dsprites/report.md
    local all=$1/betavae-dsprites/runs
    mkdir -p "$all"
    cp -r docs/figures/betavae_dsprites/epochs40/runs/* docs/figures/betavae_dsprites/seeds5/runs/* "$all"/
    for run in reports/bv7/root/shards/*/betavae-dsprites/runs/*; do  # scores and logs; checkpoints of FIRST_SEED only
        mkdir -p "$all/$(basename "$run")" && cp "$run"/*.json "$run"/log.jsonl "$all/$(basename "$run")/"
        case $run in *-s$4) cp -al "$run/checkpoints" "$all/$(basename "$run")/" ;; esac
    done
    CFAE_DATA=/work/shared/data OMP_NUM_THREADS=1 .venv/bin/cfae reproduce betavae-dsprites --out "$1" \
        --seeds "$3" --betas 1,4,16 --epochs "$2" --sweep-latent-dims "" --mnist-epochs 0 --no-baselines --quiet
}
