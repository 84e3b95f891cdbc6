"""Safety bar 15: two processes on one host (a container restarted with the same host name) get distinct ids."""

import socket
import subprocess
import sys


def test_processes_with_the_same_host_name_have_distinct_worker_ids() -> None:
    code = "from bot.lifecycle import worker_id; print(worker_id())"
    ids = [
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
        for _ in range(2)
    ]
    host = socket.gethostname()
    assert all(i.startswith(f"{host}-") for i in ids)
    assert ids[0] != ids[1]
