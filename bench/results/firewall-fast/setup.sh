#!/bin/bash
# usage: setup.sh BIN N  -- fresh netns fwfast-prof with N networks applied
set -e
BIN=$1; N=$2
export HOSTNET_STATE_DIR=/run/fwfast-state HOSTNET_LIB_DIR=/tmp/fwfast/lib
ip netns del fwfast-prof 2>/dev/null || true
rm -rf /run/fwfast-state /tmp/fwfast/lib
ip netns add fwfast-prof
$BIN apply /tmp/fwfast/whole$N.yaml --netns fwfast-prof -o json | python3 -c 'import json,sys; v=json.load(sys.stdin); print("setup", v["changed"], v["timings-ms"])'
