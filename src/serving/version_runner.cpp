#include "serving/version_runner.hpp"

#include "serving/llm_runner.hpp"

#include <dlfcn.h>
#include <malloc.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <list>
#include <mutex>
#include <thread>

#include "common/thread_name.hpp"

namespace aimass::serving {

using Clock = std::chrono::steady_clock;

namespace {

// A single-threaded executor's work is CPU-bound, so it is scheduled as such (SCHED_BATCH,
// which needs no privilege): woken, it does not preempt the I/O thread that queued its job, but
// runs when that thread next waits, and finds the jobs queued meanwhile. As a normal thread, on
// a core it shares with an I/O thread, it took the core at each job: about two context switches
// per request of a small model (decision 67). Not for executors with an intra-op team: its
// threads inherit the policy, and a team's fork/join wants its workers woken at once. Best
// effort: refused, the executor runs as a normal thread.
void ScheduleAsBatchWork() {
  sched_param none{};
  sched_setscheduler(0, SCHED_BATCH, &none);  // 0: this thread
}

uint64_t Ns(Clock::duration d) {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(d).count());
}

// One request in the queue. The waiter and the executor meet on `state`: an executor takes a
// queued job (kQueued → kTaken); a waiter whose deadline passed first cancels it
// (kQueued → kCancelled), and the executor skips it.
struct Job {
  enum State { kQueued, kTaken, kCancelled };
  std::vector<Tensor> inputs;
  int64_t rows = 1;       // dimension 0, the batch dimension
  std::string batch_key;  // jobs with equal keys can run as one batch; empty: alone
  Clock::time_point enqueued;
  Clock::time_point deadline;
  std::atomic<int> state{kQueued};

  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  Result<std::vector<Tensor>> result = Status::Internal("not run");
  std::function<void(Result<std::vector<Tensor>>)> callback;  // async jobs

  void Finish(Result<std::vector<Tensor>> r) {
    if (callback) {
      callback(std::move(r));
      return;
    }
    std::lock_guard lock(mu);
    result = std::move(r);
    done = true;
    cv.notify_all();
  }
};

// Inputs that agree on datatype and every dimension but the first can be stacked. The key
// spells that out; a job whose inputs disagree on dimension 0 (or are scalars) runs alone.
void SetBatchKey(Job& job, bool batching) {
  job.rows = 1;
  job.batch_key.clear();
  if (!batching || job.inputs.empty()) return;
  int64_t rows = -1;
  std::string key;
  for (const auto& t : job.inputs) {
    if (t.shape.empty() || t.dtype == DataType::kBytes) return;
    if (rows >= 0 && t.shape[0] != rows) return;
    rows = t.shape[0];
    key += std::string(DataTypeName(t.dtype));
    for (size_t i = 1; i < t.shape.size(); ++i) key += "," + std::to_string(t.shape[i]);
    key += ";";
  }
  job.rows = rows;
  job.batch_key = std::move(key);
}

std::vector<Tensor> Stack(const std::vector<std::shared_ptr<Job>>& batch, int64_t total_rows) {
  std::vector<Tensor> out;
  for (size_t i = 0; i < batch[0]->inputs.size(); ++i) {
    Tensor t;
    t.name = batch[0]->inputs[i].name;
    t.dtype = batch[0]->inputs[i].dtype;
    t.shape = batch[0]->inputs[i].shape;
    t.shape[0] = total_rows;
    size_t bytes = 0;
    for (const auto& j : batch) bytes += j->inputs[i].data.size();
    t.data.reserve(bytes);
    for (const auto& j : batch) t.data += j->inputs[i].data;
    out.push_back(std::move(t));
  }
  return out;
}

// Cuts a batch's outputs back into each job's rows.
Status Unstack(const std::vector<std::shared_ptr<Job>>& batch, int64_t total_rows,
               std::vector<Tensor>& outputs, std::vector<std::vector<Tensor>>& per_job) {
  per_job.assign(batch.size(), {});
  for (auto& out : outputs) {
    if (out.shape.empty() || out.shape[0] != total_rows || out.dtype == DataType::kBytes) {
      return Status::Internal("output '" + out.name + "' does not have one row per batched input (shape " +
                              ShapeString(out.shape) + " for a batch of " + std::to_string(total_rows) +
                              "): set max_batch_size to 0 for this model");
    }
    size_t row_bytes = total_rows ? out.data.size() / static_cast<size_t>(total_rows) : 0;
    size_t off = 0;
    for (size_t j = 0; j < batch.size(); ++j) {
      Tensor t;
      t.name = out.name;
      t.dtype = out.dtype;
      t.shape = out.shape;
      t.shape[0] = batch[j]->rows;
      size_t n = row_bytes * static_cast<size_t>(batch[j]->rows);
      t.data.assign(out.data, off, n);
      off += n;
      per_job[j].push_back(std::move(t));
    }
  }
  return Status::Ok();
}

registry::TensorSpec Observed(const Tensor& t) {
  registry::TensorSpec s{t.name, std::string(DataTypeName(t.dtype)), t.shape};
  if (!s.shape.empty()) s.shape[0] = -1;  // the batch dimension
  return s;
}

// `sig` with what it lacks filled in from one request that succeeded (inputs in signature
// order, as MatchSignature leaves them).
registry::Signature Complete(const registry::Signature& sig, const std::vector<Tensor>& inputs,
                             const std::vector<Tensor>& outputs) {
  registry::Signature out = sig;
  for (auto& spec : out.inputs) {
    for (const auto& t : inputs) {
      if (t.name != spec.name) continue;
      registry::TensorSpec seen = Observed(t);
      if (spec.datatype.empty()) spec.datatype = seen.datatype;
      if (spec.shape.empty()) spec.shape = seen.shape;
    }
  }
  if (out.outputs.empty()) {
    for (const auto& t : outputs) out.outputs.push_back(Observed(t));
  }
  return out;
}

}  // namespace

