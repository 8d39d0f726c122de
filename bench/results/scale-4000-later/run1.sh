#!/bin/bash
# run1.sh N TAG [perf]: fresh namespace, hostnet apply of wN.yaml, timed (wall/user/sys), optional perf -a -g
set -e
n=$1; tag=$2; mode=$3
ns=scale-$tag
bin=${BIN:-/work/wt/scale/target/release/hostnet-bench}
ip netns add $ns
ip -n $ns link set lo up
export HOSTNET_STATE_DIR=/tmp/scale/state-$tag HOSTNET_LIB_DIR=/tmp/scale/lib-$tag
echo "load: $(cat /proc/loadavg)"
if [ "$mode" = perf ]; then
  perf record -a -g -o perf-$tag.data -- /usr/bin/time -f "wall %e user %U sys %S" bash -c "exec -a hostnet $bin apply w$n.yaml --netns $ns -o json > out-$tag.json" 2>&1 | grep -v '^\[' 
else
  /usr/bin/time -f "wall %e user %U sys %S" bash -c "exec -a hostnet $bin apply w$n.yaml --netns $ns -o json > out-$tag.json"
fi
python3 -c "import json;d=json.load(open('out-$tag.json'));print('timings', d.get('timings-ms'))"
echo "load: $(cat /proc/loadavg)"
