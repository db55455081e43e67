#!/usr/bin/env python3
# NOTIFY_SOCKET capture for tests: binds an AF_UNIX datagram socket and prints each datagram as one JSON line.
#
# Usage: notify-socket.py <path>
# First line: {"bound": "<path>"}. Then one line per datagram:
#   {"text": "...", "pid": <sender pid from SCM_CREDENTIALS>, "uid": ..., "mono_usec": <CLOCK_MONOTONIC at receipt>}
import json
import os
import socket
import struct
import sys
import time

path = sys.argv[1]
sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
sock.bind(path)
# Ask the kernel for the sender's credentials, as systemd does to enforce NotifyAccess=.
sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
print(json.dumps({"bound": path}), flush=True)
ucred = struct.Struct("iII")
while True:
    data, ancillary, _flags, _addr = sock.recvmsg(65536, socket.CMSG_SPACE(ucred.size))
    mono_usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    record = {"text": data.decode("utf-8", "replace"), "mono_usec": mono_usec}
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS and len(payload) >= ucred.size:
            record["pid"], record["uid"], record["gid"] = ucred.unpack(payload[: ucred.size])
    print(json.dumps(record), flush=True)