struct VersionRunner::Impl {
  RunnerOptions options;
  InferenceStats* stats = nullptr;
  // While the signature is incomplete: called with the first success's inputs and outputs.
  std::atomic<bool> learning{false};
  std::function<void(const std::vector<Tensor>&, const std::vector<Tensor>&)> learn;
  // One per instance; a leaving one (Resize down) marks itself `gone` and is joined and freed
  // by the next Resize or the destructor.
  struct Executor {
    std::unique_ptr<Runtime> runtime;
    std::thread thread;
    bool gone = false;  // under mu
  };
  std::list<Executor> executors;
  VersionRunner::RuntimeFactory load;
  std::string name;
  std::mutex resize_mu;  // one Resize at a time
  int live = 0;          // under mu: executors not told to leave
  int leave = 0;         // under mu: executors still to leave

  std::mutex mu;
  // Two conditions, so that a new request wakes one thread, never all: `work_cv` for idle
  // executors (a job to start), `fill_cv` for the one forming a batch (the batch grew).
  std::condition_variable work_cv;
  std::condition_variable fill_cv;
  std::deque<std::shared_ptr<Job>> queue;
  int64_t queued_rows = 0;  // rows of the jobs in `queue`, cancelled ones included
  bool forming = false;  // an executor is gathering the next batch
  bool stop = false;

  bool batching() const { return options.max_batch_size > 1; }

  // The fewest queued rows that can make a batch ready (ReadyRows): below it, a new request
  // does not wake the executor forming a batch. Woken at each request, that executor would
  // count the queue and sleep again: a futex wake, and on a shared core two context switches,
  // per request for nothing.
  int64_t WakeRows() const {
    int64_t rows = options.max_batch_size;
    for (int64_t p : options.preferred_batch_sizes) rows = std::min(rows, p);
    return std::max<int64_t>(rows, 1);
  }

  // Every removal from `queue` goes through here, so that `queued_rows` follows it.
  std::deque<std::shared_ptr<Job>>::iterator Erase(std::deque<std::shared_ptr<Job>>::iterator it) {
    queued_rows -= (*it)->rows;
    return queue.erase(it);
  }

