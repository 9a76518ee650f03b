# SPDX-License-Identifier: GPL-2.0-or-later
"""How the python workloads tell their test they are running (workload.h's way for C)."""
import os


def announce(path, *pids):
    """Writes the pids on one line to path, whole: the test reads it once it exists."""
    with open(path + ".tmp", "w") as f:
        f.write(" ".join(str(p) for p in pids) + "\n")
    os.rename(path + ".tmp", path)
