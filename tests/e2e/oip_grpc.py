"""A client of the Open Inference Protocol v2 over gRPC (`inference.GRPCInferenceService`, the
KServe v2 / Triton protocol), for the black-box tests.

The messages are described here, field number by field number as the published protocol
defines them, with protobuf's descriptor classes, so nothing is generated at build time and
neither protoc nor grpc_tools is needed: only Debian's python3-protobuf and python3-grpcio. The
client does not read the server's own proto file on purpose: a server whose .proto drifted
from the published protocol fails these tests, as it would fail every existing v2 client.

Only the RPCs the tests use are described: ServerLive, ServerReady, ModelReady,
ServerMetadata, ModelMetadata and ModelInfer.

    from oip_grpc import V2Client
    c = V2Client(f"127.0.0.1:{port}", token)
    c.server_live()                                   # -> ServerLiveResponse
    c.model_infer(model_name="m", inputs=[...])       # -> ModelInferResponse
"""

from __future__ import annotations

import struct

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

PACKAGE = "inference"
SERVICE = f"{PACKAGE}.GRPCInferenceService"

_F = descriptor_pb2.FieldDescriptorProto
_SCALARS = {
    "bool": _F.TYPE_BOOL, "string": _F.TYPE_STRING, "bytes": _F.TYPE_BYTES,
    "int32": _F.TYPE_INT32, "int64": _F.TYPE_INT64, "uint32": _F.TYPE_UINT32,
    "uint64": _F.TYPE_UINT64, "float": _F.TYPE_FLOAT, "double": _F.TYPE_DOUBLE,
}

# message -> [(field, number, type, flags)]; type is a scalar name, a message name relative to
# the package ("ModelInferRequest.InferInputTensor"), or "map<string,InferParameter>";
# flags: "repeated", or "oneof:<name>".
_MESSAGES: dict[str, list[tuple]] = {
    "ServerLiveRequest": [],
    "ServerLiveResponse": [("live", 1, "bool", "")],
    "ServerReadyRequest": [],
    "ServerReadyResponse": [("ready", 1, "bool", "")],
    "ModelReadyRequest": [("name", 1, "string", ""), ("version", 2, "string", "")],
    "ModelReadyResponse": [("ready", 1, "bool", "")],
    "ServerMetadataRequest": [],
    "ServerMetadataResponse": [("name", 1, "string", ""), ("version", 2, "string", ""),
                               ("extensions", 3, "string", "repeated")],
    "ModelMetadataRequest": [("name", 1, "string", ""), ("version", 2, "string", "")],
    "ModelMetadataResponse.TensorMetadata": [
        ("name", 1, "string", ""), ("datatype", 2, "string", ""),
        ("shape", 3, "int64", "repeated")],
    "ModelMetadataResponse": [
        ("name", 1, "string", ""), ("versions", 2, "string", "repeated"),
        ("platform", 3, "string", ""),
        ("inputs", 4, "ModelMetadataResponse.TensorMetadata", "repeated"),
        ("outputs", 5, "ModelMetadataResponse.TensorMetadata", "repeated")],
    "InferParameter": [
        ("bool_param", 1, "bool", "oneof:parameter_choice"),
        ("int64_param", 2, "int64", "oneof:parameter_choice"),
        ("string_param", 3, "string", "oneof:parameter_choice")],
    "InferTensorContents": [
        ("bool_contents", 1, "bool", "repeated"), ("int_contents", 2, "int32", "repeated"),
        ("int64_contents", 3, "int64", "repeated"), ("uint_contents", 4, "uint32", "repeated"),
        ("uint64_contents", 5, "uint64", "repeated"), ("fp32_contents", 6, "float", "repeated"),
        ("fp64_contents", 7, "double", "repeated"), ("bytes_contents", 8, "bytes", "repeated")],
    "ModelInferRequest.InferInputTensor": [
        ("name", 1, "string", ""), ("datatype", 2, "string", ""),
        ("shape", 3, "int64", "repeated"),
        ("parameters", 4, "map<string,InferParameter>", ""),
        ("contents", 5, "InferTensorContents", "")],
    "ModelInferRequest.InferRequestedOutputTensor": [
        ("name", 1, "string", ""), ("parameters", 2, "map<string,InferParameter>", "")],
    "ModelInferRequest": [
        ("model_name", 1, "string", ""), ("model_version", 2, "string", ""),
        ("id", 3, "string", ""), ("parameters", 4, "map<string,InferParameter>", ""),
        ("inputs", 5, "ModelInferRequest.InferInputTensor", "repeated"),
        ("outputs", 6, "ModelInferRequest.InferRequestedOutputTensor", "repeated"),
        ("raw_input_contents", 7, "bytes", "repeated")],
    "ModelInferResponse.InferOutputTensor": [
        ("name", 1, "string", ""), ("datatype", 2, "string", ""),
        ("shape", 3, "int64", "repeated"),
        ("parameters", 4, "map<string,InferParameter>", ""),
        ("contents", 5, "InferTensorContents", "")],
    "ModelInferResponse": [
        ("model_name", 1, "string", ""), ("model_version", 2, "string", ""),
        ("id", 3, "string", ""), ("parameters", 4, "map<string,InferParameter>", ""),
        ("outputs", 5, "ModelInferResponse.InferOutputTensor", "repeated"),
        ("raw_output_contents", 6, "bytes", "repeated")],
}

