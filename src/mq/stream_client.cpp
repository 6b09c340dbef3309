#include "mq/stream_client.hpp"

#include <grpcpp/grpcpp.h>

#include <mutex>

#include "mq.grpc.pb.h"

namespace aimass::mq {

namespace pb = ::aimass::mq::v1;

namespace {

std::shared_ptr<grpc::Channel> Channel(const std::string& address) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(256 << 20);
  args.SetMaxSendMessageSize(256 << 20);
  return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
}

Status FromGrpc(const grpc::Status& st) {
  if (st.ok()) return Status::Ok();
  switch (st.error_code()) {
    case grpc::StatusCode::UNAUTHENTICATED: return Status::Unauthenticated(st.error_message());
    case grpc::StatusCode::PERMISSION_DENIED: return Status::Forbidden(st.error_message());
    case grpc::StatusCode::NOT_FOUND: return Status::NotFound(st.error_message());
    case grpc::StatusCode::INVALID_ARGUMENT: return Status::BadRequest(st.error_message());
    default: return Status::Unavailable(st.error_message());
  }
}

}  // namespace

struct Publisher::Impl {
  std::unique_ptr<pb::MessageQueue::Stub> stub;
  grpc::ClientContext ctx;
  std::unique_ptr<grpc::ClientReaderWriter<pb::PublishRequest, pb::PublishReply>> stream;
  uint64_t next_seq = 1;
};

