#!/bin/bash
# usage: exp.sh NS N MODE   (MODE: on = IPv6 as usual, portsoff = veth ports/peers created with IPv6 disabled)
set -e
ns=$1; n=$2; mode=$3
ip netns add $ns
ip -n $ns link set lo up
: > br.batch; : > veth.batch
for i in $(seq 1 $n); do
  echo "link add hb$i type bridge stp_state 0" >> br.batch
  echo "link set hb$i up" >> br.batch
  echo "link add hv$i type veth peer name hp$i" >> veth.batch
  echo "link set hv$i master hb$i up" >> veth.batch
  echo "link set hp$i up" >> veth.batch
done
t0=$(date +%s.%N)
ip -n $ns -batch br.batch
t1=$(date +%s.%N)
if [ $mode = portsoff ]; then ip netns exec $ns sysctl -qw net.ipv6.conf.default.disable_ipv6=1; fi
ip -n $ns -batch veth.batch
t2=$(date +%s.%N)
echo "$mode N=$n bridges $(echo "$t1-$t0" | bc) s, veth pairs $(echo "$t2-$t1" | bc) s; routes6: $(ip -n $ns -6 route show table all | wc -l)"
