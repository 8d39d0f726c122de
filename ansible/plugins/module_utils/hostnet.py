# -*- coding: utf-8 -*-
# Copyright: hostnet contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Running the hostnet command line on a managed host, and reading what it prints.

Everything that depends on the shape of hostnet's output lives here, so that a change of
that output is absorbed in one place:

* ``plan_entries`` turns ``apply -o json``'s plan into entries of one shape,
  ``{network, kind, key, action, before, after}``, from either the structured entries of
  newer hostnet versions or the ``{change, object}`` strings of older ones;
* ``report_field`` reads a field of ``apply -o json`` under its name in either version
  (``timings-ms`` / ``timings_ms``);
* ``checkpoint`` and ``checkpoint_of`` give a pending checkpoint one shape, whether hostnet
  reports it in seconds since the epoch or as a UTC time in a sentence;
* ``read_status`` uses ``hostnet status -o json`` (``{version, in-sync, record,
  checkpoint, unfinished-apply, networks, drift, drift-errors}``) where the command exists,
  and builds what it can of the same answer from ``show`` where it does not.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import calendar
import json
import os
import re
import time

ACTIONS = {'+': 'create', '~': 'change', '-': 'remove'}

# hostnet's documented exit codes. On 1 (failed, and rolled back or nothing changed)
# hostnet's own headline says which, so it leads the message.
EXIT_MEANING = {
    2: 'the desired state is invalid; nothing was changed',
    3: 'hostnet failed and its rollback is INCOMPLETE: the host is left half-configured',
}

CHECKPOINT_LINE = re.compile(
    r'rolls back by itself at (?P<deadline>[0-9-]+ [0-9:]+ UTC) \(in (?P<seconds>[0-9]+) s\)')
UTC_FORMAT = '%Y-%m-%d %H:%M:%S UTC'
PENDING_LINE = re.compile(
    r'checkpoint pending: the change applied (?P<created>[0-9-]+ [0-9:]+ UTC) '
    r'rolls back at (?P<deadline>[0-9-]+ [0-9:]+ UTC)')


def find_hostnet(module):
    """The hostnet executable: the ``executable`` option, else the first on PATH."""
    wanted = module.params.get('executable')
    if wanted and os.path.isabs(wanted):
        if not os.access(wanted, os.X_OK):
            module.fail_json(msg='hostnet executable %s is not there or not executable' % wanted)
        return wanted
    return module.get_bin_path(wanted or 'hostnet', required=True,
                               opt_dirs=['/usr/local/sbin', '/usr/local/bin', '/usr/sbin'])


def netns_args(module):
    netns = module.params.get('netns')
    return ['--netns', netns] if netns else []


def run(module, hostnet, args, data=None):
    """Runs hostnet; returns (rc, stdout, stderr). Never through a shell."""
    return module.run_command([hostnet] + args, data=data, binary_data=False,
                              check_rc=False, environ_update={'LC_ALL': 'C'})


def first_json(text):
    """The first JSON object that starts a line of ``text``, on one line or several.

    hostnet may print a sentence after it (the checkpoint's deadline).
    """
    text = text or ''
    decoder = json.JSONDecoder()
    start = 0
    while True:
        start = text.find('{', start)
        if start < 0:
            return None
        if start == 0 or text[start - 1] == '\n':
            try:
                value, _end = decoder.raw_decode(text, start)
            except ValueError:
                value = None
            if isinstance(value, dict):
                return value
        start += 1


def desired_document(module):
    """The document to hand hostnet on stdin ('-'), or the path of a file on the host."""
    desired = module.params.get('desired_state')
    if desired is not None:
        # JSON is YAML: hostnet reads it as it reads its own files.
        return '-', json.dumps(desired)
    src = module.params.get('src')
    if not os.path.isfile(src):
        module.fail_json(msg='src %s: no such file on the host' % src)
    return src, None


def _entry_from_string(raw):
    """An entry from the ``{change, object}`` form (hostnet before structured plans)."""
    action = ACTIONS.get(raw.get('change'), 'change')
    text = raw.get('object', '')
    kind, _sep, rest = text.partition(' ')
    entry = {'network': None, 'kind': kind, 'key': rest, 'action': action,
             'before': None, 'after': None}
    if action == 'remove':
        entry['before'] = text
    else:
        entry['after'] = text
    return entry


def plan_entries(raw_plan):
    """Every plan entry as ``{network, kind, key, action, before, after}``.

    Structured entries (they carry ``action``) pass through with missing fields set to
    None; string entries are split into kind and key, with the object's text as ``after``
    (``before`` for a removal). A string ``change`` says nothing of the old value.
    """
    entries = []
    for raw in raw_plan or []:
        if isinstance(raw, dict) and 'action' in raw:
            entry = dict((k, raw.get(k)) for k in ('network', 'kind', 'key', 'action', 'before', 'after'))
            entries.append(entry)
        elif isinstance(raw, dict):
            entries.append(_entry_from_string(raw))
        else:
            entries.append(_entry_from_string({'change': '~', 'object': str(raw)}))
    return entries


