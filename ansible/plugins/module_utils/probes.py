# -*- coding: utf-8 -*-
# Copyright: hostnet contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Connectivity probes run on the managed host around a guarded apply.

A probe is ``{type: ping, address, interface}`` (one ICMP echo answered) or
``{type: tcp, address, port}`` (a TCP connection accepted). Each is retried until it passes
or its time is up, as a network that has just changed may need a moment (neighbour
discovery, a bridge port's forwarding delay).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import socket
import time

PROBE_SPEC = dict(
    type=dict(type='str', required=True, choices=['ping', 'tcp']),
    address=dict(type='str', required=True),
    port=dict(type='int'),
    interface=dict(type='str'),
)


def describe(probe):
    if probe['type'] == 'tcp':
        return 'tcp %s port %s' % (probe['address'], probe.get('port'))
    via = ' via %s' % probe['interface'] if probe.get('interface') else ''
    return 'ping %s%s' % (probe['address'], via)


def _once(module, probe):
    """(passed, detail) of one attempt."""
    if probe['type'] == 'tcp':
        try:
            conn = socket.create_connection((probe['address'], probe['port']), timeout=1)
            conn.close()
            return True, 'connected'
        except (OSError, socket.error) as e:
            return False, str(e)
    ping = module.get_bin_path('ping', required=True)
    cmd = [ping, '-n', '-c', '1', '-W', '1']
    if probe.get('interface'):
        cmd += ['-I', probe['interface']]
    rc, out, err = module.run_command(cmd + [probe['address']], check_rc=False)
    if rc == 0:
        return True, 'answered'
    lines = [line for line in (err or out or '').splitlines() if line.strip()]
    return False, lines[-1] if lines else 'no answer'


def run_probe(module, probe, timeout):
    """Retries one probe for up to ``timeout`` seconds; returns its result record."""
    deadline = time.time() + max(timeout, 1)
    attempts = 0
    while True:
        attempts += 1
        passed, detail = _once(module, probe)
        if passed or time.time() >= deadline:
            return dict(probe=describe(probe), passed=passed, detail=detail, attempts=attempts)
        time.sleep(0.5)


def check_all(module, probes, timeout):
    """Runs every probe; returns (all passed, results)."""
    results = [run_probe(module, p, timeout) for p in probes or []]
    return all(r['passed'] for r in results), results


def validate(module, probes):
    for i, p in enumerate(probes or []):
        if p['type'] == 'tcp' and not p.get('port'):
            module.fail_json(msg='probes[%d]: a tcp probe needs a port' % i)
