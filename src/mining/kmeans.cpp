#include "mining/kmeans.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>

#include <Eigen/Dense>

#include "common/cpus.hpp"
#include "common/parallel_for.hpp"

namespace aimass::mining {

namespace {

using RowMatrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
constexpr size_t kBlock = 256;  // points per matrix product: the block and its k distances stay in cache

int ThreadsOf(int t) { return t > 0 ? t : std::max(1, UsableCpus()); }

// What one worker adds up in an assignment pass.
struct Partial {
  std::vector<double> sums;  // k × d
  std::vector<int64_t> counts;
  double inertia = 0;
  size_t changed = 0;
  Eigen::MatrixXd dots;  // the block's x·c, reused
  void Reset(int k, size_t d) {
    sums.assign(static_cast<size_t>(k) * d, 0.0);
    counts.assign(static_cast<size_t>(k), 0);
    inertia = 0;
    changed = 0;
  }
};

// Assigns points [from, to) to their nearest centre through ‖x‖² − 2x·c + ‖c‖², x·c for the
// whole block in one product. With `accumulate`, adds each point to its cluster's sum.
void AssignBlock(const Points& p, const std::vector<double>& xnorm, const RowMatrix& c, const Eigen::VectorXd& cnorm,
                 size_t from, size_t to, int* labels, bool accumulate, Partial& part) {
  const size_t m = to - from;
  const int k = static_cast<int>(c.rows());
  Eigen::Map<const RowMatrix> x(p.row(from), static_cast<Eigen::Index>(m), static_cast<Eigen::Index>(p.d));
  part.dots.resize(static_cast<Eigen::Index>(m), k);
  part.dots.noalias() = x * c.transpose();
  for (size_t i = 0; i < m; ++i) {
    int best = 0;
    double best_d = std::numeric_limits<double>::infinity();
    for (int j = 0; j < k; ++j) {
      const double dist = cnorm[j] - 2.0 * part.dots(static_cast<Eigen::Index>(i), j);
      if (dist < best_d) best_d = dist, best = j;
    }
    part.inertia += std::max(0.0, xnorm[from + i] + best_d);
    if (labels[from + i] != best) ++part.changed, labels[from + i] = best;
    if (accumulate) {
      part.counts[best]++;
      double* s = part.sums.data() + static_cast<size_t>(best) * p.d;
      const double* r = p.row(from + i);
      for (size_t j = 0; j < p.d; ++j) s[j] += r[j];
    }
  }
}

RowMatrix CentresOf(const std::vector<double>& flat, int k, size_t d) {
  return Eigen::Map<const RowMatrix>(flat.data(), k, static_cast<Eigen::Index>(d));
}

std::vector<double> RowNorms(const Points& p, int threads) {
  std::vector<double> out(p.n);
  ParallelFor(p.n, threads, [&](size_t i, size_t) {
    const double* r = p.row(i);
    double s = 0;
    for (size_t j = 0; j < p.d; ++j) s += r[j] * r[j];
    out[i] = s;
  });
  return out;
}

// One pass: labels, and with `accumulate` the clusters' sums and counts, added up over workers.
Partial AssignAll(const Points& p, const std::vector<double>& xnorm, const std::vector<double>& centres, int k, int threads,
                  std::vector<int>& labels, bool accumulate) {
  const RowMatrix c = CentresOf(centres, k, p.d);
  const Eigen::VectorXd cnorm = c.rowwise().squaredNorm();
  std::vector<Partial> parts(static_cast<size_t>(threads));
  for (auto& part : parts) part.Reset(accumulate ? k : 0, p.d);
  const size_t blocks = (p.n + kBlock - 1) / kBlock;
  ParallelFor(blocks, threads, [&](size_t b, size_t w) {
    AssignBlock(p, xnorm, c, cnorm, b * kBlock, std::min(p.n, (b + 1) * kBlock), labels.data(), accumulate, parts[w]);
  });
  Partial total = std::move(parts[0]);
  for (size_t w = 1; w < parts.size(); ++w) {
    total.inertia += parts[w].inertia;
    total.changed += parts[w].changed;
    if (!accumulate) continue;
    for (size_t i = 0; i < total.sums.size(); ++i) total.sums[i] += parts[w].sums[i];
    for (size_t i = 0; i < total.counts.size(); ++i) total.counts[i] += parts[w].counts[i];
  }
  return total;
}

// Greedy k-means++: each new centre is the best of 2 + ln k candidates drawn with probability
// proportional to the squared distance to the nearest centre so far.
std::vector<double> PlusPlus(const Points& p, const std::vector<size_t>& rows, int k, std::mt19937_64& rng, int threads) {
  const size_t n = rows.size(), d = p.d;
  std::vector<double> centres;
  centres.reserve(static_cast<size_t>(k) * d);
  auto add = [&](size_t i) { centres.insert(centres.end(), p.row(rows[i]), p.row(rows[i]) + d); };
  add(std::uniform_int_distribution<size_t>(0, n - 1)(rng));
  std::vector<double> closest(n);
  ParallelFor(n, threads, [&](size_t i, size_t) { closest[i] = SquaredDistance(p.row(rows[i]), centres.data(), d); });
  const int trials = 2 + static_cast<int>(std::log(static_cast<double>(k)));
  std::vector<double> cumulative(n);
  std::vector<double> pots(static_cast<size_t>(threads));
  for (int c = 1; c < k; ++c) {
    double pot = 0;
    for (size_t i = 0; i < n; ++i) cumulative[i] = pot += closest[i];
    std::uniform_real_distribution<double> u(0.0, 1.0);
    size_t best = 0;
    double best_pot = std::numeric_limits<double>::infinity();
    for (int t = 0; t < trials; ++t) {
      const size_t cand = pot > 0 ? std::min<size_t>(n - 1, std::lower_bound(cumulative.begin(), cumulative.end(), u(rng) * pot) - cumulative.begin())
                                  : std::uniform_int_distribution<size_t>(0, n - 1)(rng);
      std::fill(pots.begin(), pots.end(), 0.0);
      const double* cr = p.row(rows[cand]);
      ParallelFor((n + kBlock - 1) / kBlock, threads, [&](size_t b, size_t w) {
        double local = 0;  // summed per block: workers writing pots[] per point would share its cache line
        for (size_t i = b * kBlock; i < std::min(n, (b + 1) * kBlock); ++i) local += std::min(closest[i], SquaredDistance(p.row(rows[i]), cr, d));
        pots[w] += local;
      });
      double total = 0;
      for (double v : pots) total += v;
      if (total < best_pot) best_pot = total, best = cand;
    }
    add(best);
    const double* cr = p.row(rows[best]);
    ParallelFor(n, threads, [&](size_t i, size_t) { closest[i] = std::min(closest[i], SquaredDistance(p.row(rows[i]), cr, d)); });
  }
  return centres;
}

std::vector<double> RandomPoints(const Points& p, const std::vector<size_t>& rows, int k, std::mt19937_64& rng) {
  std::vector<size_t> order(rows.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::vector<double> centres;
  for (int c = 0; c < k; ++c) {
    const size_t j = std::uniform_int_distribution<size_t>(static_cast<size_t>(c), order.size() - 1)(rng);
    std::swap(order[static_cast<size_t>(c)], order[j]);
    centres.insert(centres.end(), p.row(rows[order[static_cast<size_t>(c)]]), p.row(rows[order[static_cast<size_t>(c)]]) + p.d);
  }
  return centres;
}

std::vector<double> Seeds(const Points& p, const std::vector<size_t>& rows, const KMeansOptions& o, std::mt19937_64& rng, int threads) {
  return o.init == "random" ? RandomPoints(p, rows, o.k, rng) : PlusPlus(p, rows, o.k, rng, threads);
}

std::vector<size_t> AllRows(size_t n) {
  std::vector<size_t> rows(n);
  for (size_t i = 0; i < n; ++i) rows[i] = i;
  return rows;
}

// A cluster left empty takes the point farthest from its own centre (as scikit-learn does), so
// that k clusters remain.
void Relocate(const Points& p, const std::vector<int>& labels, std::vector<double>& centres, std::vector<int64_t>& counts) {
  std::vector<std::pair<double, size_t>> far;
  for (size_t c = 0; c < counts.size(); ++c) {
    if (counts[c] > 0) continue;
    if (far.empty()) {
      far.reserve(p.n);
      for (size_t i = 0; i < p.n; ++i) far.emplace_back(SquaredDistance(p.row(i), centres.data() + static_cast<size_t>(labels[i]) * p.d, p.d), i);
      std::sort(far.begin(), far.end(), std::greater<>());
    }
    const size_t take = far[std::min(far.size() - 1, c)].second;
    std::copy(p.row(take), p.row(take) + p.d, centres.begin() + static_cast<std::ptrdiff_t>(c * p.d));
    counts[c] = 1;
  }
}

// The columns' mean variance, in one pass over the rows per block on every thread (sums and
// sums of squares per column; the data are row-major, so a pass per column would stride).
double MeanVariance(const Points& p, int threads) {
  if (p.n == 0 || p.d == 0) return 0;
  const size_t blocks = (p.n + kBlock - 1) / kBlock;
  std::vector<std::vector<double>> sum(static_cast<size_t>(threads), std::vector<double>(p.d, 0.0));
  std::vector<std::vector<double>> sq(static_cast<size_t>(threads), std::vector<double>(p.d, 0.0));
  ParallelFor(blocks, threads, [&](size_t b, size_t w) {
    double* s = sum[w].data();
    double* q = sq[w].data();
    for (size_t i = b * kBlock; i < std::min(p.n, (b + 1) * kBlock); ++i) {
      const double* r = p.row(i);
      for (size_t j = 0; j < p.d; ++j) s[j] += r[j], q[j] += r[j] * r[j];
    }
  });
  double total = 0;
  const double n = static_cast<double>(p.n);
  for (size_t j = 0; j < p.d; ++j) {
    double s = 0, q = 0;
    for (size_t w = 0; w < sum.size(); ++w) s += sum[w][j], q += sq[w][j];
    const double mean = s / n;
    total += std::max(0.0, q / n - mean * mean);
  }
  return total / static_cast<double>(p.d);
}

KMeansResult Lloyd(const Points& p, const std::vector<double>& xnorm, std::vector<double> centres, const KMeansOptions& o, double tol, int threads) {
  KMeansResult r;
  r.labels.assign(p.n, -1);
  for (r.iterations = 1; r.iterations <= o.max_iter; ++r.iterations) {
    if (Stopped(o.stop)) return r;
    Partial sum = AssignAll(p, xnorm, centres, o.k, threads, r.labels, true);
    if (sum.changed == 0) break;  // the same clusters: the centres are their means already
    std::vector<double> next(centres.size());
    for (int c = 0; c < o.k; ++c) {
      for (size_t j = 0; j < p.d; ++j) {
        const size_t at = static_cast<size_t>(c) * p.d + j;
        next[at] = sum.counts[c] ? sum.sums[at] / static_cast<double>(sum.counts[c]) : centres[at];
      }
    }
    Relocate(p, r.labels, next, sum.counts);
    double shift = 0;
    for (size_t i = 0; i < next.size(); ++i) shift += (next[i] - centres[i]) * (next[i] - centres[i]);
    centres = std::move(next);
    if (shift <= tol) break;
  }
  r.iterations = std::min(r.iterations, o.max_iter);
  r.inertia = AssignAll(p, xnorm, centres, o.k, threads, r.labels, false).inertia;
  r.centroids = std::move(centres);
  return r;
}

KMeansResult MiniBatch(const Points& p, const std::vector<double>& xnorm, const KMeansOptions& o, std::mt19937_64& rng, int threads) {
  const size_t batch = std::min(p.n, std::max<size_t>(1, o.batch_size));
  // Seeds from a sample of three batches, as scikit-learn's init_size.
  std::vector<size_t> sample;
  const size_t init_size = std::min(p.n, std::max(3 * batch, static_cast<size_t>(3 * o.k)));
  std::uniform_int_distribution<size_t> pick(0, p.n - 1);
  if (init_size == p.n) {
    sample = AllRows(p.n);
  } else {
    for (size_t i = 0; i < init_size; ++i) sample.push_back(pick(rng));
  }
  std::vector<double> centres = Seeds(p, sample, o, rng, threads);
  std::vector<double> counts(static_cast<size_t>(o.k), 0.0);
  const size_t steps = std::max<size_t>(1, static_cast<size_t>(o.max_iter) * p.n / batch);
  const double alpha = std::min(1.0, 2.0 * static_cast<double>(batch) / static_cast<double>(p.n + 1));
  double ewa = -1, best = std::numeric_limits<double>::infinity();
  int no_improvement = 0;
  size_t since_reassign = 0;
  std::vector<size_t> members(batch);
  std::vector<int> nearest(batch);
  std::vector<double> sums(centres.size());
  std::vector<int64_t> m(static_cast<size_t>(o.k));
  KMeansResult r;
  for (size_t step = 0; step < steps; ++step) {
    if (Stopped(o.stop)) return r;
    r.iterations = static_cast<int>(step + 1);
    for (size_t i = 0; i < batch; ++i) members[i] = pick(rng);
    std::fill(sums.begin(), sums.end(), 0.0);
    std::fill(m.begin(), m.end(), 0);
    double inertia = 0;
    for (size_t i = 0; i < batch; ++i) {
      const double* x = p.row(members[i]);
      int c_best = 0;
      double d_best = std::numeric_limits<double>::infinity();
      for (int c = 0; c < o.k; ++c) {
        const double dist = SquaredDistance(x, centres.data() + static_cast<size_t>(c) * p.d, p.d);
        if (dist < d_best) d_best = dist, c_best = c;
      }
      inertia += d_best;
      m[c_best]++;
      for (size_t j = 0; j < p.d; ++j) sums[static_cast<size_t>(c_best) * p.d + j] += x[j];
    }
    // Each centre moves towards its new members by 1/count per member: the running mean of
    // every point it has been given.
    for (int c = 0; c < o.k; ++c) {
      if (!m[c]) continue;
      counts[c] += static_cast<double>(m[c]);
      for (size_t j = 0; j < p.d; ++j) {
        double& v = centres[static_cast<size_t>(c) * p.d + j];
        v += (sums[static_cast<size_t>(c) * p.d + j] - static_cast<double>(m[c]) * v) / counts[c];
      }
    }
    // A centre that has drawn almost nothing (under 1 % of the busiest) is moved to a point of
    // the batch, every 10 k points seen (at once while one is empty), as scikit-learn does:
    // mini-batches otherwise leave a centre stranded where no data is.
    since_reassign += batch;
    const bool empty = std::any_of(counts.begin(), counts.end(), [](double c) { return c == 0; });
    if (empty || since_reassign >= static_cast<size_t>(10 * o.k)) {
      since_reassign = 0;
      const double most = *std::max_element(counts.begin(), counts.end());
      std::vector<int> low;
      double least_kept = std::numeric_limits<double>::infinity();
      for (int c = 0; c < o.k; ++c) {
        if (counts[c] < 0.01 * most) {
          low.push_back(c);
        } else {
          least_kept = std::min(least_kept, counts[c]);
        }
      }
      if (low.size() > batch / 2) low.resize(batch / 2);
      for (int c : low) {
        const double* x = p.row(members[std::uniform_int_distribution<size_t>(0, batch - 1)(rng)]);
        std::copy(x, x + p.d, centres.begin() + static_cast<std::ptrdiff_t>(static_cast<size_t>(c) * p.d));
        counts[c] = std::isfinite(least_kept) ? least_kept : 0.0;  // not so small that it moves again at once
      }
    }
    inertia /= static_cast<double>(batch);
    if (step == 0) continue;  // the first batch measures the seeds, not the progress
    ewa = ewa < 0 ? inertia : ewa * (1 - alpha) + inertia * alpha;
    if (ewa < best) {
      best = ewa, no_improvement = 0;
    } else if (++no_improvement >= 10) {
      break;  // scikit-learn's max_no_improvement
    }
  }
  r.labels.assign(p.n, -1);
  r.inertia = AssignAll(p, xnorm, centres, o.k, threads, r.labels, false).inertia;
  r.centroids = std::move(centres);
  return r;
}

}  // namespace

double AssignNearest(const Points& p, const std::vector<double>& centroids, int k, int threads, std::vector<int>& labels) {
  threads = ThreadsOf(threads);
  labels.assign(p.n, -1);
  return AssignAll(p, RowNorms(p, threads), centroids, k, threads, labels, false).inertia;
}

Result<KMeansResult> KMeans(const Points& p, const KMeansOptions& o) {
  if (o.k < 1) return Status::BadRequest("k must be at least 1");
  if (p.n < static_cast<size_t>(o.k)) {
    return Status::BadRequest("k (" + std::to_string(o.k) + ") is more than the points (" + std::to_string(p.n) + ")");
  }
  if (p.d == 0) return Status::BadRequest("the points have no dimensions");
  if (o.init != "k-means++" && o.init != "random") return Status::BadRequest("init is k-means++ or random");
  if (o.n_init < 1 || o.max_iter < 1) return Status::BadRequest("n_init and max_iter must be at least 1");
  const int threads = ThreadsOf(o.threads);
  const std::vector<double> xnorm = RowNorms(p, threads);
  const double tol = o.tol * MeanVariance(p, threads);
  std::vector<size_t> rows = AllRows(p.n);
  KMeansResult best;
  for (int run = 0; run < o.n_init; ++run) {
    std::mt19937_64 rng(o.seed + static_cast<uint64_t>(run) * 0x9E3779B97F4A7C15ULL);
    KMeansResult r = o.mini_batch ? MiniBatch(p, xnorm, o, rng, threads) : Lloyd(p, xnorm, Seeds(p, rows, o, rng, threads), o, tol, threads);
    if (Stopped(o.stop)) return Status::Conflict("stopped");
    if (run == 0 || r.inertia < best.inertia) best = std::move(r);
  }
  best.sizes.assign(static_cast<size_t>(o.k), 0);
  for (int l : best.labels) best.sizes[static_cast<size_t>(l)]++;
  return best;
}

}  // namespace aimass::mining
