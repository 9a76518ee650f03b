#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Turns a text file into a C source defining `const char SYMBOL[]` with its
# exact bytes, so a file such as io.ckptd.varlink stays the one source of
# truth. Usage: embed-text.py INPUT OUTPUT SYMBOL [HEADER-TO-INCLUDE]

import os
import sys


def c_string(line: bytes) -> str:
    out = []
    for b in line:
        if b == 0x0A:
            out.append('\\n')
        elif b == 0x09:
            out.append('\\t')
        elif b in (0x22, 0x5C):
            out.append('\\' + chr(b))
        elif b == 0x3F:
            out.append('\\?')  # no trigraphs, whatever the compiler's mode
        elif 0x20 <= b < 0x7F:
            out.append(chr(b))
        else:
            out.append('\\%03o' % b)  # always three digits: no run-on into the next
    return '"' + ''.join(out) + '"'


def main() -> int:
    if len(sys.argv) not in (4, 5):
        print('usage: embed-text.py INPUT OUTPUT SYMBOL [HEADER]', file=sys.stderr)
        return 2
    src, dst, symbol = sys.argv[1:4]
    header = sys.argv[4] if len(sys.argv) == 5 else None
    if not symbol.isidentifier():
        print(f'embed-text.py: "{symbol}" is not a C identifier', file=sys.stderr)
        return 2

    with open(src, 'rb') as f:
        data = f.read()
    if b'\0' in data:
        print(f'embed-text.py: {src} contains a NUL byte; a C string would end there',
              file=sys.stderr)
        return 1

    lines = data.splitlines(keepends=True)
    text = [
        '// SPDX-License-Identifier: GPL-2.0-or-later',
        f'/* Generated from {os.path.basename(src)} by common/embed-text.py: do not edit. */',
    ]
    if header:
        text.append(f'#include "{header}"')
    text.append('')
    text.append(f'const char {symbol}[] =')
    if lines:
        text.extend('\t' + c_string(line) for line in lines)
    else:
        text.append('\t""')
    text[-1] += ';'

    tmp = dst + '.tmp'
    with open(tmp, 'w', encoding='ascii') as f:
        f.write('\n'.join(text) + '\n')
    os.replace(tmp, dst)
    return 0


if __name__ == '__main__':
    sys.exit(main())
