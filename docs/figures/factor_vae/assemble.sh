#!/usr/bin/env bash
# assemble.sh OUT SEED...: the report over SEEDS from hard links of the recorded runs (tc20/all: VAE,
# beta-VAE 4 and 16, beta-TCVAE 6) and the FactorVAE runs (reports/fv20/sSEED); every score is cached,
# nothing is trained. The 4-seed report: assemble.sh reports/fv20/all 0 1 2 3 (session of 2026-12-07,
# fourth); the 6-seed one: assemble.sh reports/fv20/all6 0 1 2 3 4 5 (fifth).
set -e
out=$1; shift
runs=/work/main/$out/betavae-dsprites/runs
mkdir -p $runs
for s in "$@"; do
  for r in beta1 beta4 beta16 tcbeta6; do
    [ -e $runs/$r-d10-s$s ] || cp -al /work/main/reports/tc20/all/betavae-dsprites/runs/$r-d10-s$s $runs/
  done
  [ -e $runs/fgamma35-d10-s$s ] || cp -al /work/main/reports/fv20/s$s/betavae-dsprites/runs/fgamma35-d10-s$s $runs/
done
cd /work/main
CFAE_DATA=/work/shared/data OMP_NUM_THREADS=2 .venv/bin/cfae reproduce betavae-dsprites --out $out --seeds "$(IFS=,; echo "$*")" --betas 1,4,16 --tc-betas 6 --factor-gammas 35 --epochs 20 --no-baselines --mnist-epochs 0 --sweep-betas "" --sweep-latent-dims "" --quiet
