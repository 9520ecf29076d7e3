# The reports over seeds 0-6, written without training: seeds 0-4 from their recorded scores
# (docs/figures/betavae_dsprites/{epochs40,seeds5}/runs; no checkpoints there), seeds 5 and 6 from reports/bv7
# (chain.sh, stopped after seed 5's beta 1 and 4 reached 40 epochs; chain2.sh: seed 5, beta 16).
# The report draws its traversals from the first seed's checkpoints, so that seed goes first.
set -euo pipefail
cd /work/main
source "$(dirname "$0")/report.sh"
report reports/bv7/all7e20 20 6,5,0,1,2,3,4 6   # 7 seeds at 20 epochs; seed 6 stopped at 20, so its checkpoints match
report reports/bv7/all6e40 40 5,0,1,2,3,4 5     # the 6 seeds that reached 40 epochs