  Status Submit(const std::shared_ptr<Job>& job) {
    bool was_forming = false;
    bool wake_former = false;
    {
      std::lock_guard lock(mu);
      if (stop) return Status::Unavailable("the version is being unloaded");
      if (static_cast<int64_t>(queue.size()) >= options.max_queue_size) {
        return Status::Unavailable("the deployment's queue is full (" + std::to_string(options.max_queue_size) +
                                   " requests)");
      }
      queue.push_back(job);
      queued_rows += job->rows;
      was_forming = forming;
      wake_former = forming && queued_rows >= WakeRows();
    }
    stats->AddPending(1);
    if (wake_former) {
      fill_cv.notify_one();
    } else if (!was_forming) {
      work_cv.notify_one();
    }
    return Status::Ok();
  }

  // Rows queued that could join the front job's batch, counting whole jobs up to `cap`.
  int64_t CompatibleRows(int64_t cap) {
    const auto& key = queue.front()->batch_key;
    if (key.empty()) return queue.front()->rows;
    int64_t rows = 0;
    for (const auto& j : queue) {
      if (j->batch_key != key || j->state.load() == Job::kCancelled) continue;
      if (rows + j->rows > cap && rows > 0) break;
      rows += j->rows;
      if (rows >= cap) break;
    }
    return rows;
  }

  // The size to dispatch now, or 0 to keep waiting: a full batch, or the largest preferred size
  // the queue can fill.
  int64_t ReadyRows(int64_t available) {
    if (available >= options.max_batch_size) return options.max_batch_size;
    int64_t best = 0;
    for (int64_t p : options.preferred_batch_sizes) {
      if (p <= available && p > best) best = p;
    }
    return best;
  }

  // Takes the front job and, when batching, the compatible jobs behind it up to `target` rows.
  std::vector<std::shared_ptr<Job>> Take(int64_t target) {
    std::vector<std::shared_ptr<Job>> batch;
    while (!queue.empty() && queue.front()->state.load() == Job::kCancelled) Erase(queue.begin());
    if (queue.empty()) return batch;
    std::string key = queue.front()->batch_key;
    int64_t rows = 0;
    for (auto it = queue.begin(); it != queue.end();) {
      auto& j = *it;
      if (j->state.load() == Job::kCancelled) {
        it = Erase(it);
        continue;
      }
      bool joins = batch.empty() || (!key.empty() && j->batch_key == key && rows + j->rows <= target);
      int expected = Job::kQueued;
      if (joins && j->state.compare_exchange_strong(expected, Job::kTaken)) {
        rows += j->rows;
        batch.push_back(j);
        it = Erase(it);
        if (key.empty() || rows >= target) break;
      } else if (expected == Job::kCancelled) {
        it = Erase(it);
      } else {
        ++it;
      }
    }
    return batch;
  }

  void ExecutorLoop(Executor* self) {
    Runtime* runtime = self->runtime.get();
    runtime->BindThread();
    if (options.threads <= 1) ScheduleAsBatchWork();
    for (;;) {
      std::vector<std::shared_ptr<Job>> batch;
      bool more = false;
      {
        std::unique_lock lock(mu);
        work_cv.wait(lock, [&] { return stop || leave > 0 || (!queue.empty() && !forming); });
        if (leave > 0 && !stop) {
          // Told to leave (Resize down): between batches, so nothing queued is lost; the others
          // take the queue.
          --leave;
          self->gone = true;
          if (!queue.empty()) work_cv.notify_one();
          return;
        }
        if (queue.empty()) {
          if (stop) return;
          continue;
        }
        int64_t target = 1;
        if (batching()) {
          // Wait, up to the delay since the oldest request arrived, for the batch to fill.
          forming = true;
          auto until = queue.front()->enqueued + std::chrono::microseconds(options.max_queue_delay_us);
          for (;;) {
            if (queue.empty()) break;
            if (queue.front()->batch_key.empty()) break;  // cannot be batched: nothing to wait for
            int64_t ready = ReadyRows(CompatibleRows(options.max_batch_size));
            if (ready > 0) {
              target = ready;
              break;
            }
            if (stop || Clock::now() >= until) {
              target = options.max_batch_size;
              break;
            }
            fill_cv.wait_until(lock, until);
          }
          forming = false;
        }
        if (!queue.empty()) batch = Take(target);
        more = !queue.empty();
      }
      if (more) work_cv.notify_one();  // another executor may form the next batch meanwhile
      if (!batch.empty()) Execute(runtime, batch);
    }
  }

