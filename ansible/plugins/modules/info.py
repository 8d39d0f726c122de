#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: hostnet contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: info
short_description: Read a host's network as hostnet sees it - state, networks, pending checkpoint, drift
description:
  - Reports the host's network state in hostnet's schema, the logical networks in force, a change still on
    probation (its checkpoint and deadline), the watchdog's last rollback, and drift.
  - Drift is every difference between the host and a desired state. Given O(desired_state) or O(src), it is
    the plan C(hostnet apply --dry-run) makes for that state; otherwise it is what C(hostnet status) reports
    against the committed state, on hostnet versions that have that command.
  - Changes nothing; runs in check mode too.
version_added: "0.1.0"
author:
  - hostnet contributors (!UNKNOWN)
options:
  desired_state:
    description: A desired state to measure drift against, as a dictionary in hostnet's input schema.
    type: dict
  src:
    description: A desired-state file on the host to measure drift against.
    type: path
  netns:
    description: Read this named network namespace of the host.
    type: str
  executable:
    description: The hostnet program on the managed host, by path or by name on E(PATH).
    type: str
    default: hostnet
attributes:
  check_mode:
    support: full
    description: Reads only.
  diff_mode:
    support: none
    description: Nothing to show.
  platform:
    support: full
    platforms: posix
    description: Linux hosts with hostnet installed.
seealso:
  - module: hostnet.hostnet.apply
'''

EXAMPLES = r'''
- name: Read the host's network
  hostnet.hostnet.info:
  register: net

- name: Fail when a host has drifted from its desired state
  hostnet.hostnet.info:
    desired_state: "{{ hostnet_desired_state }}"
  register: net
  failed_when: net.status.drifted

- name: List hosts with a change still on probation
  ansible.builtin.debug:
    msg: "{{ inventory_hostname }} rolls back at {{ net.status.checkpoint.deadline }}"
  when: net.status.checkpoint
'''

RETURN = r'''
status:
  description: What hostnet reports about the host.
  returned: always
  type: dict
  contains:
    source:
      description: V(hostnet status) on hostnet versions with that command, else V(hostnet show).
      type: str
      returned: always
    state:
      description: The host's network state in hostnet's input schema (the document of C(hostnet show -o json)).
      type: dict
      returned: always
    networks:
      description:
        - The logical networks in force, each with at least its C(name). From C(hostnet status), everything it
          reports of each (device, uplink, addresses, gateways, table with its routes and rules, firewall, DHCP
          server, C(drift)). Without that command, the networks of the given desired state, or null.
      type: list
      elements: dict
      returned: always
    checkpoint:
      description:
        - The change on probation, or null. C(created) and C(deadline) as UTC times, C(created_epoch) and
          C(deadline_epoch) in seconds since the epoch.
      type: dict
      returned: always
      sample: {created: "2026-12-07 02:48:45 UTC", deadline: "2026-12-07 02:50:45 UTC", deadline_epoch: 1796611845}
    unfinished_apply:
      description: An apply that died midway (from C(hostnet status)), or null.
      type: raw
      returned: always
    last_rollback:
      description: The watchdog's last message (a change that was not committed in time), or null.
      type: str
      returned: always
    drift:
      description:
        - The differences between the host and the desired state (O(desired_state) or O(src)), else between the
          host and its record (C(hostnet status)), as plan entries (see M(hostnet.hostnet.apply)'s
          RV(hostnet.hostnet.apply#module:plan)); null when there is nothing to compare with.
      type: list
      elements: dict
      returned: always
    drift_errors:
      description: Why the record could not be planned at all (an uplink that is gone), from C(hostnet status).
      type: list
      elements: str
      returned: always
    drifted:
      description: Whether there is drift; null when there is nothing to compare with.
      type: bool
      returned: always
    notes:
      description: Other facts an older C(hostnet show) gives only as comments (DHCP servers, firewall).
      type: list
      elements: str
      returned: always
'''

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.hostnet.hostnet.plugins.module_utils import hostnet as hn


def main():
    module = AnsibleModule(
        argument_spec=dict(
            desired_state=dict(type='dict'),
            src=dict(type='path'),
            netns=dict(type='str'),
            executable=dict(type='str', default='hostnet'),
        ),
        mutually_exclusive=[('desired_state', 'src')],
        supports_check_mode=True,
    )
    hostnet = hn.find_hostnet(module)
    desired = None
    if module.params['desired_state'] is not None or module.params['src']:
        desired = hn.desired_document(module)
    module.exit_json(changed=False, status=hn.read_status(module, hostnet, desired))


if __name__ == '__main__':
    main()
