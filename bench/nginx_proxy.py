"""nginx `proxy_pass` as the benchmarks' reference proxy (Debian's nginx-light, `make bench`).

The configuration is generated into a directory of the run: one worker, listening on 127.0.0.1
only, a keep-alive upstream pool, no access log; the pid, error log and every temp path live in
that directory, so nothing of the system's nginx set-up is read or written. nginx runs in the
foreground (`daemon off`) as a child of the benchmark and is stopped by its PID like the others.
"""

from __future__ import annotations

import getpass
import shutil
from pathlib import Path

from harness import Children, free_port

CONFIG = """\
# Written by bench/nginx_proxy.py for one benchmark run.
daemon off;
master_process on;
worker_processes 1;
user {user};
pid {work}/nginx.pid;
error_log {work}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {work}/body;
    proxy_temp_path {work}/proxy;
    fastcgi_temp_path {work}/fastcgi;
    uwsgi_temp_path {work}/uwsgi;
    scgi_temp_path {work}/scgi;
    upstream model {{
        server 127.0.0.1:{upstream_port};
        keepalive 64;
    }}
    server {{
        listen 127.0.0.1:{port};
        keepalive_requests 1000000;
        location / {{
            proxy_pass http://model;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}
}}
"""


def nginx_binary() -> str:
    """The nginx executable; a clear error when it is missing."""
    found = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/sbin/nginx") if Path(p).exists()), None
    )
    if found is None:
        raise SystemExit("nginx is not installed: `make bench` installs Debian's nginx-light")
    return found


def start_nginx(children: Children, upstream_port: int, run_dir: Path, cpus: str | None) -> int:
    """Start nginx in front of 127.0.0.1:`upstream_port`; return its port once it answers."""
    work = run_dir / "nginx"
    work.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config = work / "nginx.conf"
    # `user` is honoured only when the master runs as root (the workers then need the temp dirs
    # it owns); otherwise nginx ignores it with a warning.
    config.write_text(
        CONFIG.format(user=getpass.getuser(), work=work, upstream_port=upstream_port, port=port)
    )
    child = children.start(
        "nginx",
        [nginx_binary(), "-p", str(work), "-e", str(work / "error.log"), "-c", str(config)],
        log_path=work / "stdout.log",
        cpus=cpus,
    )
    child.wait_http(f"http://127.0.0.1:{port}/ping")
    return port
