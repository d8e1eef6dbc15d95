"""Upload throughput of S3Store (multipart, progress, sha256 checksum, read-back verify)
against a plain boto3 ``upload_file`` of the same file to the same moto S3 endpoint.

    .venv/bin/python bench/bench_upload.py [--mb 50] [--repeats 3]

Prints MB/s of each and the ratio S3Store / boto3 (1.0 = no overhead). Runs alternate
so drift on a shared machine hits both alike; report the ratio, not absolute numbers.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from heimdall_studio.core.cancel import CancelToken  # noqa: E402
from heimdall_studio.integrations.s3 import MB, S3Store  # noqa: E402
from heimdall_studio.integrations.store import sha256_file  # noqa: E402
from tests.integration.servers import s3_client, start_moto, stop  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    from boto3.s3.transfer import TransferConfig

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        data = work / "model.onnx"
        data.write_bytes(os.urandom(args.mb * MB))
        endpoint = start_moto(work)
        try:
            raw = s3_client(endpoint)
            raw.create_bucket(Bucket="bench")
            store = S3Store(endpoint.url, "bench", "us-east-1", endpoint.access_key, endpoint.secret_key)
            config = TransferConfig(
                multipart_threshold=store.part_size, multipart_chunksize=store.part_size, max_concurrency=4
            )
            ours, plain = [], []
            for i in range(args.repeats):
                start = time.perf_counter()
                raw.upload_file(str(data), "bench", f"raw/{i}.onnx", Config=config)
                plain.append(time.perf_counter() - start)
                start = time.perf_counter()
                digest = sha256_file(data)  # part of a push: the sha256 goes into metadata
                store.upload(data, f"ours/{i}.onnx", {"sha256": digest}, lambda n: None, CancelToken())
                ours.append(time.perf_counter() - start)
        finally:
            stop(endpoint.process)
    ours_mbps, plain_mbps = args.mb / statistics.median(ours), args.mb / statistics.median(plain)
    print(f"file {args.mb} MB, part {store.part_size // MB} MB, {args.repeats} repeats (median)")
    print(f"boto3 upload_file : {plain_mbps:7.1f} MB/s")
    print(f"S3Store.upload    : {ours_mbps:7.1f} MB/s (sha256 + SHA256 checksum + head verify)")
    print(f"ratio S3Store/boto3: {ours_mbps / plain_mbps:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
