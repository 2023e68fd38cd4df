#!/usr/bin/env python3
"""promtool.py: run Prometheus's promtool with the given arguments, for the monitoring suite.

Usage: promtool.py ARGS...   (e.g. check rules FILE; test rules FILE)

promtool comes with Debian's prometheus package, which scripts/lib.sh installs for scripts/test.
Without it this fails and says so: a check that cannot run is not a check that passed."""
import shutil
import subprocess
import sys

MISSING = ("promtool is not installed, so the monitoring files cannot be checked: install Debian's "
           "prometheus package (apt-get install prometheus; scripts/lib.sh lists it for scripts/test)")


def main(argv):
    exe = shutil.which("promtool")
    if exe is None:
        print(MISSING)
        return 1
    print("$ promtool " + " ".join(argv[1:]), flush=True)
    return subprocess.run([exe, *argv[1:]], check=False).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv))
