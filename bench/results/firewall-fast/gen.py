import sys
def net(i, iso):
    a,b=i//250,i%250
    return (f"  - name: fb{i}\n    ipv4: {{address: [10.{a}.{b}.1/24]}}\n    firewall:\n      "
     f"masquerade: {{out-interface: up0}}\n      isolate: {'true' if iso else 'false'}\n      "
     f"allow-from-guests: [{{proto: udp, port: 53}}, {{proto: udp, port: 67}}]\n      "
     f"floating-ips: [{{external: 100.64.{a}.{b}, internal: 10.{a}.{b}.5, interface: up0}}]\n      "
     f"port-forwards: [{{proto: tcp, external-port: {10000+i}, internal: 10.{a}.{b}.5, internal-port: 22, interface: up0}}]\n")
n=int(sys.argv[1])
hdr="firewall: {backend: nftables}\n"
open(f"whole{n}.yaml","w").write(hdr+"interfaces:\n  - {name: up0, type: veth, veth: {peer: up0p}}\nnetworks:\n"+"".join(net(i,i%2==0) for i in range(n)))
m=n//2
open(f"flip{n}.yaml","w").write(hdr+"networks:\n"+net(m, not (m%2==0)))
open(f"back{n}.yaml","w").write(hdr+"networks:\n"+net(m, m%2==0))