  void Execute(Runtime* runtime, std::vector<std::shared_ptr<Job>>& batch) {
    auto start = Clock::now();
    // Requests whose deadline passed while queued are not worth computing.
    std::vector<std::shared_ptr<Job>> live;
    for (auto& j : batch) {
      if (start > j->deadline) {
        Fail(*j, Status::DeadlineExceeded("the request timed out in the queue"), "timeout", start);
      } else {
        live.push_back(j);
      }
    }
    if (live.empty()) return;
    int64_t rows = 0;
    for (auto& j : live) rows += j->rows;
    std::vector<Tensor> stacked;
    if (live.size() > 1) stacked = Stack(live, rows);
    auto stacked_at = Clock::now();
    auto out = runtime->Run(live.size() > 1 ? stacked : live[0]->inputs);
    if (!out.ok() && out.status().code() == Code::kBadRequest && live.size() > 1) {
      // The model refused something in the batch (an index out of range, say): each request
      // runs alone, so that one caller's bad values do not fail the others'.
      for (auto& j : live) {
        std::vector<std::shared_ptr<Job>> alone{j};
        Execute(runtime, alone);
      }
      return;
    }
    auto ran_at = Clock::now();
    std::vector<std::vector<Tensor>> per_job;
    Status st = out.status();
    if (out.ok()) {
      if (live.size() > 1) st = Unstack(live, rows, *out, per_job);
      else per_job.push_back(std::move(*out));
    }
    auto end = Clock::now();
    stats->AddBusy(Ns(end - start));
    if (!st.ok()) {
      const char* reason = st.code() == Code::kBadRequest ? "bad_request" : "model_error";
      for (auto& j : live) Fail(*j, st, reason, end);
      return;
    }
    stats->RecordExecution(static_cast<int64_t>(live.size()), Ns(stacked_at - start), Ns(ran_at - stacked_at),
                           Ns(end - ran_at));
    std::vector<InferenceStats::Served> served;
    served.reserve(live.size());
    for (auto& j : live) served.push_back({Ns(end - j->enqueued), Ns(start - j->enqueued)});
    stats->RecordSuccesses(served);
    stats->AddPending(-static_cast<int>(live.size()));
    if (learning.load(std::memory_order_relaxed) && learning.exchange(false)) learn(live[0]->inputs, per_job[0]);
    for (size_t i = 0; i < live.size(); ++i) live[i]->Finish(std::move(per_job[i]));
  }

  void Fail(Job& j, Status st, const char* reason, Clock::time_point now) {
    stats->RecordFailure(reason, Ns(now - j.enqueued));
    stats->AddPending(-1);
    j.Finish(std::move(st));
  }
};

