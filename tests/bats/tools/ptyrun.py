#!/usr/bin/env python3
"""ptyrun.py - run a command on a pseudo-terminal of a given width; print what it wrote there.

usage: ptyrun.py [--cols N] [--stdout FILE] [--stdin FILE] -- CMD...
  --cols N      the terminal's width (TIOCSWINSZ; default 80), 24 rows
  --stdout FILE stdout goes to FILE (a pipe-like file), stderr stays on the terminal
  --stdin FILE  stdin from FILE (default: the terminal)
What the command writes to the terminal is printed on stdout with "\\r\\n" turned
back into "\\n"; the exit status is the command's. Bounded: 60 s at most.
"""
import fcntl, os, pty, select, struct, sys, termios, time

def main():
    args = sys.argv[1:]
    cols, out, inp = 80, None, None
    while args and args[0] != "--":
        if args[0] == "--cols":
            cols = int(args[1]); args = args[2:]
        elif args[0] == "--stdout":
            out = args[1]; args = args[2:]
        elif args[0] == "--stdin":
            inp = args[1]; args = args[2:]
        else:
            sys.exit("ptyrun.py: unknown option " + args[0])
    cmd = args[1:]
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, cols, 0, 0))
    pid = os.fork()
    if pid == 0:
        os.setsid()
        fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
        os.dup2(os.open(inp, os.O_RDONLY) if inp else slave, 0)
        os.dup2(os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644) if out else slave, 1)
        os.dup2(slave, 2)
        os.close(master)
        os.close(slave)
        os.execvp(cmd[0], cmd)
    os.close(slave)
    data = b""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        r, _, _ = select.select([master], [], [], 0.5)
        if r:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break  # EIO: the command and its children closed the terminal
            if not chunk:
                break
            data += chunk
    else:
        os.kill(pid, 9)
    _, status = os.waitpid(pid, 0)
    sys.stdout.buffer.write(data.replace(b"\r\n", b"\n"))
    sys.exit(os.waitstatus_to_exitcode(status))

main()
