#!/usr/bin/env bash
# torchrun plumbing shared by dist_train.sh and dist_test.sh:
#   tools/dist_launch.sh TOOL.py NPROC [tool args...]
# Multi-node: set NNODES, NODE_RANK, MASTER_ADDR (and PORT) on every node.
set -euo pipefail
TOOL=$1
NPROC=$2
HERE=$(cd "$(dirname "$0")" && pwd)
exec "${PYTHON:-python}" -m torch.distributed.run \
    --nnodes="${NNODES:-1}" --node_rank="${NODE_RANK:-0}" \
    --master_addr="${MASTER_ADDR:-127.0.0.1}" --master_port="${PORT:-29500}" \
    --nproc_per_node="$NPROC" "$HERE/$TOOL" "${@:3}" --launcher pytorch
