#!/usr/bin/env bash
# Regenerates the Salesforce Pub/Sub API gRPC stubs committed in
# connectors/salesforce/pubsub/ from Salesforce's own interface definition
# (pubsub_api.proto, CC0, copied beside them). The stubs are committed so that
# running the project needs grpcio and protobuf only; grpcio-tools is needed only
# here, when the .proto changes. grpc_tools writes `import pubsub_api_pb2`, which
# is rewritten to a package-relative import so the stubs live in a package.
# An argument writes them to another folder instead (the test that they are current).
set -euo pipefail
cd "$(dirname "$0")/.."
package=connectors/salesforce/pubsub
out="${1:-$package}"
.venv/bin/python -m grpc_tools.protoc -I "$package" \
  --python_out="$out" --pyi_out="$out" --grpc_python_out="$out" \
  "$package/pubsub_api.proto"
sed -i 's/^import pubsub_api_pb2 as /from . import pubsub_api_pb2 as /' "$out/pubsub_api_pb2_grpc.py"
