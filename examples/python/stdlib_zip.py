# SPDX-License-Identifier: MIT
"""Pack CPython's pure-Python standard library into one zip for the guest.

    stdlib_zip.py LIBDIR OUT.zip GUESTZIP

LIBDIR is the source package's Lib/ (the same version as the guest's
interpreter); OUT.zip is written with every module's source and, when this
interpreter is a 3.11 (the same bytecode), its code compiled as an
unchecked hash-based .pyc: the guest imports without compiling and the zip
needs no timestamps. GUESTZIP is the zip's path inside the guest, the file
name its code objects carry (tracebacks name it). Stored, not deflated:
imports read it without inflating. Entries sorted, dates fixed: the same input gives the
same bytes. Left out: tests, and what needs a display, a terminal, a
package installer or a second process.
"""
import importlib._bootstrap_external as bext
import importlib.util
import os
import sys
import zipfile

SKIP_TOP = {"idlelib", "tkinter", "turtledemo", "ensurepip", "lib2to3", "pydoc_data",
            "venv", "distutils", "msilib", "curses", "dbm", "multiprocessing",
            "concurrent", "asyncio", "xmlrpc", "site-packages", "turtle.py"}
SKIP_ANY = {"test", "tests", "idle_test", "__pycache__"}


def members(libdir):
    for root, dirs, files in os.walk(libdir):
        rel = os.path.relpath(root, libdir)
        parts = [] if rel == "." else rel.split(os.sep)
        dirs[:] = sorted(d for d in dirs if d not in SKIP_ANY and
                         not (not parts and d in SKIP_TOP))
        for f in sorted(files):
            if f.endswith(".py") and not (not parts and f in SKIP_TOP):
                yield "/".join(parts + [f]), os.path.join(root, f)


def entry(zf, name, data):
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.external_attr = 0o644 << 16
    zf.writestr(info, data, compress_type=zipfile.ZIP_STORED)


def main():
    libdir, out, guest_zip = sys.argv[1:4]
    compile_pyc = sys.version_info[:2] == (3, 11)
    tmp = out + ".tmp"
    with zipfile.ZipFile(tmp, "w") as zf:
        for name, path in sorted(members(libdir)):
            with open(path, "rb") as f:
                src = f.read()
            entry(zf, name, src)
            if not compile_pyc:
                continue
            try:
                code = compile(src, guest_zip + "/" + name, "exec", dont_inherit=True)
            except SyntaxError:
                continue  # lib2to3-style fixtures; the guest reports them itself
            pyc = bext._code_to_hash_pyc(code, importlib.util.source_hash(src), False)
            entry(zf, name + "c", bytes(pyc))
    os.replace(tmp, out)


if __name__ == "__main__":
    main()
