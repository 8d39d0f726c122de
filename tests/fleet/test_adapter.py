"""The collection's adapter to hostnet's output (ansible/plugins/module_utils/hostnet.py),
against both shapes hostnet prints: plan entries as strings (before structured plans) and
as objects, `show -o json` as the bare document or as {version, document, checkpoint}, and
with or without `hostnet status`. Run by tests/fleet_e2e.rs with the fleet venv's Python:

    python -m unittest tests/fleet/test_adapter.py
"""
import importlib.util
import json
import os
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SPEC = importlib.util.spec_from_file_location(
    'hostnet_adapter', os.path.join(HERE, '..', '..', 'ansible', 'plugins', 'module_utils', 'hostnet.py'))
hn = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(hn)

TEXT_PLAN = [
    {'change': '+', 'object': 'linux-bridge vmnet stp off up'},
    {'change': '~', 'object': 'link eth1 master vmnet'},
    {'change': '-', 'object': 'address 198.51.100.5/24 dev vmnet'},
]
STRUCTURED_PLAN = [
    {'network': 'vmnet', 'kind': 'interface', 'key': 'vmnet', 'action': 'create', 'before': None,
     'after': {'type': 'linux-bridge', 'state': 'up', 'stp': False}},
    {'network': 'vmnet', 'kind': 'interface', 'key': 'eth1', 'action': 'change',
     'before': {'controller': None}, 'after': {'controller': 'vmnet'}},
    {'kind': 'sysctl', 'key': 'net.ipv4.ip_forward', 'action': 'change', 'before': {'value': '0'},
     'after': {'value': '1'}},
]
DOCUMENT = {'interfaces': [{'name': 'eth0', 'type': 'veth', 'state': 'up'}]}


class FailJson(Exception):
    pass


class FakeModule:
    """Answers run_command from a table keyed by the hostnet verb and flags."""

    def __init__(self, answers, netns=None):
        self.answers = answers
        self.params = {'netns': netns}
        self.calls = []

    def run_command(self, args, data=None, **_kw):
        key = ' '.join(a for a in args[1:] if not a.startswith('/'))
        self.calls.append(key)
        for prefix, answer in self.answers:
            if key.startswith(prefix):
                return answer
        return 2, '', "error: unrecognized subcommand '%s'" % args[1]

    def fail_json(self, **kw):
        raise FailJson(kw)


class PlanEntries(unittest.TestCase):
    def test_strings_are_split_into_kind_and_key(self):
        entries = hn.plan_entries(TEXT_PLAN)
        self.assertEqual(hn.plan_format(TEXT_PLAN), 'text')
        self.assertEqual([e['action'] for e in entries], ['create', 'change', 'remove'])
        self.assertEqual(entries[0], {'network': None, 'kind': 'linux-bridge', 'key': 'vmnet stp off up',
                                      'action': 'create', 'before': None, 'after': 'linux-bridge vmnet stp off up'})
        self.assertEqual(entries[2]['before'], 'address 198.51.100.5/24 dev vmnet')
        self.assertIsNone(entries[2]['after'])
        self.assertEqual(hn.summary(entries), {'create': 1, 'change': 1, 'remove': 1})

    def test_structured_entries_pass_through(self):
        entries = hn.plan_entries(STRUCTURED_PLAN)
        self.assertEqual(hn.plan_format(STRUCTURED_PLAN), 'structured')
        self.assertEqual(entries[1], STRUCTURED_PLAN[1])
        self.assertIsNone(entries[2]['network'])

    def test_diff_shows_each_touched_object_before_and_after(self):
        d = hn.diff_of(hn.plan_entries(STRUCTURED_PLAN), 'structured')
        self.assertEqual(d['before'].splitlines(), [
            '[vmnet] interface eth1: {"controller": null}',
            'sysctl net.ipv4.ip_forward: {"value": "0"}',
        ])
        self.assertEqual(d['after'].splitlines()[1], '[vmnet] interface eth1: {"controller": "vmnet"}')
        d = hn.diff_of(hn.plan_entries(TEXT_PLAN), 'text')
        self.assertIn('link eth1 master vmnet', d['after'])
        self.assertIn('address 198.51.100.5/24 dev vmnet', d['before'])
        self.assertIn('does not report the old value', d['before'])

    def test_empty_plan(self):
        self.assertEqual(hn.plan_entries([]), [])
        self.assertEqual(hn.summary([]), {'create': 0, 'change': 0, 'remove': 0})