Status MatchSignature(const registry::Signature& sig, std::vector<Tensor>& inputs) {
  if (sig.inputs.empty()) return Status::Ok();
  auto names = [&] {
    std::string s;
    for (const auto& i : sig.inputs) s += (s.empty() ? "'" : ", '") + i.name + "'";
    return s;
  };
  std::vector<Tensor> ordered;
  ordered.reserve(sig.inputs.size());
  for (const auto& in : inputs) {
    bool known = std::any_of(sig.inputs.begin(), sig.inputs.end(), [&](const auto& s) { return s.name == in.name; });
    if (!known) {
      return Status::BadRequest("unknown input '" + in.name.substr(0, 128) + "'; the model takes " + names());
    }
  }
  for (const auto& spec : sig.inputs) {
    auto it = std::find_if(inputs.begin(), inputs.end(), [&](const Tensor& t) { return t.name == spec.name; });
    if (it == inputs.end()) return Status::BadRequest("missing input '" + spec.name + "'; the model takes " + names());
    if (!spec.datatype.empty() && DataTypeName(it->dtype) != spec.datatype) {
      return Status::BadRequest("input '" + spec.name + "' is " + std::string(DataTypeName(it->dtype)) +
                                "; expected " + spec.datatype);
    }
    if (!spec.shape.empty()) {
      bool ok = spec.shape.size() == it->shape.size();
      for (size_t d = 0; ok && d < spec.shape.size(); ++d) ok = spec.shape[d] < 0 || spec.shape[d] == it->shape[d];
      if (!ok) {
        return Status::BadRequest("input '" + spec.name + "' has shape " + ShapeString(it->shape) + "; expected " +
                                  ShapeString(spec.shape) + " (-1: any size)");
      }
    }
    ordered.push_back(std::move(*it));
  }
  inputs = std::move(ordered);
  return Status::Ok();
}

namespace {

// A batch of zeros (empty strings for BYTES) shaped as the signature says, -1 taken as 1; none
// when a shape or datatype is unknown.
std::optional<std::vector<Tensor>> WarmupInputs(const registry::Signature& sig) {
  std::vector<Tensor> out;
  for (const auto& s : sig.inputs) {
    auto dtype = ParseDataType(s.datatype);
    if (!dtype || s.shape.empty() || *dtype == DataType::kBytes) return std::nullopt;
    Tensor t;
    t.name = s.name;
    t.dtype = *dtype;
    for (int64_t d : s.shape) t.shape.push_back(d < 0 ? 1 : d);
    int64_t n = t.ElementCount();
    if (n < 0 || n > (64 << 20)) return std::nullopt;
    t.data.assign(static_cast<size_t>(n) * ElementSize(*dtype), '\0');
    out.push_back(std::move(t));
  }
  if (out.empty()) return std::nullopt;
  return out;
}

}  // namespace

Result<std::shared_ptr<VersionRunner>> VersionRunner::Start(const LoadSpec& spec, const RunnerOptions& options,
                                                            std::shared_ptr<prometheus::Registry> metrics,
                                                            RuntimeFactory load) {
  if (spec.framework == "llm") {
    // A language model: engines instead of executors, requests through /v1/… instead of infer.
    std::shared_ptr<VersionRunner> r(new VersionRunner());
    r->spec_ = spec;
    r->options_ = options;
    r->impl_ = std::make_unique<Impl>();
    r->impl_->options = options;
    r->impl_->name = spec.deployment;
    r->stats_ = std::make_unique<InferenceStats>(std::move(metrics), spec.deployment, std::to_string(spec.version));
    r->impl_->stats = r->stats_.get();
    AIMASS_ASSIGN_OR_RETURN(r->llm_, LlmRunner::Start(spec, options, *r->stats_));
    return r;
  }
  if (!load) {
    load = [spec, options] { return LoadRuntime(spec.framework, spec.path, spec.signature, {options.threads, options.optimize}); };
  }
  std::shared_ptr<VersionRunner> r(new VersionRunner());
  r->spec_ = spec;
  r->options_ = options;
  r->impl_ = std::make_unique<Impl>();
  r->impl_->options = options;
  r->impl_->load = load;
  r->impl_->name = spec.deployment;
  std::vector<std::unique_ptr<Runtime>> runtimes;
  for (int i = 0; i < std::max(1, options.instances); ++i) {
    AIMASS_ASSIGN_OR_RETURN(auto rt, load());
    runtimes.push_back(std::move(rt));
  }
  r->signature_ = runtimes[0]->signature();
  for (auto& rt : runtimes) AIMASS_RETURN_IF_ERROR(r->Warm(*rt));
  r->stats_ = std::make_unique<InferenceStats>(std::move(metrics), spec.deployment, std::to_string(spec.version));
  r->impl_->stats = r->stats_.get();
  if (r->signature_.lacks_types()) {
    VersionRunner* runner = r.get();
    r->impl_->learn = [runner](const std::vector<Tensor>& inputs, const std::vector<Tensor>& outputs) {
      auto* learned = new registry::Signature(Complete(runner->signature_, inputs, outputs));
      runner->learned_.store(learned, std::memory_order_release);  // freed by ~VersionRunner
      if (runner->spec_.signature_learned) runner->spec_.signature_learned(*learned);
    };
    r->impl_->learning = true;
  }
  for (auto& rt : runtimes) r->AddExecutor(std::move(rt));
  return r;
}

