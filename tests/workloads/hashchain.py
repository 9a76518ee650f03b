# SPDX-License-Identifier: GPL-2.0-or-later
"""hashchain.py: a pure-Python computation for checkpoint tests.

    python3 hashchain.py OUT READY [ROUNDS=900]

Each round walks a SHA-256 chain, folds it into big-integer arithmetic
modulo a Mersenne prime and keeps a growing dict; then pi is computed to
3000 digits with Machin's formula (checked against its known start). The
result depends only on ROUNDS: byte-identical however often it is
checkpointed and restored. Writes READY (its pid) once the interpreter
and its modules are loaded; the last line of OUT is PASS or FAIL.
"""
import hashlib
import os
import sys

from ready import announce

M = (1 << 4423) - 1  # a Mersenne prime


def arctan_inv(x, unity):
    total = term = unity // x
    x2, n, sign = x * x, 3, -1
    while term:
        term //= x2
        total += sign * (term // n)
        n += 2
        sign = -sign
    return total


def pi_digits(digits):
    unity = 10 ** (digits + 10)
    pi = 4 * (4 * arctan_inv(5, unity) - arctan_inv(239, unity))
    return str(pi // 10 ** 10)


def main():
    out, ready = sys.argv[1], sys.argv[2]
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 900
    h = hashlib.sha256(b"ckptd").digest()
    acc, table, lines = 1, {}, []

    announce(ready, os.getpid())

    for r in range(rounds):
        for i in range(12000):
            h = hashlib.sha256(h + i.to_bytes(4, "little")).digest()
        acc = pow(acc * 3 + int.from_bytes(h, "big"), 65537, M)
        table[h.hex()[:12]] = r
        lines.append("round %d: %s %s" % (r, h.hex()[:16], hex(acc % (1 << 64))))

    pi = pi_digits(3000)
    ok = pi.startswith("31415926535897932384626433832795028841971693993751")
    ok = ok and len(table) == rounds and sorted(table.values()) == list(range(rounds))
    lines.append("pi: %s" % hashlib.sha256(pi.encode()).hexdigest())
    lines.append("PASS" if ok else "FAIL pi or the table is wrong")
    with open(out, "w") as f:
        f.write("\n".join(lines) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
