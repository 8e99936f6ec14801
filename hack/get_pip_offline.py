"""Offline stand-in for the get-pip script that ansible-test runs in new virtualenvs.

It installs pip from the wheel bundled with Python (ensurepip), then installs the
packages ansible-test asked for from the package index that pip's own configuration
names. ensurepip runs with PIP_CONFIG_FILE pointing at /dev/null; that variable is
dropped again so the second step sees the CA bundle and index of this machine.
"""

import os
import subprocess
import sys

GET_PIP_ONLY = {"--no-setuptools", "--no-wheel"}

subprocess.run([sys.executable, "-m", "ensurepip", "--upgrade", "--default-pip"],
               check=True, stdout=subprocess.DEVNULL)
env = {k: v for k, v in os.environ.items() if k != "PIP_CONFIG_FILE"}
args = [a for a in sys.argv[1:] if a not in GET_PIP_ONLY]
sys.exit(subprocess.run([sys.executable, "-m", "pip", "install", *args], env=env,
                        check=False).returncode)