Publisher::Publisher(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Publisher::~Publisher() { (void)Close(); }

Result<std::unique_ptr<Publisher>> Publisher::Connect(const std::string& address, const std::string& token) {
  auto impl = std::make_unique<Impl>();
  impl->stub = pb::MessageQueue::NewStub(Channel(address));
  impl->ctx.AddMetadata("authorization", "Bearer " + token);
  impl->stream = impl->stub->Publish(&impl->ctx);
  if (!impl->stream) return Status::Unavailable("cannot open a publish stream to " + address);
  return std::unique_ptr<Publisher>(new Publisher(std::move(impl)));
}

Status Publisher::Send(uint64_t seq, const std::string& topic, const std::vector<OutgoingMessage>& messages) {
  pb::PublishRequest req;
  req.set_seq(seq);
  req.set_topic(topic);
  for (const auto& m : messages) {
    auto* o = req.add_messages();
    o->set_key(m.key);
    o->set_body(m.body);
    o->set_delay_ms(m.delay_ms);
    o->set_ttl_ms(m.ttl_ms);
    o->set_dedup_id(m.dedup_id);
    for (const auto& [n, v] : m.headers) {
      auto* h = o->add_headers();
      h->set_name(n);
      h->set_value(v);
    }
  }
  if (!impl_->stream->Write(req)) return Status::Unavailable("the publish stream is closed");
  return Status::Ok();
}

Result<std::pair<uint64_t, std::vector<PublishResult>>> Publisher::Receive() {
  pb::PublishReply reply;
  if (!impl_->stream->Read(&reply)) return Status::Unavailable("the publish stream is closed");
  if (!reply.error_code().empty()) {
    Code code = reply.error_code() == "not_found" ? Code::kNotFound
                : reply.error_code() == "forbidden" ? Code::kForbidden
                : reply.error_code() == "bad_request" ? Code::kBadRequest
                                                      : Code::kInternal;
    return Status(code, reply.error_message());
  }
  std::vector<PublishResult> out;
  for (const auto& r : reply.results()) out.push_back({r.partition(), r.offset(), r.duplicate()});
  return std::make_pair(reply.seq(), std::move(out));
}

Result<std::vector<PublishResult>> Publisher::Publish(const std::string& topic, const std::vector<OutgoingMessage>& messages) {
  AIMASS_RETURN_IF_ERROR(Send(impl_->next_seq++, topic, messages));
  AIMASS_ASSIGN_OR_RETURN(auto got, Receive());
  return std::move(got.second);
}

Status Publisher::Close() {
  if (!impl_ || !impl_->stream) return Status::Ok();
  impl_->stream->WritesDone();
  pb::PublishReply drain;
  while (impl_->stream->Read(&drain)) {
  }
  Status st = FromGrpc(impl_->stream->Finish());
  impl_->stream.reset();
  return st;
}

struct Consumer::Impl {
  std::unique_ptr<pb::MessageQueue::Stub> stub;
  grpc::ClientContext ctx;
  std::unique_ptr<grpc::ClientReaderWriter<pb::ConsumeRequest, pb::ConsumeReply>> stream;
  std::mutex write_mu;  // Ack may run beside Next
};

Consumer::Consumer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Consumer::~Consumer() { (void)Close(); }

Result<std::unique_ptr<Consumer>> Consumer::Connect(const std::string& address, const std::string& token,
                                                    const std::string& subscription, uint32_t credits) {
  auto impl = std::make_unique<Impl>();
  impl->stub = pb::MessageQueue::NewStub(Channel(address));
  impl->ctx.AddMetadata("authorization", "Bearer " + token);
  impl->stream = impl->stub->Consume(&impl->ctx);
  pb::ConsumeRequest first;
  first.set_subscription(subscription);
  first.set_credits(credits);
  if (!impl->stream || !impl->stream->Write(first)) return Status::Unavailable("cannot open a consume stream to " + address);
  return std::unique_ptr<Consumer>(new Consumer(std::move(impl)));
}

Result<std::vector<Delivery>> Consumer::Next() {
  pb::ConsumeReply reply;
  if (!impl_->stream->Read(&reply)) {
    Status st = FromGrpc(impl_->stream->Finish());
    impl_->stream.reset();
    return st.ok() ? Status::Unavailable("the consume stream ended") : st;
  }
  std::vector<Delivery> out;
  out.reserve(static_cast<size_t>(reply.messages_size()));
  for (auto& m : *reply.mutable_messages()) {
    Delivery d;
    d.id = std::move(*m.mutable_id());
    d.deliveries = m.deliveries();
    d.message.topic = std::move(*m.mutable_topic());
    d.message.partition = m.partition();
    d.message.offset = m.offset();
    d.message.key = std::move(*m.mutable_key());
    d.message.body = std::move(*m.mutable_body());
    d.message.timestamp_ms = m.timestamp_ms();
    for (auto& h : *m.mutable_headers()) d.message.headers.emplace_back(std::move(*h.mutable_name()), std::move(*h.mutable_value()));
    out.push_back(std::move(d));
  }
  return out;
}

Status Consumer::Ack(const std::vector<std::string>& ids) {
  pb::ConsumeRequest r;
  for (const auto& id : ids) r.add_ack_ids(id);
  r.set_credits(static_cast<uint32_t>(ids.size()));
  std::lock_guard lock(impl_->write_mu);
  if (!impl_->stream || !impl_->stream->Write(r)) return Status::Unavailable("the consume stream is closed");
  return Status::Ok();
}

Status Consumer::Nack(const std::vector<std::string>& ids, int64_t delay_ms) {
  pb::ConsumeRequest r;
  for (const auto& id : ids) r.add_nack_ids(id);
  r.set_nack_delay_ms(delay_ms);
  r.set_credits(static_cast<uint32_t>(ids.size()));
  std::lock_guard lock(impl_->write_mu);
  if (!impl_->stream || !impl_->stream->Write(r)) return Status::Unavailable("the consume stream is closed");
  return Status::Ok();
}

void Consumer::Cancel() { impl_->ctx.TryCancel(); }

Status Consumer::Close() {
  if (!impl_ || !impl_->stream) return Status::Ok();
  {
    std::lock_guard lock(impl_->write_mu);
    impl_->stream->WritesDone();
  }
  pb::ConsumeReply drain;
  while (impl_->stream->Read(&drain)) {
  }
  Status st = FromGrpc(impl_->stream->Finish());
  impl_->stream.reset();
  return st;
}

}  // namespace aimass::mq
