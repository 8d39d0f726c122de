#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: hostnet contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: checkpoint
short_description: Commit or roll back a hostnet change that is on probation
description:
  - A change applied with C(hostnet apply --confirm-timeout) (M(hostnet.hostnet.apply) with
    O(hostnet.hostnet.apply#module:confirm_timeout)) stays on probation until it is committed; if it is not
    committed in time, the host's watchdog rolls it back by itself.
  - O(state=committed) runs the O(probes) on the host first and commits only if all pass; if one fails,
    the change is rolled back at once and the task fails naming the probe.
  - O(state=rolled_back) undoes the pending change now (or returns to the state before an apply that
    died midway).
  - M(hostnet.hostnet.apply) uses this module itself for its guarded commit; use it directly to commit
    later (O(hostnet.hostnet.apply#module:commit=false)), for instance after checks of your own.
version_added: "0.1.0"
author:
  - hostnet contributors (!UNKNOWN)
options:
  state:
    description:
      - V(committed) keeps the pending change, V(rolled_back) undoes it.
    type: str
    choices: [committed, rolled_back]
    default: committed
  probes:
    description:
      - Checks that must pass on the host before the commit (O(state=committed) only).
    type: list
    elements: dict
    default: []
    suboptions:
      type:
        description: V(ping) for one ICMP echo reply, V(tcp) for an accepted TCP connection.
        type: str
        required: true
        choices: [ping, tcp]
      address:
        description: The address to ping or connect to.
        type: str
        required: true
      port:
        description: The TCP port (V(tcp) probes only).
        type: int
      interface:
        description: The interface to ping through (V(ping) probes only).
        type: str
  probe_timeout:
    description: Seconds each probe may take.
    type: int
    default: 30
  require_pending:
    description:
      - Fail when no change is pending. The guarded apply sets it, since a missing checkpoint there means
        the watchdog rolled the change back before the commit came.
    type: bool
    default: false
  netns:
    description: Act inside this named network namespace of the host.
    type: str
  executable:
    description: The hostnet program on the managed host, by path or by name on E(PATH).
    type: str
    default: hostnet
  lock_timeout:
    description: Seconds hostnet waits for another hostnet command on the same namespace.
    type: int
    default: 30
attributes:
  check_mode:
    support: full
    description: Reports whether a change is pending, and does nothing.
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
- name: Apply on probation, without committing
  hostnet.hostnet.apply:
    src: /etc/hostnet/host.yaml
    confirm_timeout: 600
    commit: false

- name: Commit once the storage network answers
  hostnet.hostnet.checkpoint:
    state: committed
    probes:
      - {type: tcp, address: 203.0.113.20, port: 3260}

- name: Undo the pending change now
  hostnet.hostnet.checkpoint:
    state: rolled_back
'''

RETURN = r'''
committed:
  description: Whether a pending change was committed by this task.
  returned: always
  type: bool
rolled_back:
  description: Whether a pending change was rolled back by this task (asked for, or a probe failed).
  returned: always
  type: bool
probes:
  description: The probes' results.
  returned: when probes were given
  type: list
  elements: dict
  sample: [{probe: "ping 192.0.2.254", passed: true, detail: answered, attempts: 1}]
last_rollback:
  description: The host's watchdog's last message, when no change was pending.
  returned: when nothing was pending
  type: str
message:
  description: What hostnet said.
  returned: always
  type: str
'''

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.hostnet.hostnet.plugins.module_utils import hostnet as hn
from ansible_collections.hostnet.hostnet.plugins.module_utils import probes as pr


def argument_spec():
    return dict(
        state=dict(type='str', choices=['committed', 'rolled_back'], default='committed'),
        probes=dict(type='list', elements='dict', default=[], options=pr.PROBE_SPEC),
        probe_timeout=dict(type='int', default=30),
        require_pending=dict(type='bool', default=False),
        netns=dict(type='str'),
        executable=dict(type='str', default='hostnet'),
        lock_timeout=dict(type='int', default=30),
    )


def hostnet_cmd(module, hostnet, verb):
    args = [verb, '--lock-timeout', str(module.params['lock_timeout'])] + hn.netns_args(module)
    return hn.run(module, hostnet, args)


def roll_back(module, hostnet, result, why):
    rc, out, err = hostnet_cmd(module, hostnet, 'rollback')
    if rc == 0:
        result.update(changed=True, rolled_back=True, message=out.strip())
        module.fail_json(msg='%s; the change was rolled back: %s' % (why, out.strip()), **result)
    msg, details, _headline = hn.failure(rc, None, err)
    module.fail_json(msg='%s, and the rollback failed: %s' % (why, msg), details=details, rc=rc, **result)


def nothing_pending(module, result, said=None):
    # `hostnet commit` names the last rollback itself when nothing is pending.
    result['last_rollback'] = '\n'.join(said or []) or hn.last_rollback()
    if module.params['require_pending']:
        module.fail_json(msg='no change is pending any more: the host rolled it back before the commit came (%s)'
                         % (result['last_rollback'] or 'no record of why'), **result)
    module.exit_json(**result)


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    p = module.params
    pr.validate(module, p['probes'])
    hostnet = hn.find_hostnet(module)
    result = dict(changed=False, committed=False, rolled_back=False, message='')

    if module.check_mode:
        status = hn.read_status(module, hostnet)
        result['changed'] = status['checkpoint'] is not None
        result['message'] = 'a change is pending' if result['changed'] else 'nothing is pending'
        module.exit_json(**result)

    if p['state'] == 'rolled_back':
        rc, out, err = hostnet_cmd(module, hostnet, 'rollback')
        if rc == 0:
            result.update(changed=True, rolled_back=True, message=out.strip())
            module.exit_json(**result)
        msg, details, _headline = hn.failure(rc, None, err)
        if rc == 1 and 'nothing to roll back' in err:
            result['message'] = msg
            nothing_pending(module, result)
        module.fail_json(msg=msg, details=details, rc=rc, **result)

    if p['probes']:
        passed, results = pr.check_all(module, p['probes'], p['probe_timeout'])
        result['probes'] = results
        if not passed:
            failed = [r for r in results if not r['passed']]
            why = 'probe %s failed after the change (%s)' % (failed[0]['probe'], failed[0]['detail'])
            roll_back(module, hostnet, result, why)

    rc, out, err = hostnet_cmd(module, hostnet, 'commit')
    if rc == 0:
        result.update(changed=True, committed=True, message=out.strip())
        module.exit_json(**result)
    msg, details, _headline = hn.failure(rc, None, err)
    if rc == 1 and 'no checkpoint is pending' in err:
        result['message'] = msg
        nothing_pending(module, result, details)
    module.fail_json(msg=msg, details=details, rc=rc, **result)


if __name__ == '__main__':
    main()
