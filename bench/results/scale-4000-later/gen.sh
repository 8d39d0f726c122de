#!/bin/bash
# gen.sh N > file.yaml  (the bench's hostnet workload)
n=$1
echo "interfaces:"
for i in $(seq 1 $n); do echo "  - {name: hv$i, type: veth, veth: {peer: hp$i}}"; done
echo "networks:"
for i in $(seq 1 $n); do p="10.$((i/256)).$((i%256))"; echo "  - {name: hb$i, uplink: hv$i, ipv4: {address: [$p.1/24], gateway: $p.254}, source-routing: {table: $((1000+i)), priority: 3200}}"; done
