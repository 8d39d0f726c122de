#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: hostnet contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: apply
short_description: Make a host's network match a hostnet desired state, with a guarded commit
description:
  - Runs C(hostnet apply) on the managed host with a desired state given inline (O(desired_state)) or
    as a file on the host (O(src)). hostnet plans the change, applies it over netlink, verifies it and
    rolls it back by itself if anything fails.
  - In check mode hostnet only plans and checks the plan on a model of the host (C(--dry-run)); nothing
    changes. With C(--diff) the task shows, object by object, what the plan touches, as it is and as it
    will be.
  - The task reports C(changed) exactly when hostnet's plan was not empty, so a second run reports no
    change.
  - With O(confirm_timeout) (the default), the change is applied on probation. The controller then opens
    a fresh connection to the host over its management address and runs the O(probes) on the host; only
    when both succeed does it run C(hostnet commit). If the host cannot be reached, the host's own
    watchdog rolls the change back when the timeout expires, and the task fails saying so. A probe that
    fails rolls the change back at once. This part runs in the collection's action plugin on the
    controller.
  - hostnet's exit codes become task failures carrying hostnet's message. Exit code 1 means the apply
    failed and was rolled back, 2 means the desired state is invalid and nothing changed, 3 means the
    rollback is incomplete and the host is half-configured.
version_added: "0.1.0"
author:
  - hostnet contributors (!UNKNOWN)
options:
  desired_state:
    description:
      - The desired state as a dictionary, in hostnet's input schema (C(interfaces), C(routes), C(route-rules),
        C(networks), C(firewall), C(settings)). It is handed to hostnet on its standard input.
      - Mutually exclusive with O(src).
    type: dict
  src:
    description:
      - Path of a desired-state YAML file on the managed host.
      - Mutually exclusive with O(desired_state).
    type: path
  netns:
    description:
      - Apply inside this named network namespace of the host (C(/run/netns/NAME)) instead of the namespace
        the connection runs in.
    type: str
  executable:
    description:
      - The hostnet program on the managed host, by path or by name on E(PATH).
    type: str
    default: hostnet
  confirm_timeout:
    description:
      - Seconds the change stays on probation. Unless the controller commits it in that time, the host's
        watchdog rolls it back by itself, also when the change cut the connection. V(0) applies without
        a checkpoint and keeps the change at once.
      - It must leave time to reconnect and run the probes (O(probe_timeout)).
    type: int
    default: 120
  commit:
    description:
      - Commit the change once the host was reached again and the probes passed. With V(false) the change
        stays on probation; commit it with M(hostnet.hostnet.checkpoint) before O(confirm_timeout) expires.
    type: bool
    default: true
  probes:
    description:
      - Checks run on the host after the change, before the commit, in the manner of kubernetes-nmstate's
        probes. A probe that does not pass before the change (within O(probe_timeout)) is not used, and is
        reported in RV(probes_skipped).
      - Any selected probe that fails after the change rolls it back at once.
    type: list
    elements: dict
    default: []
    suboptions:
      type:
        description:
          - V(ping) waits for one ICMP echo reply from O(probes[].address), V(tcp) for a TCP connection
            to O(probes[].address) at O(probes[].port).
        type: str
        required: true
        choices: [ping, tcp]
      address:
        description: The address to ping or connect to (a gateway, a storage server, ...).
        type: str
        required: true
      port:
        description: The TCP port (V(tcp) probes only).
        type: int
      interface:
        description: The interface to ping through (V(ping) probes only).
        type: str
  probe_timeout:
    description:
      - Seconds the controller keeps trying to reach the host again after the change, and that each probe
        may take.
    type: int
    default: 30
  wait_for_rollback:
    description:
      - When the host cannot be reached after the change, wait until its watchdog has rolled the change back
        and the host answers again, so that the failure reports what happened and the next batch of a
        rollout starts from a settled fleet.
    type: bool
    default: true
  lock_timeout:
    description: Seconds hostnet waits for another hostnet command on the same namespace.
    type: int
    default: 30