RPCS = {
    "ServerLive": ("ServerLiveRequest", "ServerLiveResponse"),
    "ServerReady": ("ServerReadyRequest", "ServerReadyResponse"),
    "ModelReady": ("ModelReadyRequest", "ModelReadyResponse"),
    "ServerMetadata": ("ServerMetadataRequest", "ServerMetadataResponse"),
    "ModelMetadata": ("ModelMetadataRequest", "ModelMetadataResponse"),
    "ModelInfer": ("ModelInferRequest", "ModelInferResponse"),
}


def _file_descriptor() -> descriptor_pb2.FileDescriptorProto:
    fd = descriptor_pb2.FileDescriptorProto(name="aimass_tests/oip_v2_grpc.proto",
                                            package=PACKAGE, syntax="proto3")
    protos: dict[str, descriptor_pb2.DescriptorProto] = {}

    def proto_for(path: str) -> descriptor_pb2.DescriptorProto:
        if path not in protos:
            parent, _, name = path.rpartition(".")
            container = proto_for(parent).nested_type if parent else fd.message_type
            protos[path] = container.add(name=name)
        return protos[path]

    for path, fields in _MESSAGES.items():
        msg = proto_for(path)
        oneofs: dict[str, int] = {}
        for name, number, typ, flags in fields:
            f = msg.field.add(name=name, number=number, label=_F.LABEL_OPTIONAL)
            if typ.startswith("map<"):
                # map<K,V> is a repeated nested XxxEntry message with key = 1, value = 2.
                key, value = typ[4:-1].split(",")
                entry = msg.nested_type.add(name="".join(p.title() for p in name.split("_")) + "Entry")
                entry.options.map_entry = True
                entry.field.add(name="key", number=1, label=_F.LABEL_OPTIONAL, type=_SCALARS[key])
                entry.field.add(name="value", number=2, label=_F.LABEL_OPTIONAL,
                                type=_F.TYPE_MESSAGE, type_name=f".{PACKAGE}.{value}")
                f.label = _F.LABEL_REPEATED
                f.type = _F.TYPE_MESSAGE
                f.type_name = f".{PACKAGE}.{path}.{entry.name}"
            elif typ in _SCALARS:
                f.type = _SCALARS[typ]
            else:
                f.type = _F.TYPE_MESSAGE
                f.type_name = f".{PACKAGE}.{typ}"
            if flags == "repeated":
                f.label = _F.LABEL_REPEATED
            elif flags.startswith("oneof:"):
                group = flags[len("oneof:"):]
                if group not in oneofs:
                    oneofs[group] = len(msg.oneof_decl)
                    msg.oneof_decl.add(name=group)
                f.oneof_index = oneofs[group]
    return fd


