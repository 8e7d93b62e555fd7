"""sd_notify(3) without libsystemd: one datagram to $NOTIFY_SOCKET. A no-op outside systemd."""

from __future__ import annotations

import os
import socket
import time


class Notifier:
    """systemd's notify protocol over $NOTIFY_SOCKET (sd_notify(3)); without the variable every call is a no-op."""

    def __init__(self):
        addr = os.environ.get("NOTIFY_SOCKET", "")
        if addr.startswith("@"):
            addr = "\0" + addr[1:]  # abstract namespace
        self.addr = addr or None
        usec = os.environ.get("WATCHDOG_USEC")
        self.watchdog_s = int(usec) / 1e6 if usec and usec.isdigit() else None
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) if self.addr else None
        self._last_ping = 0.0

    def notify(self, msg: str) -> None:
        """Send one message ("READY=1", ...); a failing socket is ignored: the daemon must not die of it."""
        if self._sock is None:
            return
        try:
            # never block the worker loop on a slow reader
            self._sock.sendto(msg.encode(), socket.MSG_DONTWAIT, self.addr)
        except OSError:
            pass  # systemd gone (shutdown): nothing to tell

    def ready(self):
        """Tell systemd the daemon is ready (Type=notify)."""
        self.notify("READY=1")

    def watchdog(self):
        """Called every loop turn; sends at most every quarter of the watchdog period."""
        now = time.monotonic()
        if self.watchdog_s is not None and now - self._last_ping >= self.watchdog_s / 4:
            self._last_ping = now
            self.notify("WATCHDOG=1")

    def stopping(self):
        """Tell systemd the daemon is stopping."""
        self.notify("STOPPING=1")

    def status(self, text: str):
        """The status line systemctl shows."""
        self.notify(f"STATUS={text}")

    def close(self):
        """Close the socket; idempotent."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None
