# SPDX-License-Identifier: MIT
"""What a user runs Python requests in instead of a nub sandbox (bench_py).

    py_peer.py zygote   warm interpreter; a forked child per request
    py_peer.py worker   warm interpreter; every request in it (no isolation)
    py_peer.py park N   N forked children of a warm interpreter, parked

Requests on stdin, answers on stdout, both a little-endian u32 length and
the bytes: the source, then the repr() of its last expression (or "None");
a length of 0xffffffff stops the peer.
The same imports the Python guest makes at init, so both start warm.
"""
import ast, collections, dataclasses, datetime, functools, itertools, json, math, os, re
import struct, sys


def run(src):
    tree = ast.parse(src, "<exec>")
    last = None
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = ast.Expression(tree.body.pop().value)
    g = {"__name__": "__main__"}
    exec(compile(tree, "<exec>", "exec"), g)
    return repr(eval(compile(last, "<exec>", "eval"), g)) if last else "None"


def read_exact(n):
    b = b""
    while len(b) < n:
        c = os.read(0, n - len(b))
        if not c:
            return None
        b += c
    return b


def answer(text):
    data = text.encode()
    os.write(1, struct.pack("<I", len(data)) + data)


def serve(fork):
    while True:
        head = read_exact(4)
        n = struct.unpack("<I", head)[0] if head else 0xFFFFFFFF
        if n == 0xFFFFFFFF:  # told to stop: others may hold the pipe open
            return
        src = read_exact(n).decode()
        if not fork:
            answer(run(src))
            continue
        pid = os.fork()
        if pid == 0:
            answer(run(src))
            os._exit(0)
        os.waitpid(pid, 0)


def park(n):
    gate_r, gate_w = os.pipe()
    kids = []
    for _ in range(n):
        pid = os.fork()
        if pid == 0:
            os.close(gate_w)
            os.read(gate_r, 1)  # until the parent closes the gate
            os._exit(0)
        kids.append(pid)
    os.close(gate_r)
    answer(" ".join(map(str, kids)))
    os.read(0, 1)  # until the bench is done measuring
    os.close(gate_w)
    for pid in kids:
        os.waitpid(pid, 0)


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "park":
        park(int(sys.argv[2]))
    else:
        serve(mode == "zygote")
