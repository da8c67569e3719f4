#!/bin/bash
# Submit the sweep's job array and its report, which waits for every array task to end well.
#   export SWEEP_DB=postgresql://sweeps:...@db-host:5432/sweeps      # once: python examples/slurm/setup_db.py
#   bash examples/slurm/submit.sh lab-run-1 [CONFIG [--set key=value ...]]
# A task that failed (time limit, node lost) leaves the report pending: submit the same command again; the
# study resumes where it stopped.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
export SWEEP_STUDY=${1:?usage: submit.sh STUDY [CONFIG [--set key=value ...]]}
export SWEEP_CONFIG=${2:-configs/default.yaml}
shift $(( $# < 2 ? $# : 2 ))
ARRAY_ID=$(sbatch --parsable "$HERE/sweep.sbatch" "$@")
ARRAY_ID=${ARRAY_ID%%;*}  # "id;cluster" on multi-cluster set-ups
REPORT_ID=$(sbatch --parsable --dependency="afterok:$ARRAY_ID" "$HERE/report.sbatch")
echo "study $SWEEP_STUDY: array job $ARRAY_ID, report job ${REPORT_ID%%;*} (squeue -u \$USER to follow)"
