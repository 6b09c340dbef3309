// aimass-grpc-load: a closed-loop load generator for the OIP v2 gRPC ModelInfer call, used by
// bench/serving.sh. C concurrent callers each send one request, wait for the answer and send
// the next, for S seconds; it prints requests, errors, throughput and latency percentiles.
//   aimass-grpc-load --target HOST:PORT --token T --model NAME --concurrency C --duration S
//                    --input-file FILE [--input x] [--shape 1,1,28,28]
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "grpc_service.grpc.pb.h"

int main(int argc, char** argv) {
  std::string target, token, model, input_file, input = "x", shape = "1,1,28,28";
  int concurrency = 1;
  double duration = 10;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--target") target = v;
    else if (k == "--token") token = v;
    else if (k == "--model") model = v;
    else if (k == "--concurrency") concurrency = std::stoi(v);
    else if (k == "--duration") duration = std::stod(v);
    else if (k == "--input-file") input_file = v;
    else if (k == "--input") input = v;
    else if (k == "--shape") shape = v;
    else {
      std::cerr << "unknown option " << k << "\n";
      return 2;
    }
  }
  if (target.empty() || model.empty() || input_file.empty()) {
    std::cerr << "usage: aimass-grpc-load --target HOST:PORT --token T --model NAME --concurrency C "
                 "--duration S --input-file FILE [--input NAME] [--shape 1,1,28,28]\n";
    return 2;
  }
  std::ifstream in(input_file, std::ios::binary);
  std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());

  inference::ModelInferRequest request;
  request.set_model_name(model);
  auto* t = request.add_inputs();
  t->set_name(input);
  t->set_datatype("FP32");
  std::stringstream dims(shape);
  for (std::string d; std::getline(dims, d, ',');) t->add_shape(std::stoll(d));
  request.add_raw_input_contents(data);

  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 << 20);
  auto channel = grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
  auto stub = inference::GRPCInferenceService::NewStub(channel);

  using Clock = std::chrono::steady_clock;
  std::atomic<bool> stop{false};
  std::atomic<long> errors{0};
  std::vector<std::vector<uint32_t>> latencies(concurrency);
  std::string first_error;
  std::mutex error_mu;
  std::vector<std::thread> callers;
  auto start = Clock::now();
  for (int c = 0; c < concurrency; ++c) {
    callers.emplace_back([&, c] {
      while (!stop.load(std::memory_order_relaxed)) {
        grpc::ClientContext ctx;
        ctx.AddMetadata("authorization", "Bearer " + token);
        inference::ModelInferResponse response;
        auto t0 = Clock::now();
        grpc::Status st = stub->ModelInfer(&ctx, request, &response);
        auto us = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0).count();
        if (!st.ok()) {
          errors++;
          std::lock_guard lock(error_mu);
          if (first_error.empty()) first_error = st.error_message();
          continue;
        }
        latencies[c].push_back(static_cast<uint32_t>(us));
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(duration));
  stop = true;
  for (auto& th : callers) th.join();
  double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  std::vector<uint32_t> all;
  for (auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
  std::sort(all.begin(), all.end());
  auto pct = [&](double p) -> uint32_t {
    if (all.empty()) return 0;
    return all[std::min(all.size() - 1, static_cast<size_t>(p * all.size()))];
  };
  std::printf("requests=%zu errors=%ld rps=%.1f p50_us=%u p99_us=%u\n", all.size(), errors.load(),
              all.size() / elapsed, pct(0.50), pct(0.99));
  if (!first_error.empty()) std::fprintf(stderr, "first error: %s\n", first_error.c_str());
  return errors.load() ? 1 : 0;
}