// Warm an instance before its first request: the first forward of a TorchScript module runs
// its profiling executor and is many times slower than the rest.
Status VersionRunner::Warm(Runtime& rt) {
  auto warm = WarmupInputs(signature_);
  if (!warm) return Status::Ok();
  rt.BindThread();
  for (int k = 0; k < 2; ++k) {
    auto out = rt.Run(*warm);
    if (!out.ok() && out.status().code() != Code::kBadRequest) {
      return Status::Unprocessable("version " + std::to_string(spec_.version) + " failed its warm-up run: " +
                                   out.status().message());
    }
  }
  return Status::Ok();
}

void VersionRunner::AddExecutor(std::unique_ptr<Runtime> runtime) {
  Impl* impl = impl_.get();
  std::lock_guard lock(impl->mu);
  impl->executors.emplace_back();
  Impl::Executor* e = &impl->executors.back();
  e->runtime = std::move(runtime);
  e->thread = NamedThread("infer:" + impl->name, [impl, e] { impl->ExecutorLoop(e); });
  impl->live++;
}

Status VersionRunner::Resize(int n) {
  n = std::max(1, n);
  if (llm_) return llm_->Resize(n);
  Impl* impl = impl_.get();
  std::lock_guard resizing(impl->resize_mu);
  // Join and free the executors that left since the last call.
  std::list<Impl::Executor> left;
  {
    std::lock_guard lock(impl->mu);
    for (auto it = impl->executors.begin(); it != impl->executors.end();) {
      if (it->gone) {
        auto next = std::next(it);
        left.splice(left.end(), impl->executors, it);
        it = next;
      } else {
        ++it;
      }
    }
  }
  for (auto& e : left) e.thread.join();
  left.clear();
  int live;
  {
    std::lock_guard lock(impl->mu);
    // Executors told to leave that have not left yet stay instead of new ones loading.
    int keep = std::min(impl->leave, std::max(0, n - impl->live));
    impl->leave -= keep;
    impl->live += keep;
    live = impl->live;
    if (n < live) {
      impl->leave += live - n;
      impl->live = n;
    }
  }
  if (n < live) {
    impl->work_cv.notify_all();
    return Status::Ok();
  }
  for (int i = live; i < n; ++i) {
    AIMASS_ASSIGN_OR_RETURN(auto rt, impl->load());
    AIMASS_RETURN_IF_ERROR(Warm(*rt));
    AddExecutor(std::move(rt));
  }
  return Status::Ok();
}

int VersionRunner::instances() const {
  if (llm_) return llm_->instances();
  std::lock_guard lock(impl_->mu);
  return impl_->live;
}

namespace {
// Gives the freed model memory back to the system, so load/unload cycles do not grow RSS. A
// server built with AIMASS_TCMALLOC runs on tcmalloc, which keeps freed pages until told; the
// default build and the unit tests run on glibc malloc. Looked up at run time so the core
// library does not link tcmalloc.
void ReleaseFreeMemory() {
  using Release = void (*)();
  if (auto release = reinterpret_cast<Release>(::dlsym(RTLD_DEFAULT, "MallocExtension_ReleaseFreeMemory"))) {
    release();
  }
  ::malloc_trim(0);
}
}  // namespace