attributes:
  check_mode:
    support: full
    description: hostnet's dry run; nothing changes.
  diff_mode:
    support: full
    description: Before and after of each object the plan touches.
  platform:
    support: full
    platforms: posix
    description: Linux hosts with hostnet installed.
notes:
  - The host needs hostnet and Python; nothing else. The connectivity check uses whatever connection Ansible
    uses. With the C(ssh) connection the action plugin adds C(ServerAliveInterval) to the connection (and
    restarts a running ControlMaster) unless C(ssh_args) already sets it, so that a change which cuts the
    connection during the apply is noticed within seconds rather than TCP's minutes.
  - A checkpoint still pending from another run makes hostnet refuse the apply; settle it with
    M(hostnet.hostnet.checkpoint).
seealso:
  - module: hostnet.hostnet.checkpoint
  - module: hostnet.hostnet.info
'''

EXAMPLES = r'''
- name: Converge the hypervisor's networks, guarded by a reachability check and a gateway ping
  hostnet.hostnet.apply:
    desired_state:
      networks:
        - name: mgmt
          uplink: eth0
          bridged: false
          ipv4: {address: ["{{ mgmt_address }}"], gateway: 192.0.2.254}
          default-route: true
        - name: vmnet
          uplink: eth1
          ipv4: {address: ["{{ vmnet_address }}"], gateway: 198.51.100.254}
    confirm_timeout: 120
    probes:
      - {type: ping, address: 192.0.2.254}

- name: Apply a file kept on the host, without a checkpoint
  hostnet.hostnet.apply:
    src: /etc/hostnet/host.yaml
    confirm_timeout: 0

- name: Show what would change (run the play with --check --diff)
  hostnet.hostnet.apply:
    src: /etc/hostnet/host.yaml
  check_mode: true
  register: plan

- name: Print the plan
  ansible.builtin.debug:
    var: plan.plan_summary
'''

RETURN = r'''
plan:
  description:
    - What hostnet planned, one entry per object, in the order hostnet runs it. Empty when the host already
      matches.
    - With a hostnet that prints its plan as text, RV(plan[].key) is the object's whole description,
      RV(plan[].network) is null and a change's RV(plan[].before) is null.
  returned: when hostnet planned
  type: list
  elements: dict
  contains:
    network:
      description: The logical network the object belongs to, if any.
      type: str
      returned: always
    kind:
      description: The object's kind (C(linux-bridge), C(address), C(route), C(rule), C(dhcp-server), ...).
      type: str
      returned: always
    key:
      description: What identifies the object within its kind.
      type: str
      returned: always
    action:
      description: What the plan does to it.
      type: str
      returned: always
      sample: create
    before:
      description: The object as it is now (null when it is created).
      type: raw
      returned: always
    after:
      description: The object as it will be (null when it is removed).
      type: raw
      returned: always
  sample:
    - {network: null, kind: linux-bridge, key: "vmnet stp off up", action: create, before: null,
       after: "linux-bridge vmnet stp off up"}
plan_summary:
  description: How many objects the plan creates, changes and removes.
  returned: when hostnet planned
  type: dict
  sample: {create: 12, change: 1, remove: 0}
plan_format:
  description: V(structured) when hostnet gave its plan as objects, V(text) when as strings.
  returned: when hostnet planned
  type: str
  sample: text
checkpoint:
  description:
    - The checkpoint the change is on probation under, or null when there is none (check mode, an empty
      plan, O(confirm_timeout=0)).
  returned: success
  type: dict
  sample: {deadline: "2026-12-07 02:49:15 UTC", deadline_epoch: 1796611755, timeout: 120}
committed:
  description: Whether the change is kept (committed, or applied without a checkpoint). False in check mode.
  returned: success
  type: bool
probes_selected:
  description: The probes that passed before the change, and so judge it.
  returned: when probes were given and not in check mode
  type: list
  elements: dict
probes:
  description: The results of the selected probes after the change.
  returned: when probes were selected and the host was reached again
  type: list
  elements: dict
  sample: [{probe: "ping 192.0.2.254", passed: true, detail: answered, attempts: 1}]
probes_skipped:
  description: The probes that did not pass before the change, and so were not used.
  returned: when probes were given and not in check mode
  type: list
  elements: dict