def summary(entries):
    counts = {'create': 0, 'change': 0, 'remove': 0}
    for e in entries:
        counts[e['action']] = counts.get(e['action'], 0) + 1
    return counts


def _render(value):
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    return str(value)


def plan_format(raw_plan):
    """'structured' when hostnet gave plan entries as objects, 'text' for strings."""
    for raw in raw_plan or []:
        return 'structured' if isinstance(raw, dict) and 'action' in raw else 'text'
    return 'structured'


def diff_of(entries, fmt):
    """Ansible's diff: one line per object the plan touches, as it is and as it will be."""
    before, after = [], []
    for e in entries:
        scope = '[%s] ' % e['network'] if e.get('network') else ''
        label = '%s%s %s' % (scope, e['kind'], e['key'])
        if fmt == 'text':
            # The object's own text already names kind and key.
            if e['before'] is not None:
                before.append(scope + e['before'])
            elif e['action'] == 'change':
                before.append('%s  (changes; this hostnet does not report the old value)' % label)
            if e['after'] is not None:
                after.append(scope + e['after'])
            continue
        if e['before'] is not None:
            before.append('%s: %s' % (label, _render(e['before'])))
        if e['after'] is not None:
            after.append('%s: %s' % (label, _render(e['after'])))
    return {
        'before_header': 'host network now (objects the plan touches)',
        'after_header': 'host network after the plan',
        'before': '\n'.join(before) + ('\n' if before else ''),
        'after': '\n'.join(after) + ('\n' if after else ''),
    }


def report_field(report, name):
    """A field of hostnet's JSON under its kebab-case name, or its older snake_case one."""
    if name in report:
        return report[name]
    return report.get(name.replace('-', '_'))


def checkpoint(value):
    """A checkpoint as ``{created, deadline}`` UTC times plus ``*_epoch`` seconds.

    hostnet reports times in seconds since the epoch (``status``, ``show -o json``) or as
    ``YYYY-MM-DD HH:MM:SS UTC`` (its sentences); either is accepted.
    """
    if not isinstance(value, dict):
        return None
    out = {}
    for key in ('created', 'deadline'):
        v = value.get(key)
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            out[key] = time.strftime(UTC_FORMAT, time.gmtime(v))
            out[key + '_epoch'] = int(v)
        elif isinstance(v, str):
            out[key] = v
            try:
                out[key + '_epoch'] = calendar.timegm(time.strptime(v, UTC_FORMAT))
            except ValueError:
                pass
    if value.get('timeout') is not None:
        out['timeout'] = value['timeout']
    return out


def checkpoint_of(report, stdout):
    """The checkpoint an apply left pending: from the report, else from its sentence."""
    if isinstance(report, dict) and isinstance(report.get('checkpoint'), dict):
        return checkpoint(report['checkpoint'])
    m = CHECKPOINT_LINE.search(stdout or '')
    if m:
        return checkpoint({'deadline': m.group('deadline'), 'timeout': int(m.group('seconds'))})
    return None


def failure(rc, report, stderr):
    """(message, details, headline) for a failed hostnet run, from its JSON error or its stderr.

    The message leads with what the exit code means (for 1, hostnet's own headline: rolled
    back, or nothing changed and why) and goes on with hostnet's details (the fields at
    fault, what verification found), else its headline.
    """
    if isinstance(report, dict) and report.get('error'):
        headline = str(report['error'])
        details = [str(d) for d in report.get('details') or []]
    else:
        lines = [line.strip() for line in (stderr or '').splitlines() if line.strip()]
        headline = lines[0] if lines else 'no message'
        if headline.startswith('error: '):
            headline = headline[len('error: '):]
        details = lines[1:]
    if rc == 1:
        meaning = 'hostnet: ' + headline
        return '%s: %s' % (meaning, '; '.join(details)) if details else meaning, details, headline
    meaning = EXIT_MEANING.get(rc, 'hostnet exited with code %s' % rc)
    return '%s: %s' % (meaning, '; '.join(details) if details else headline), details, headline


def _comment_facts(yaml_text):
    """What an older ``hostnet show`` says in its header comments (checkpoint, servers)."""
    pending = None
    notes = []
    for line in (yaml_text or '').splitlines():
        if not line.startswith('#'):
            break
        text = line.lstrip('#').strip()
        m = PENDING_LINE.search(text)
        if m:
            pending = checkpoint({'created': m.group('created'), 'deadline': m.group('deadline')})
        elif text:
            notes.append(text)
    return pending, notes


