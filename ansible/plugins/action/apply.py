# -*- coding: utf-8 -*-
# Copyright: hostnet contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""The controller's half of hostnet.hostnet.apply: the connectivity-guarded commit.

1. Run the apply module on the host; with a checkpoint, the host's watchdog is armed before
   the first change.
2. Open a fresh connection to the host (the old one may be riding on what just changed) and
   run the ping module: that proves the management path works after the change.
3. Run the checkpoint module: the probes on the host, then ``hostnet commit``.

If step 2 never succeeds, nothing is sent: the watchdog rolls the change back at its
deadline. The task then waits for that (``wait_for_rollback``) so that it can say what
happened, and so that a rollout's next batch starts from a settled fleet.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible.errors import AnsibleConnectionFailure
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.hostnet.hostnet.plugins.modules.apply import argument_spec

display = Display()

APPLY = 'hostnet.hostnet.apply'
CHECKPOINT = 'hostnet.hostnet.checkpoint'
INFO = 'hostnet.hostnet.info'

# After the deadline: how long the watchdog may take to roll back and the host to answer.
ROLLBACK_GRACE = 30


def _ms(since):
    return round((time.time() - since) * 1000.0, 1)


class ActionModule(ActionBase):
    TRANSFERS_FILES = False

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        _validation, args = self.validate_argument_spec(
            argument_spec=argument_spec(),
            mutually_exclusive=[('desired_state', 'src')],
            required_one_of=[('desired_state', 'src')],
        )
        guarded = args['confirm_timeout'] > 0 and not self._play_context.check_mode
        if guarded:
            self._keepalive(args['probe_timeout'])

        started = time.time()
        # Unset options stay unset: the module checks which of desired_state and src is given.
        module_args = dict((k, v) for k, v in args.items() if v is not None)
        try:
            applied = self._execute_module(module_name=APPLY, module_args=module_args, task_vars=task_vars)
        except AnsibleConnectionFailure as e:
            if not guarded:
                raise
            return self._lost(result, task_vars, args, started, None,
                              'the connection broke during the apply (%s)' % e)
        if applied.get('unreachable') and guarded:
            return self._lost(result, task_vars, args, started, None,
                              'the connection broke during the apply (%s)' % applied.get('msg'))
        result.update(applied)
        result['guard_ms'] = {'apply': _ms(started)}
        if applied.get('failed') or not guarded or not applied.get('checkpoint'):
            return result

        since = time.time()
        reached, why = self._reach(task_vars, args['probe_timeout'])
        result['guard_ms']['reconnect'] = _ms(since)
        if not reached:
            return self._lost(result, task_vars, args, started, applied, why)
        if not args['commit']:
            return result
        since = time.time()
        self._commit(result, task_vars, args, applied)
        result['guard_ms']['commit'] = _ms(since)
        return result

    def _keepalive(self, probe_timeout):
        """With ssh: keepalives, so that a change that cuts the connection mid-apply is seen.

        Without them the controller waits for TCP to give up (many minutes). A running
        ControlMaster keeps the options it started with, so it is replaced.
        """
        conn = self._connection
        if getattr(conn, 'transport', None) != 'ssh':
            return
        configured = ' '.join(str(conn.get_option(o) or '') for o in ('ssh_args', 'ssh_common_args', 'ssh_extra_args'))
        if 'ServerAlive' in configured:
            return
        interval = max(1, min(5, probe_timeout // 3))
        extra = '%s -o ServerAliveInterval=%d -o ServerAliveCountMax=3' % (conn.get_option('ssh_extra_args') or '', interval)
        conn.set_option('ssh_extra_args', extra.strip())
        conn.reset()

    def _reach(self, task_vars, timeout):
        """(reached, why not): retries a fresh connection and the ping module until ``timeout``."""
        deadline = time.time() + timeout
        why = 'no attempt'
        while True:
            try:
                self._connection.reset()
            except (AttributeError, AnsibleConnectionFailure):
                pass
            try:
                pong = self._execute_module(module_name='ansible.legacy.ping', module_args={}, task_vars=task_vars)
                if pong.get('ping') == 'pong':
                    return True, None
                why = pong.get('msg') or 'the ping module did not answer'
            except AnsibleConnectionFailure as e:
                why = str(e).strip()
            if time.time() >= deadline:
                return False, why
            time.sleep(1)

    def _commit(self, result, task_vars, args, applied):
        cp_args = dict(
            state='committed',
            probes=applied.get('probes_selected') or [],
            probe_timeout=args['probe_timeout'],
            require_pending=True,
            executable=args['executable'],
            lock_timeout=args['lock_timeout'],
        )
        if args['netns']:
            cp_args['netns'] = args['netns']
        try:
            done = self._execute_module(module_name=CHECKPOINT, module_args=cp_args, task_vars=task_vars)
        except AnsibleConnectionFailure as e:
            result.update(failed=True, msg='reached the host after the change, but the connection broke during '
                          'the commit (%s); if the commit did not happen, the host rolls the change back at %s'
                          % (e, applied['checkpoint'].get('deadline')))
            return result
        result['committed'] = bool(done.get('committed'))
        result['rolled_back'] = bool(done.get('rolled_back'))
        if 'probes' in done:
            result['probes'] = done['probes']
        if done.get('failed'):
            result['failed'] = True
            result['changed'] = not result['rolled_back']
            result['msg'] = done.get('msg')
            if done.get('details'):
                result['details'] = done['details']
        else:
            result['checkpoint'] = None
        return result

    def _lost(self, result, task_vars, args, started, applied, why):
        """The host did not answer after the change: its watchdog rolls it back."""
        checkpoint = (applied or {}).get('checkpoint') or {}
        deadline = checkpoint.get('deadline') or 'at most %d s after the apply' % args['confirm_timeout']
        if applied:
            result.update(applied)
        result.update(failed=True, committed=False, rolled_back=None)
        msg = ('the host could not be reached over its management connection after the change (%s); '
               'its watchdog rolls the change back at %s' % (why, deadline))
        if args['wait_for_rollback']:
            msg += '. ' + self._await_rollback(result, task_vars, args, started)
        result['changed'] = result['rolled_back'] is not True and bool(result.get('plan', True))
        result['msg'] = msg
        return result

    def _await_rollback(self, result, task_vars, args, started):
        """Waits out the deadline, reaches the host again, and reports what it finds."""
        pause = started + args['confirm_timeout'] + 1 - time.time()
        if pause > 0:
            display.vv('hostnet: waiting %.0f s for the host to roll back' % pause)
            time.sleep(pause)
        reached, why = self._reach(task_vars, args['probe_timeout'] + ROLLBACK_GRACE)
        if not reached:
            return 'The host still does not answer (%s).' % why
        info_args = dict(executable=args['executable'])
        if args['netns']:
            info_args['netns'] = args['netns']
        limit = time.time() + ROLLBACK_GRACE
        while True:
            try:
                info = self._execute_module(module_name=INFO, module_args=info_args, task_vars=task_vars)
            except AnsibleConnectionFailure as e:
                return 'The host answers again, but reading its state failed (%s).' % e
            status = info.get('status') or {}
            if info.get('failed'):
                return 'The host answers again, but reading its state failed (%s).' % info.get('msg')
            if status.get('checkpoint') is None or time.time() >= limit:
                break
            time.sleep(1)
        result['last_rollback'] = status.get('last_rollback')
        if status.get('checkpoint') is not None:
            return 'The host answers again, but the change is still pending (%s).' % status['checkpoint']
        result['rolled_back'] = True
        return 'It did: the host answers again and nothing is pending (%s).' % (
            status.get('last_rollback') or 'the watchdog left no message')
