"""A client of the message queue's gRPC streams (`aimass.mq.v1.MessageQueue`,
proto/mq.proto) for the black-box tests, its messages described field by field with
protobuf's descriptor classes (Debian's python3-protobuf and python3-grpcio; no protoc).

    from mq_grpc import publish_stream, consume_stream, MESSAGES
"""

from __future__ import annotations

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

PACKAGE = "aimass.mq.v1"
_F = descriptor_pb2.FieldDescriptorProto
_SCALARS = {"bool": _F.TYPE_BOOL, "string": _F.TYPE_STRING, "bytes": _F.TYPE_BYTES,
            "int32": _F.TYPE_INT32, "int64": _F.TYPE_INT64, "uint32": _F.TYPE_UINT32,
            "uint64": _F.TYPE_UINT64}

# message -> [(field, number, type, repeated)]
_MESSAGES = {
    "Header": [("name", 1, "string", False), ("value", 2, "string", False)],
    "OutgoingMessage": [("key", 1, "string", False), ("headers", 2, "Header", True),
                        ("body", 3, "bytes", False), ("delay_ms", 4, "int64", False),
                        ("ttl_ms", 5, "int64", False), ("dedup_id", 6, "string", False)],
    "PublishRequest": [("seq", 1, "uint64", False), ("topic", 2, "string", False),
                       ("messages", 3, "OutgoingMessage", True)],
    "PublishResult": [("partition", 1, "uint32", False), ("offset", 2, "uint64", False),
                      ("duplicate", 3, "bool", False)],
    "PublishReply": [("seq", 1, "uint64", False), ("results", 2, "PublishResult", True),
                     ("error_code", 3, "string", False), ("error_message", 4, "string", False)],
    "ConsumeRequest": [("subscription", 1, "string", False), ("credits", 2, "uint32", False),
                       ("ack_ids", 3, "string", True), ("nack_ids", 4, "string", True),
                       ("nack_delay_ms", 5, "int64", False)],
    "Delivery": [("id", 1, "string", False), ("topic", 2, "string", False),
                 ("partition", 3, "uint32", False), ("offset", 4, "uint64", False),
                 ("key", 5, "string", False), ("headers", 6, "Header", True),
                 ("body", 7, "bytes", False), ("timestamp_ms", 8, "int64", False),
                 ("deliveries", 9, "int32", False)],
    "ConsumeReply": [("messages", 1, "Delivery", True)],
}


def _classes() -> dict[str, type]:
    fd = descriptor_pb2.FileDescriptorProto(name="aimass_tests/mq.proto", package=PACKAGE, syntax="proto3")
    for name, fields in _MESSAGES.items():
        msg = fd.message_type.add(name=name)
        for fname, number, typ, repeated in fields:
            f = msg.field.add(name=fname, number=number,
                              label=_F.LABEL_REPEATED if repeated else _F.LABEL_OPTIONAL)
            if typ in _SCALARS:
                f.type = _SCALARS[typ]
            else:
                f.type = _F.TYPE_MESSAGE
                f.type_name = f".{PACKAGE}.{typ}"
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fd)
    get_class = getattr(message_factory, "GetMessageClass", None)
    factory = None if get_class else message_factory.MessageFactory(pool)
    out = {}
    for name in _MESSAGES:
        desc = pool.FindMessageTypeByName(f"{PACKAGE}.{name}")
        out[name] = get_class(desc) if get_class else factory.GetPrototype(desc)
    return out


MESSAGES = _classes()


def _stream(channel: grpc.Channel, method: str, request: str, reply: str):
    return channel.stream_stream(f"/{PACKAGE}.MessageQueue/{method}",
                                 request_serializer=MESSAGES[request].SerializeToString,
                                 response_deserializer=MESSAGES[reply].FromString)


def publish_stream(channel: grpc.Channel, requests, token: str):
    """Iterates the PublishReply answers to an iterable of PublishRequest."""
    return _stream(channel, "Publish", "PublishRequest", "PublishReply")(
        requests, metadata=[("authorization", f"Bearer {token}")])


def consume_stream(channel: grpc.Channel, requests, token: str):
    """Iterates the ConsumeReply batches; `requests` yields ConsumeRequest (first one names the
    subscription)."""
    return _stream(channel, "Consume", "ConsumeRequest", "ConsumeReply")(
        requests, metadata=[("authorization", f"Bearer {token}")])
