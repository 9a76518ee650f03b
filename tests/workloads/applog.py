# SPDX-License-Identifier: GPL-2.0-or-later
"""applog.py: a computation that reports its progress through Python's logging
module, whose FileHandler opens the log once in append mode and flushes every
record, as long-running programs commonly do.

    python3 applog.py LOG READY [ROUNDS=1500]

Each round walks a SHA-256 chain and logs one line. The log depends only on
ROUNDS: after any number of checkpoints and restores it must be byte for byte
an uninterrupted run's, without a line twice (what the restored process
appends again after the snapshot must replace, not follow, what it appended
before the crash). Writes READY (its pid) once the log is open; the last line
of LOG is PASS.
"""
import hashlib
import logging
import os
import sys

from ready import announce


def main():
    log_path, ready = sys.argv[1], sys.argv[2]
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 1500
    logging.basicConfig(filename=log_path, format="%(message)s",
                        level=logging.INFO)
    log = logging.getLogger("applog")
    h = hashlib.sha256(b"applog").digest()

    announce(ready, os.getpid())
    for r in range(rounds):
        for i in range(3000):
            h = hashlib.sha256(h + i.to_bytes(4, "little")).digest()
        log.info("round %d: %s", r, h.hex()[:32])
    log.info("PASS")


main()
