# CausalVAE on morpho-scm with the `cpu` preset's settings, with intensity standardised by 30 or by its
# train sd (48.3) instead of 60: does the label term's root-variance charge pick the graph's direction?
# Two runs at a time, one thread each; then each run's graph scored as the reproduction scores it.
set -euo pipefail
cd /work/main
export CFAE_DATA=/work/shared/data OMP_NUM_THREADS=1
train() {  # train SCALE SEED
    .venv/bin/cfae train causalvae -d morpho-scm --network conv -o "hidden=[16,32,64]" -o "concept_scale=[0.63,$1]" \
        --epochs 6 --batch-size 64 --lr 1e-3 --seed "$2" --quiet --out "reports/cv-morpho-scale/i$1-seed-$2" > /dev/null
}
for scale in 30 48.3; do
    train $scale 0 & train $scale 1 & wait
    train $scale 2
done
.venv/bin/python benchmarks/causal_graph_of_runs.py reports/cv-morpho-scale/i*-seed-* \
    --heatmap docs/figures/causalvae/morpho-scm/scale_adjacency.png > docs/figures/causalvae/morpho-scm/scale_scores.jsonl
