#!/usr/bin/env bash
# Prepares the fleet tests (tests/fleet_e2e.rs), as root on Debian 12:
#  * openssh-server and openssh-client: each test host is a network namespace with its own
#    sshd, which the test starts on the host's management address with keys it generates.
#    The package's own service is neither started nor configured by this script;
#  * python3-venv, and a venv with the pinned ansible-core (requirements.txt);
#  * nftables: the management-cutting change of the test is a firewall rule.
#
# usage: tests/fleet/setup.sh          (the venv goes to $HOSTNET_FLEET_VENV, default target/fleet-venv)
set -euo pipefail
cd "$(dirname "$0")/../.."
VENV=${HOSTNET_FLEET_VENV:-target/fleet-venv}

export DEBIAN_FRONTEND=noninteractive
need=()
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v ssh >/dev/null || need+=(openssh-client)
command -v nft >/dev/null || need+=(nftables)
/usr/bin/python3 -c 'import ensurepip' 2>/dev/null || need+=(python3-venv)
if [ ${#need[@]} -gt 0 ]; then
    # openssh-server's scripts would start the machine's sshd: a policy-rc.d that refuses
    # service starts prevents that (removed again unless the machine had one).
    if [ -e /usr/sbin/policy-rc.d ]; then
        apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
    else
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null || { rm -f /usr/sbin/policy-rc.d; exit 1; }
        rm -f /usr/sbin/policy-rc.d
    fi
fi

if [ ! -x "$VENV/bin/ansible-playbook" ] || ! cmp -s tests/fleet/requirements.txt "$VENV/.requirements.txt"; then
    rm -rf "$VENV"
    /usr/bin/python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check -r tests/fleet/requirements.txt
    cp tests/fleet/requirements.txt "$VENV/.requirements.txt"
fi
"$VENV/bin/python" -c 'from ansible.release import __version__; print("ansible-core", __version__)'
