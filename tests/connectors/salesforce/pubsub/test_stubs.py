"""The committed Pub/Sub API stubs are what scripts/gen_pubsub_stubs.sh makes from the
committed pubsub_api.proto: an edit to either without the other fails here."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[4]
PACKAGE = ROOT / "connectors" / "salesforce" / "pubsub"
STUBS = ("pubsub_api_pb2.py", "pubsub_api_pb2.pyi", "pubsub_api_pb2_grpc.py")


def test_the_committed_stubs_are_generated_from_the_committed_proto(tmp_path: Path) -> None:
    pytest.importorskip("grpc_tools")
    subprocess.run([str(ROOT / "scripts" / "gen_pubsub_stubs.sh"), str(tmp_path)], check=True)
    for name in STUBS:
        assert (tmp_path / name).read_text() == (PACKAGE / name).read_text(), name


def test_the_stubs_import_as_a_package() -> None:
    from connectors.salesforce.pubsub import pubsub_api_pb2 as pb2
    from connectors.salesforce.pubsub import pubsub_api_pb2_grpc as pb2_grpc

    assert pb2_grpc.PubSubStub and pb2.FetchRequest(num_requested=1).num_requested == 1
