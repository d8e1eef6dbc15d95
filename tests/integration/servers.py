"""Real services for the integration tests, and the two fault injectors that real
services cannot produce on demand: a TCP link that breaks large transfers and an HTTP
server that answers 500 on chosen paths. Everything binds to 127.0.0.1."""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_http(url: str, process: subprocess.Popen, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode} while starting")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"{what} did not answer {url} within {timeout:.0f} s")


@dataclass
class S3Endpoint:
    url: str
    access_key: str
    secret_key: str
    process: subprocess.Popen


def start_moto(log_dir: Path, auth: bool = False) -> S3Endpoint:
    """moto's S3 server as a subprocess. With ``auth`` its IAM authentication is on, so
    a request signed with an unknown key is answered 403 InvalidAccessKeyId, as MinIO or
    AWS would (moto cannot check presigned URLs then, which MLflow's artifact downloads
    use, so the session endpoint runs without it)."""
    import secrets

    import boto3

    port = free_port()
    # With auth, the first 3 actions (create user, policy, key) go through unauthenticated.
    env = {**os.environ, **({"INITIAL_NO_AUTH_ACTION_COUNT": "3"} if auth else {})}
    log = open(log_dir / f"moto-{port}.log", "wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    wait_http(f"{url}/moto-api/", process, 30, "moto server")
    if not auth:
        return S3Endpoint(url, "AKIA" + secrets.token_hex(8).upper(), "sk-" + secrets.token_urlsafe(24), process)
    iam = boto3.client(
        "iam",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="bootstrap",
        aws_secret_access_key="bootstrap",
    )
    iam.create_user(UserName="heimdall")
    iam.put_user_policy(
        UserName="heimdall",
        PolicyName="all",
        PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
        ),
    )
    key = iam.create_access_key(UserName="heimdall")["AccessKey"]
    return S3Endpoint(url, key["AccessKeyId"], key["SecretAccessKey"], process)


def s3_client(endpoint: S3Endpoint, url: str = ""):
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=url or endpoint.url,
        region_name="us-east-1",
        aws_access_key_id=endpoint.access_key,
        aws_secret_access_key=endpoint.secret_key,
    )


def start_mlflow(s3: S3Endpoint, work: Path) -> tuple[str, subprocess.Popen]:
    s3_client(s3).create_bucket(Bucket="heimdall-mlflow")
    port = free_port()
    env = {
        **os.environ,
        "MLFLOW_S3_ENDPOINT_URL": s3.url,
        "AWS_ACCESS_KEY_ID": s3.access_key,
        "AWS_SECRET_ACCESS_KEY": s3.secret_key,
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    mlflow = Path(sys.executable).with_name("mlflow")
    log = open(work / "mlflow.log", "wb")
    process = subprocess.Popen(
        [
            str(mlflow),
            "server",
            "--backend-store-uri",
            f"sqlite:///{work / 'mlflow.db'}",
            "--artifacts-destination",
            "s3://heimdall-mlflow",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=work,
    )
    url = f"http://127.0.0.1:{port}"
    wait_http(f"{url}/health", process, 120, "mlflow server")
    return url, process


def stop(process: subprocess.Popen) -> None:
    import psutil

    try:
        children = psutil.Process(process.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        children = []
    for proc in [*children, process]:
        try:
            proc.kill()  # test servers hold nothing worth a graceful shutdown
        except (psutil.NoSuchProcess, ProcessLookupError):
            pass
    process.wait(10)
    psutil.wait_procs(children, timeout=5)


class BreakingLink:
    """A TCP proxy in front of a server. ``limit`` set: any connection that carries more
    than ``limit`` bytes towards the server is cut (a link that drops large transfers,
    as a flaky VPN does); small requests still pass. ``limit`` None: a clean pass-through."""

    def __init__(self, target_port: int, limit: int | None = None):
        self.target_port = target_port
        self.limit = limit
        self.cuts = 0
        self._server = socket.socket()
        self._server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._server.bind(("127.0.0.1", 0))
        self._server.listen(64)
        self.port = self._server.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._closed = False
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
        except OSError:
            client.close()
            return
        sent = [0]

        def pump(src: socket.socket, dst: socket.socket, counted: bool) -> None:
            try:
                while True:
                    data = src.recv(65536)
                    if not data:
                        break
                    if counted:
                        sent[0] += len(data)
                        if self.limit is not None and sent[0] > self.limit:
                            self.cuts += 1
                            break
                    dst.sendall(data)
            except OSError:
                pass
            for sock in (src, dst):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

        back = threading.Thread(target=pump, args=(upstream, client, False), daemon=True)
        back.start()
        pump(client, upstream, True)
        back.join(5)
        client.close()
        upstream.close()

    def close(self) -> None:
        self._closed = True
        self._server.close()


class FailingHttp:
    """An HTTP reverse proxy in front of MLflow that answers 500 to requests whose path
    contains one of ``fail_paths`` while ``failing`` is true."""

    def __init__(self, target: str, fail_paths: tuple[str, ...]):
        proxy = self
        self.failing = True
        self.fail_paths = fail_paths
        self.failures = 0
        host, port = target.replace("http://", "").split(":")

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def _handle(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if proxy.failing and any(p in self.path for p in proxy.fail_paths):
                    proxy.failures += 1
                    payload = b'{"error_code": "INTERNAL_ERROR", "message": "injected failure"}'
                    self.send_response(500)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                conn = http.client.HTTPConnection(host, int(port), timeout=60)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                conn.request(self.command, self.path, body=body or None, headers=headers)
                response = conn.getresponse()
                data = response.read()
                self.send_response(response.status)
                for k, v in response.getheaders():
                    if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                conn.close()

            do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _handle

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def tiny_onnx(path: Path, seed: int, width: int = 4, external_mb: float = 0) -> Path:
    """A MatMul model whose weights depend on ``seed`` (so each test has its own sha256);
    with ``external_mb`` its weights (about that size) go to ``<name>.data``."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rows = max(width, int(external_mb * 1024 * 1024 / 4 / 2)) if external_mb else width
    weights = np.random.default_rng(seed).standard_normal((rows, 2)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])],
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", rows])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 2])],
        [numpy_helper.from_array(weights, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    path.parent.mkdir(parents=True, exist_ok=True)
    if external_mb:
        onnx.save(
            model,
            str(path),
            save_as_external_data=True,
            all_tensors_to_one_file=True,
            location=path.name + ".data",
            size_threshold=0,
        )
    else:
        onnx.save(model, str(path))
    return path
