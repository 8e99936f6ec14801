"""Print the pip versions ansible-test bootstraps, as its cache file names spell them.

ansible-test downloads a get-pip script for each virtualenv it makes; offline, it
uses ~/.ansible/test/cache/get_pip_<version>.py instead, which `make sanity` fills
with get_pip_offline.py.
"""

import pathlib
import re

import ansible_test

SOURCE = pathlib.Path(ansible_test.__file__).parent / "_internal" / "python_requirements.py"

for version in sorted(set(re.findall(r"pip='([0-9.]+)'", SOURCE.read_text()))):
    print(version.replace(".", "_"))
