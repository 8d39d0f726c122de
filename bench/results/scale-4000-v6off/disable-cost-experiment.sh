#!/bin/bash
# Measures what writing disable_ipv6 on a new (down) device costs in a namespace full of IPv6 devices.
# usage: exp.sh NS BASE EXTRA MODE ; MODE: on | disable (down, disable_ipv6 per dev, up)
set -e
ns=$1; n=$2; m=$3; mode=$4
ip netns add $ns
ip -n $ns link set lo up
: > base.batch; : > a.batch; : > b.batch
for i in $(seq 1 $n); do
  echo "link add hb$i type bridge stp_state 0" >> base.batch
  echo "link set hb$i up" >> base.batch
  echo "link add hv$i type veth peer name hp$i" >> base.batch
  echo "link set hv$i master hb$i up" >> base.batch
  echo "link set hp$i up" >> base.batch
done
for i in $(seq 1 $m); do
  echo "link add xv$i type veth peer name xp$i" >> a.batch
  echo "link set xv$i master hb$i" >> a.batch
  echo "link set xv$i up" >> b.batch
  echo "link set xp$i up" >> b.batch
done
ip -n $ns -batch base.batch
sleep 3
t0=$(date +%s.%N)
ip -n $ns -batch a.batch
if [ $mode = disable ]; then
  ip netns exec $ns bash -c "for i in \$(seq 1 $m); do echo 1 > /proc/sys/net/ipv6/conf/xv\$i/disable_ipv6; echo 1 > /proc/sys/net/ipv6/conf/xp\$i/disable_ipv6; done"
fi
t1=$(date +%s.%N)
ip -n $ns -batch b.batch
t2=$(date +%s.%N)
echo "$mode base=$n extra=$m create(+disable) $(echo "$t1-$t0" | bc) s, up $(echo "$t2-$t1" | bc) s; routes6: $(ip -n $ns -6 route show table all | wc -l)"