def _message_classes() -> dict[str, type]:
    pool = descriptor_pool.DescriptorPool()
    pool.Add(_file_descriptor())
    classes = {}
    get_class = getattr(message_factory, "GetMessageClass", None)  # protobuf >= 4.22
    factory = None if get_class else message_factory.MessageFactory(pool)
    for path in _MESSAGES:
        desc = pool.FindMessageTypeByName(f"{PACKAGE}.{path}")
        classes[path] = get_class(desc) if get_class else factory.GetPrototype(desc)
    return classes


MESSAGES = _message_classes()

# Little-endian element formats of the raw (binary) tensor representation.
STRUCT_FORMATS = {"FP32": "f", "FP64": "d", "INT32": "i", "INT64": "q", "INT8": "b",
                  "UINT8": "B", "INT16": "h", "BOOL": "?"}


def pack(datatype: str, values) -> bytes:
    return struct.pack(f"<{len(values)}{STRUCT_FORMATS[datatype]}", *values)


def unpack(datatype: str, raw: bytes) -> list:
    size = struct.calcsize(STRUCT_FORMATS[datatype])
    assert len(raw) % size == 0, f"{len(raw)} raw bytes are not a whole number of {datatype}"
    return list(struct.unpack(f"<{len(raw) // size}{STRUCT_FORMATS[datatype]}", raw))


def output_values(response, index: int) -> list:
    """The data of output `index` of a ModelInferResponse, from raw_output_contents when the
    server used them, else from the typed contents."""
    out = response.outputs[index]
    if len(response.raw_output_contents) > 0:
        return unpack(out.datatype, response.raw_output_contents[index])
    c = out.contents
    return list({"FP32": c.fp32_contents, "FP64": c.fp64_contents, "INT64": c.int64_contents,
                 "BOOL": c.bool_contents}.get(out.datatype, c.int_contents))


class V2Client:
    """Unary calls to GRPCInferenceService over an insecure channel. `token`, when given, is
    sent as `authorization: Bearer <token>` metadata on every call."""

    def __init__(self, target: str, token: str | None = None, timeout: float = 15.0):
        import grpc  # python3-grpcio; imported here so that a missing package fails the test

        self.grpc = grpc
        self.channel = grpc.insecure_channel(target)
        self.token = token
        self.timeout = timeout
        self._calls = {
            rpc: self.channel.unary_unary(
                f"/{SERVICE}/{rpc}",
                request_serializer=MESSAGES[req].SerializeToString,
                response_deserializer=MESSAGES[resp].FromString)
            for rpc, (req, resp) in RPCS.items()
        }

    def call(self, rpc: str, request=None, token: str | None = "default", **fields):
        """Calls `rpc` with `request` (or a request built from `fields`)."""
        if request is None:
            request = MESSAGES[RPCS[rpc][0]](**fields)
        token = self.token if token == "default" else token
        metadata = [("authorization", f"Bearer {token}")] if token else None
        return self._calls[rpc](request, timeout=self.timeout, metadata=metadata)

    def server_live(self, **kw):
        return self.call("ServerLive", **kw)

    def server_ready(self, **kw):
        return self.call("ServerReady", **kw)

    def server_metadata(self, **kw):
        return self.call("ServerMetadata", **kw)

    def model_ready(self, **kw):
        return self.call("ModelReady", **kw)

    def model_metadata(self, **kw):
        return self.call("ModelMetadata", **kw)

    def model_infer(self, request=None, **kw):
        return self.call("ModelInfer", request, **kw)

    def close(self):
        self.channel.close()
