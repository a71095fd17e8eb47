#!/usr/bin/env bash
# A Slurm job array that shards one large verify corpus across nodes.
#   sbatch scripts/slurm-verify.sh            (16 shards of 200 000 cases)
# then, when every task has finished:
#   .build/release/logitbounds merge shards/shard-*.json --out merged
# Build once beforehand on the shared filesystem: swift build -c release --product logitbounds
# Slurm opens each task's log before the script runs, so it goes to the submission folder
# (%x-%A_%a.out: job name, array job id, task id), which exists; a logs/ folder would have to.
# A task exits 1 when its shard holds a certified violation, so Slurm marks it FAILED:
# look in shards/ and merged/ rather than rerunning.
#SBATCH --job-name=logitbounds-verify
#SBATCH --array=1-16
#SBATCH --cpus-per-task=2
#SBATCH --time=04:00:00
#SBATCH --output=%x-%A_%a.out
set -uo pipefail
mkdir -p shards
CASES=${CASES:-200000}
SEED=${SEED:-1}
.build/release/logitbounds verify --cases "$CASES" --seed "$SEED" \
  --shard "${SLURM_ARRAY_TASK_ID}/${SLURM_ARRAY_TASK_COUNT}" \
  --threads "${SLURM_CPUS_PER_TASK:-2}" --json > "shards/shard-${SLURM_ARRAY_TASK_ID}.json"
