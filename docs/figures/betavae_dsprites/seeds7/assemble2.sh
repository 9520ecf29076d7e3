# The report over seeds 0-6 at 40 epochs, written without training: seeds 0-4 from their recorded scores
# (docs/figures/betavae_dsprites/{epochs40,seeds5}/runs), seeds 5 and 6 from reports/bv7 (chain.sh, chain2.sh, chain3.sh).
# The report draws its traversals from the first seed's checkpoints, so that seed goes first.
set -euo pipefail
cd /work/main
source "$(dirname "$0")/report.sh"
report reports/bv7/all7e40 40 6,5,0,1,2,3,4 6   # 7 seeds at 40 epochs
