"""Stands in for ansible-test's pip bootstrap script (get-pip.py), which ansible-test would
download from a host this machine cannot reach. ansible-test runs it inside each fresh
virtual environment it makes for a sanity test, as `python get_pip_X_Y.py
--disable-pip-version-check pip==X.Y [--no-setuptools] [--no-wheel]`: this installs the
interpreter's own bundled pip (ensurepip), then the pip version asked for from PyPI."""
import subprocess
import sys

args = [a for a in sys.argv[1:] if a not in ('--no-setuptools', '--no-wheel')]
subprocess.check_call([sys.executable, '-m', 'ensurepip', '--default-pip'])
subprocess.check_call([sys.executable, '-m', 'pip', 'install', '--quiet'] + args)
