#!/usr/bin/env python3
"""cu2cpp.py IN.cu OUT.cpp — turns one of kernels/cuda/*.cu into host C++ for
the CPU emulation (tests/cuda_emu/README.md).

Only the launch syntax changes:  name<<<grid, block[, smem, stream]>>>(args)
becomes  mtk_emu_launch(dim3(grid), dim3(block), stream, [=]() { name(args); })
(mtk_emu_launch_sync for kernels whose body calls __syncthreads or
mtk_block_sum). The closure copies what it uses: work on a stream runs when
the stream is synchronized, after the launching function has returned. Everything else (the __global__/__device__/__shared__
keywords, the rounding intrinsics) is device.h's, which the output includes
first. Line numbers are kept: the output's #line points at IN.cu.
"""
import re
import sys


def matching(text, i, open_ch, close_ch):
    """Index just past the bracket that closes text[i] (an open_ch)."""
    depth = 0
    while i < len(text):
        c = text[i]
        if c == open_ch:
            depth += 1
        elif c == close_ch:
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    raise SystemExit("cu2cpp: unbalanced %s%s" % (open_ch, close_ch))


def split_top(s):
    """Splits s at commas outside brackets."""
    parts, depth, cur = [], 0, ""
    for c in s:
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        if c == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += c
    parts.append(cur)
    return [p.strip() for p in parts]


def sync_kernels(text):
    names = set()
    for m in re.finditer(r"__global__\s+void\s+(\w+)\s*\(", text):
        body = text.index("{", matching(text, m.end() - 1, "(", ")"))
        end = matching(text, body, "{", "}")
        if re.search(r"__syncthreads|mtk_block_sum", text[body:end]):
            names.add(m.group(1))
    return names


def convert(text, src):
    sync = sync_kernels(text)
    out, pos = [], 0
    for m in re.finditer(r"(\w+)\s*<<<", text):
        if m.start() < pos:
            continue
        name = m.group(1)
        close = text.index(">>>", m.end())
        config = split_top(text[m.end():close])
        paren = text.index("(", close)
        end = matching(text, paren, "(", ")")
        args = text[paren + 1:end - 1]
        launch = "mtk_emu_launch_sync" if name in sync else "mtk_emu_launch"
        out.append(text[pos:m.start()])
        stream = config[3] if len(config) > 3 else "0"
        out.append("%s(dim3(%s), dim3(%s), (cudaStream_t)(%s), [=]() { %s(%s); })" %
                   (launch, config[0], config[1], stream, name, args))
        pos = end
    out.append(text[pos:])
    return '#include "device.h"\n#line 1 "%s"\n' % src + "".join(out)


def main():
    if len(sys.argv) != 3:
        raise SystemExit("usage: cu2cpp.py IN.cu OUT.cpp")
    src, dst = sys.argv[1], sys.argv[2]
    with open(src) as f:
        text = f.read()
    with open(dst, "w") as f:
        f.write(convert(text, src))


if __name__ == "__main__":
    main()