class Reports(unittest.TestCase):
    def test_first_json_skips_the_checkpoint_sentence(self):
        out = '{"plan": []}\nCheckpoint: this change rolls back by itself at 2026-12-07 02:49:15 UTC (in 30 s) unless ...\n'
        self.assertEqual(hn.first_json(out), {'plan': []})
        cp = hn.checkpoint_of(hn.first_json(out), out)
        self.assertEqual(cp['deadline'], '2026-12-07 02:49:15 UTC')
        self.assertEqual(cp['timeout'], 30)
        self.assertEqual(cp['deadline_epoch'], 1796611755)

    def test_checkpoint_from_epoch_seconds(self):
        cp = hn.checkpoint({'created': 1796611725, 'deadline': 1796611755})
        self.assertEqual(cp['deadline'], '2026-12-07 02:49:15 UTC')
        self.assertEqual(cp['created_epoch'], 1796611725)
        self.assertIsNone(hn.checkpoint(None))

    def test_timings_under_either_name(self):
        self.assertEqual(hn.report_field({'timings-ms': {'query': 1}}, 'timings-ms'), {'query': 1})
        self.assertEqual(hn.report_field({'timings_ms': {'query': 2}}, 'timings-ms'), {'query': 2})

    def test_failure_from_json_error_and_from_stderr(self):
        msg, details, head = hn.failure(2, {'error': '- is not valid; nothing was changed',
                                            'details': ['networks[0].ipv4.gateway: outside'], 'exit-code': 2}, '')
        self.assertEqual(msg, 'the desired state is invalid; nothing was changed: networks[0].ipv4.gateway: outside')
        self.assertEqual(details, ['networks[0].ipv4.gateway: outside'])
        self.assertEqual(head, '- is not valid; nothing was changed')
        msg, details, head = hn.failure(3, None, 'error: the rollback is incomplete\n  left: bridge br0\n')
        self.assertTrue(msg.startswith('hostnet failed and its rollback is INCOMPLETE'))
        self.assertEqual(details, ['left: bridge br0'])
        msg, _d, _h = hn.failure(1, None, 'error: a checkpoint is pending; nothing was changed\n')
        self.assertIn('a checkpoint is pending', msg)


class LastRollback(unittest.TestCase):
    def test_from_status_then_from_the_state_directory(self):
        self.assertEqual(hn.last_rollback({'last-rollback': 'rolled back (3 changes)'}), 'rolled back (3 changes)')
        with tempfile.TemporaryDirectory() as d:
            os.makedirs(os.path.join(d, 'checkpoint'))
            old = os.environ.get('HOSTNET_STATE_DIR')
            os.environ['HOSTNET_STATE_DIR'] = d
            try:
                self.assertIsNone(hn.last_rollback())
                with open(os.path.join(d, 'checkpoint', 'last-rollback.txt'), 'w') as f:
                    f.write('unkeyed\n')
                self.assertEqual(hn.last_rollback(), 'unkeyed')
                key = hn._netns_key()  # pylint: disable=protected-access
                if key:
                    with open(os.path.join(d, 'checkpoint', key + '.last-rollback.txt'), 'w') as f:
                        f.write('keyed\n')
                    self.assertEqual(hn.last_rollback(), 'keyed')
            finally:
                if old is None:
                    del os.environ['HOSTNET_STATE_DIR']
                else:
                    os.environ['HOSTNET_STATE_DIR'] = old


class Status(unittest.TestCase):
    def test_without_status_command_reads_show_and_its_comments(self):
        yaml = ('# checkpoint pending: the change applied 2026-12-07 02:48:45 UTC rolls back at '
                '2026-12-07 02:49:15 UTC unless `hostnet commit` runs first\n# DHCP servers: none\ninterfaces: []\n')
        m = FakeModule([('show -o json', (0, json.dumps(DOCUMENT), '')), ('show', (0, yaml, ''))])
        s = hn.read_status(m, '/bin/hostnet')
        self.assertEqual(s['source'], 'hostnet show')
        self.assertEqual(s['state'], DOCUMENT)
        self.assertEqual(s['checkpoint']['deadline'], '2026-12-07 02:49:15 UTC')
        self.assertEqual(s['notes'], ['DHCP servers: none'])
        self.assertIsNone(s['drifted'])

    def test_with_status_command(self):
        shown = {'version': 1, 'document': DOCUMENT, 'checkpoint': None}
        status = {'version': 1, 'in-sync': False, 'record': ['the committed state'],
                  'checkpoint': {'created': 1796611725, 'deadline': 1796611755}, 'unfinished-apply': None,
                  'networks': [{'name': 'mgmt', 'drift': 0}, {'name': 'vmnet', 'drift': 1}],
                  'drift': STRUCTURED_PLAN[1:2], 'drift-errors': []}
        m = FakeModule([('show -o json', (0, json.dumps(shown), '')),
                        ('status -o json', (1, json.dumps(status, indent=2), ''))])
        s = hn.read_status(m, '/bin/hostnet')
        self.assertEqual(s['source'], 'hostnet status')
        self.assertEqual(s['state'], DOCUMENT)
        self.assertEqual([n['name'] for n in s['networks']], ['mgmt', 'vmnet'])
        self.assertTrue(s['drifted'])
        self.assertEqual(s['drift'][0]['key'], 'eth1')
        self.assertEqual(s['checkpoint']['deadline'], '2026-12-07 02:49:15 UTC')
        self.assertNotIn('show', m.calls)

    def test_drift_against_a_desired_state_is_its_dry_run(self):
        m = FakeModule([('show -o json', (0, json.dumps(DOCUMENT), '')), ('show', (0, '', '')),
                        ('apply - --dry-run -o json', (0, json.dumps({'plan': TEXT_PLAN[:1]}), ''))])
        s = hn.read_status(m, '/bin/hostnet', ('-', json.dumps({'networks': [{'name': 'vmnet'}]})))
        self.assertTrue(s['drifted'])
        self.assertEqual(s['networks'], [{'name': 'vmnet'}])
        m = FakeModule([('show -o json', (0, json.dumps(DOCUMENT), '')), ('show', (0, '', '')),
                        ('apply - --dry-run -o json', (2, '{"error": "bad", "details": ["networks[0]: x"]}', ''))])
        with self.assertRaises(FailJson) as e:
            hn.read_status(m, '/bin/hostnet', ('-', '{}'))
        self.assertIn('networks[0]: x', e.exception.args[0]['msg'])


if __name__ == '__main__':
    unittest.main()
