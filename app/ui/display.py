"""Whether there is a display to open the window on, asked before anything is created.

Without one, GLFW (inside imgui-bundle) prints its own error and then fails an assertion with a
traceback; this says instead what is missing and how to get it. Only X11 and Wayland need checking:
Windows and macOS always have their window system.
"""
from __future__ import annotations

import os
import socket
import sys

HOW = ("run it in a desktop session, or under a virtual display: xvfb-run -a python app.py; the command line "
       "(python app.py train|infer|export|info) needs no display")


def display_problem(environ=os.environ) -> str | None:
    """A one-line reason the window cannot open, or None."""
    if sys.platform in ("win32", "darwin"):
        return None
    x11, wayland = environ.get("DISPLAY"), environ.get("WAYLAND_DISPLAY")
    if not x11 and not wayland:
        return f"no display to open the window on (DISPLAY is not set): {HOW}"
    if x11 and not wayland and not _x11_reachable(x11):
        return f"cannot open display {x11} (no X server answers there): {HOW}"
    return None


def _x11_reachable(display: str) -> bool:
    """Connects to the X server's socket: /tmp/.X11-unix/XN for ':N', TCP port 6000+N for 'host:N'."""
    host, _, rest = display.rpartition(":")
    number = rest.split(".")[0]
    if not number.isdigit():
        return True  # a form we do not know: let GLFW try
    try:
        if host in ("", "unix"):
            path = f"/tmp/.X11-unix/X{number}"
            for address in (path, "\0" + path):  # file socket, or Linux's abstract one
                try:
                    with socket.socket(socket.AF_UNIX) as s:
                        s.settimeout(2)
                        s.connect(address)
                    return True
                except OSError:
                    continue
            return False
        with socket.create_connection((host, 6000 + int(number)), timeout=2):
            return True
    except OSError:
        return False
