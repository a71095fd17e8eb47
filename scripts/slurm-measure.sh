#!/usr/bin/env bash
# A Slurm job array that measures one large teacher/student pair by rows across nodes.
#   TEACHER=teacher.npz STUDENT=student.npz sbatch scripts/slurm-measure.sh     (8 shards)
# then, when every task has finished:
#   .build/release/logitbounds merge partials/part-*.json --out measured
# Each task reads only its rows of f and w (g whole) and writes its sufficient
# statistics; the merge prints the report of all rows (bounds as double-precision
# screens). Every task must get the same pivot options (here the defaults).
# Build once beforehand on the shared filesystem: swift build -c release --product logitbounds
# Slurm opens each task's log before the script runs, so it goes to the submission folder
# (%x-%A_%a.out: job name, array job id, task id), which exists; a logs/ folder would have to.
#SBATCH --job-name=logitbounds-measure
#SBATCH --array=1-8
#SBATCH --cpus-per-task=2
#SBATCH --time=01:00:00
#SBATCH --output=%x-%A_%a.out
set -euo pipefail
: "${TEACHER:?set TEACHER to the teacher's .npz}" "${STUDENT:?set STUDENT to the student's .npz}"
mkdir -p partials
.build/release/logitbounds measure "$TEACHER" "$STUDENT" \
  --shard "${SLURM_ARRAY_TASK_ID}/${SLURM_ARRAY_TASK_COUNT}" \
  --partial "partials/part-${SLURM_ARRAY_TASK_ID}.json"