rolled_back:
  description: Whether the change was rolled back (by a failed probe, or by the host's watchdog).
  returned: failure after the change was applied
  type: bool
timings_ms:
  description: hostnet's own timings of the apply (query, plan, execute, verify).
  returned: success
  type: dict
guard_ms:
  description:
    - The controller's timings in milliseconds, each with its connection and module start-up - C(apply) (the
      apply module), C(reconnect) (a fresh connection and the ping module), C(commit) (the probes and the commit).
  returned: always
  type: dict
  sample: {apply: 412.0, reconnect: 380.5, commit: 455.1}
rc:
  description: hostnet's exit code when it failed.
  returned: failure
  type: int
hostnet_error:
  description: hostnet's own headline for a failure.
  returned: failure of hostnet
  type: str
  sample: apply failed; the previous state was restored and verified
details:
  description: hostnet's detail lines for a failure (the fields at fault, what is left behind).
  returned: failure
  type: list
  elements: str
'''

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.hostnet.hostnet.plugins.module_utils import hostnet as hn
from ansible_collections.hostnet.hostnet.plugins.module_utils import probes as pr


def argument_spec():
    return dict(
        desired_state=dict(type='dict'),
        src=dict(type='path'),
        netns=dict(type='str'),
        executable=dict(type='str', default='hostnet'),
        confirm_timeout=dict(type='int', default=120),
        commit=dict(type='bool', default=True),
        probes=dict(type='list', elements='dict', default=[], options=pr.PROBE_SPEC),
        probe_timeout=dict(type='int', default=30),
        wait_for_rollback=dict(type='bool', default=True),
        lock_timeout=dict(type='int', default=30),
    )


def select_probes(module, probes, timeout):
    """kubernetes-nmstate's rule: only probes that pass before the change can judge it."""
    selected, skipped = [], []
    for p in probes:
        record = pr.run_probe(module, p, timeout)
        (selected if record['passed'] else skipped).append((p, record))
    return [p for p, _r in selected], [r for _p, r in skipped]


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(),
        mutually_exclusive=[('desired_state', 'src')],
        required_one_of=[('desired_state', 'src')],
        supports_check_mode=True,
    )
    p = module.params
    pr.validate(module, p['probes'])
    if p['confirm_timeout'] < 0 or p['confirm_timeout'] > 86400:
        module.fail_json(msg='confirm_timeout must be between 0 and 86400 seconds')
    hostnet = hn.find_hostnet(module)
    path, data = hn.desired_document(module)
    args = ['apply', path, '-o', 'json', '--lock-timeout', str(p['lock_timeout'])] + hn.netns_args(module)

    result = dict(changed=False, committed=False, checkpoint=None)
    selected = []
    if module.check_mode:
        args.append('--dry-run')
    else:
        if p['probes']:
            selected, skipped = select_probes(module, p['probes'], p['probe_timeout'])
            result['probes_selected'] = selected
            result['probes_skipped'] = skipped
        if p['confirm_timeout'] > 0:
            args += ['--confirm-timeout', str(p['confirm_timeout'])]

    rc, out, err = hn.run(module, hostnet, args, data=data)
    report = hn.first_json(out)
    if rc != 0 or report is None or 'plan' not in report:
        msg, details, headline = hn.failure(rc, report, err)
        module.fail_json(msg=msg, rc=rc, details=details, hostnet_error=headline, **result)

    entries = hn.plan_entries(report['plan'])
    fmt = hn.plan_format(report['plan'])
    result.update(
        changed=bool(entries),
        plan=entries,
        plan_summary=hn.summary(entries),
        plan_format=fmt,
        timings_ms=hn.report_field(report, 'timings-ms'),
    )
    if module._diff and entries:
        result['diff'] = hn.diff_of(entries, fmt)
    if not module.check_mode:
        result['checkpoint'] = hn.checkpoint_of(report, out) if entries and p['confirm_timeout'] > 0 else None
        result['committed'] = result['checkpoint'] is None
    warnings = [line[len('warning: '):] for line in err.splitlines() if line.startswith('warning: ')]
    for w in warnings:
        module.warn(w)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