def read_show(module, hostnet):
    """(document, checkpoint, notes) from ``hostnet show``.

    Newer hostnet prints ``{version, document, checkpoint, ...}``; older prints the document
    alone and the checkpoint only as a comment of the YAML output.
    """
    ns = netns_args(module)
    rc, out, err = run(module, hostnet, ['show', '-o', 'json'] + ns)
    if rc != 0:
        msg, details, _head = failure(rc, first_json(out), err)
        module.fail_json(msg='cannot read the host state: ' + msg, details=details, rc=rc)
    shown = json.loads(out)
    if isinstance(shown, dict) and 'version' in shown and 'document' in shown:
        return shown['document'], checkpoint(shown.get('checkpoint')), []
    rc, yaml_out, err = run(module, hostnet, ['show'] + ns)
    pending, notes = _comment_facts(yaml_out if rc == 0 else '')
    return shown, pending, notes


def _netns_key():
    """The key hostnet files this namespace's records under, for plain namespace names.

    Newer hostnet keys records by the namespace's name (``netns.NAME``, ``host`` for the
    host's own); older ones keep one unkeyed ``last-rollback.txt``. Names that hostnet
    would escape are not guessed at.
    """
    try:
        me = os.stat('/proc/self/ns/net')
        for name in sorted(os.listdir('/run/netns')):
            st = os.stat(os.path.join('/run/netns', name))
            if (st.st_dev, st.st_ino) == (me.st_dev, me.st_ino):
                return 'netns.' + name if re.match(r'^[A-Za-z0-9_-]+$', name) else None
    except OSError:
        pass
    try:
        if os.stat('/proc/1/ns/net').st_ino == os.stat('/proc/self/ns/net').st_ino:
            return 'host'
    except OSError:
        pass
    return None


def last_rollback(status=None):
    """The watchdog's last message: from ``hostnet status`` if it reports it, else its file."""
    if isinstance(status, dict) and status.get('last-rollback'):
        return status['last-rollback']
    base = os.environ.get('HOSTNET_STATE_DIR') or '/run/hostnet'
    key = _netns_key()
    names = (['%s.last-rollback.txt' % key] if key else []) + ['last-rollback.txt']
    for name in names:
        try:
            with open(os.path.join(base, 'checkpoint', name)) as f:
                text = f.read().strip()
        except (IOError, OSError):
            continue
        if text:
            return text
    return None


def _status(module, hostnet):
    """``hostnet status -o json`` (exit 0 in sync, 1 drift), or None where there is no such command."""
    rc, out, err = run(module, hostnet, ['status', '-o', 'json'] + netns_args(module))
    status = first_json(out) if rc in (0, 1) else None
    if status is None or 'in-sync' not in status:
        return None
    return status


def dry_run(module, hostnet, desired):
    """The plan entries an apply of ``desired`` (``(path, stdin)``) would run now."""
    path, data = desired
    rc, out, err = run(module, hostnet, ['apply', path, '--dry-run', '-o', 'json'] + netns_args(module), data=data)
    report = first_json(out)
    if rc != 0 or report is None or 'plan' not in report:
        msg, details, _head = failure(rc, report, err)
        module.fail_json(msg='cannot compare the host with the desired state: ' + msg, details=details, rc=rc)
    return plan_entries(report['plan'])


def read_status(module, hostnet, desired=None):
    """The host as hostnet sees it: state, networks in force, pending checkpoint, drift.

    With ``desired`` (``(path, stdin)`` of a desired state), drift is the plan that would
    bring the host to that state; without it, what ``hostnet status`` reports against the
    record (the committed state), or None where hostnet has no ``status``.
    """
    document, pending, notes = read_show(module, hostnet)
    status = _status(module, hostnet)
    result = {
        'source': 'hostnet status' if status is not None else 'hostnet show',
        'state': document,
        'networks': None,
        'checkpoint': pending,
        'unfinished_apply': None,
        'drift': None,
        'drift_errors': [],
        'drifted': None,
        'notes': notes,
        'last_rollback': last_rollback(status),
    }
    if status is not None:
        result.update(
            networks=status.get('networks') or [],
            checkpoint=checkpoint(status.get('checkpoint')) or pending,
            unfinished_apply=status.get('unfinished-apply'),
            drift=plan_entries(status.get('drift')),
            drift_errors=status.get('drift-errors') or [],
            drifted=not status.get('in-sync'),
        )
    if desired is not None:
        entries = dry_run(module, hostnet, desired)
        result.update(drift=entries, drift_errors=[], drifted=bool(entries))
        if result['networks'] is None and desired[1] is not None:
            doc = json.loads(desired[1])
            result['networks'] = [dict(name=n.get('name')) for n in doc.get('networks') or [] if isinstance(n, dict)]
    return result
