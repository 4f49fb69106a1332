#!/usr/bin/env bash
# A rollsim run split over a Slurm job array of 8 tasks (SLURM_ARRAY_TASK_ID = 0..7).
# Submit with `sbatch slurm-array.sh`; when all tasks are done, merge:
#   rollsim merge results/run-1/shard-* --out results/run-1/report
#SBATCH --job-name=rollsim
#SBATCH --array=0-7
#SBATCH --cpus-per-task=2
#SBATCH --mem=1G
#SBATCH --output=results/run-1/slurm-%a.log
set -euo pipefail
shards=8
rollsim run scenarios/seed-canary.toml --trials 100000 --seed 1 \
  --shard "${SLURM_ARRAY_TASK_ID}/${shards}" \
  --out "results/run-1/shard-${SLURM_ARRAY_TASK_ID}"