VersionRunner::~VersionRunner() {
  llm_.reset();
  if (!impl_) return;
  {
    std::lock_guard lock(impl_->mu);
    impl_->stop = true;
  }
  impl_->work_cv.notify_all();
  impl_->fill_cv.notify_all();
  {
    std::lock_guard resizing(impl_->resize_mu);
    for (auto& e : impl_->executors) e.thread.join();
  }
  // Jobs still queued (none when callers held the runner while waiting) get an answer.
  for (auto& j : impl_->queue) j->Finish(Status::Unavailable("the version was unloaded"));
  impl_->executors.clear();
  delete learned_.load();
  ReleaseFreeMemory();
}

const registry::Signature& VersionRunner::signature() const {
  const registry::Signature* learned = learned_.load(std::memory_order_acquire);
  return learned ? *learned : signature_;
}

Status VersionRunner::LanguageModelRefusal() const {
  return Status::BadRequest("deployment '" + spec_.deployment +
                            "' serves a language model: send POST /v1/chat/completions or /v1/completions");
}

std::function<void()> VersionRunner::InferAsync(std::vector<Tensor> inputs, Clock::time_point deadline,
                                                std::function<void(Result<std::vector<Tensor>>)> done) {
  auto start = Clock::now();
  Status st = llm_ ? LanguageModelRefusal() : MatchSignature(signature(), inputs);
  if (!st.ok()) {
    stats_->RecordFailure("bad_request", 0);
    done(st);
    return [] {};
  }
  auto job = std::make_shared<Job>();
  job->inputs = std::move(inputs);
  job->enqueued = start;
  job->deadline = deadline;
  job->callback = std::move(done);
  SetBatchKey(*job, impl_->batching());
  st = impl_->Submit(job);
  if (!st.ok()) {
    stats_->RecordFailure("queue_full", 0);
    job->callback(st);
    return [] {};
  }
  std::weak_ptr<Job> weak = job;
  return [this, weak] {
    auto job = weak.lock();
    int expected = Job::kQueued;
    if (!job || !job->state.compare_exchange_strong(expected, Job::kCancelled)) return;
    stats_->RecordFailure("timeout", Ns(Clock::now() - job->enqueued));
    stats_->AddPending(-1);
    impl_->fill_cv.notify_one();  // a batch being formed may count the cancelled job
    job->Finish(Status::DeadlineExceeded("the request did not start within the deployment's timeout"));
  };
}

Result<std::vector<Tensor>> VersionRunner::Infer(std::vector<Tensor> inputs, Clock::time_point deadline) {
  auto start = Clock::now();
  Status st = llm_ ? LanguageModelRefusal() : MatchSignature(signature(), inputs);
  if (!st.ok()) {
    stats_->RecordFailure("bad_request", Ns(Clock::now() - start));
    return st;
  }
  auto job = std::make_shared<Job>();
  job->inputs = std::move(inputs);
  job->enqueued = start;
  job->deadline = deadline;
  SetBatchKey(*job, impl_->batching());
  st = impl_->Submit(job);
  if (!st.ok()) {
    stats_->RecordFailure("queue_full", Ns(Clock::now() - start));
    return st;
  }
  std::unique_lock lock(job->mu);
  if (!job->cv.wait_until(lock, deadline, [&] { return job->done; })) {
    int expected = Job::kQueued;
    if (job->state.compare_exchange_strong(expected, Job::kCancelled)) {
      lock.unlock();
      stats_->RecordFailure("timeout", Ns(Clock::now() - start));
      stats_->AddPending(-1);
      impl_->fill_cv.notify_one();  // a batch being formed may count the cancelled job
      return Status::DeadlineExceeded("the request did not start within the deployment's timeout");
    }
    // Already running: a forward pass cannot be interrupted; wait for it.
    job->cv.wait(lock, [&] { return job->done; });
  }
  return std::move(job->result);
}

}  // namespace aimass::serving
