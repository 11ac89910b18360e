#!/usr/bin/env bash
# Multi-process training through torchrun and mmengine's distributed runner.
#   tools/dist_train.sh CONFIG NPROC [train.py args...]
# Without CUDA the processes train on the CPU with the gloo backend.
set -euo pipefail
exec "$(dirname "$0")/dist_launch.sh" train.py "$2" "$1" "${@:3}"
