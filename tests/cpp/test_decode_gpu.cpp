// GPU tests of the paged KV cache and sparse decode: prefill, then decode steps, each compared
// with the double-precision reference attention over an explicit mask (dense: every visible key;
// sparse: the keys of the pages the CPU reference selects, which must equal the GPU's selection
// index for index). Skipped without a Hopper GPU.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <sstream>

#include "../../csrc/decode/decode_launch.h"  // the split rule (internal, host-only)
#include "test_util.h"
#include "triageattention/decode.h"
#include "triageattention/reference.h"
#include "triageattention/reference_decode.h"

namespace {

using namespace ta_test;
using triageattention::AttentionStrides;
using triageattention::PagedAppendParams;
using triageattention::PagedKVCacheView;
using triageattention::SparseDecodeParams;

struct Config {
  DType dtype = DType::kBFloat16;
  int head_dim = 128;
  int page_size = 64;
  int batch = 8;
  int heads_q = 8, heads_kv = 2;
  int seqlen_q = 1;
  int steps = 10;
  int topk = 3;        // sparse steps; dense steps use topk = max_pages
  int sink_pages = 1;
  std::vector<int> prefill;  // per sequence
};

std::string describe(const Config& c) {
  std::ostringstream s;
  s << triageattention::dtype_name(c.dtype) << " D" << c.head_dim << " page" << c.page_size << " B"
    << c.batch << " H" << c.heads_q << "/" << c.heads_kv << " Sq" << c.seqlen_q << " topk"
    << c.topk;
  return s.str();
}

AttentionStrides contiguous(int heads, int64_t seq, int D) {
  return {int64_t(heads) * seq * D, seq * D, D};
}

// A paged cache on the device plus its host model: every token's K and V by position.
class CacheUnderTest {
 public:
  CacheUnderTest(const Config& c, int max_tokens, std::mt19937& rng)
      : c_(c),
        max_pages_((max_tokens + c.page_size - 1) / c.page_size + 1),
        num_pages_(int64_t(c.batch) * max_pages_ + 3),
        page_elems_(int64_t(c.heads_kv) * c.page_size * c.head_dim),
        k_(num_pages_ * page_elems_ * 2),
        v_(num_pages_ * page_elems_ * 2),
        k_min_(num_pages_ * c.heads_kv * c.head_dim * 2),  // the cache dtype
        k_max_(num_pages_ * c.heads_kv * c.head_dim * 2),
        table_(std::size_t(c.batch) * max_pages_ * 4),
        seqlens_(std::size_t(c.batch) * 4) {
    // Pages of all sequences shuffled over the pool; the last column stays unmapped (-1).
    std::vector<int32_t> phys(num_pages_);
    std::iota(phys.begin(), phys.end(), 0);
    std::shuffle(phys.begin(), phys.end(), rng);
    host_table_.assign(std::size_t(c.batch) * max_pages_, -1);
    for (int b = 0; b < c.batch; ++b)
      for (int p = 0; p + 1 < max_pages_; ++p)
        host_table_[std::size_t(b) * max_pages_ + p] = phys[std::size_t(b) * max_pages_ + p];
    table_.upload(host_table_.data(), table_.bytes());
    lens_.assign(c.batch, 0);
    seqlens_.upload(lens_.data(), seqlens_.bytes());
    k_.fill_bytes(0xFF);  // NaN in every unwritten slot: must never reach an output
    v_.fill_bytes(0xFF);
    host_k_.assign(c.batch, std::vector<float>());
    host_v_.assign(c.batch, std::vector<float>());
  }

  PagedKVCacheView view() const {
    PagedKVCacheView v;
    v.k_cache = k_.get();
    v.v_cache = v_.get();
    v.k_min = k_min_.get();
    v.k_max = k_max_.get();
    v.page_table = static_cast<const int32_t*>(table_.get());
    v.seqlens = static_cast<int32_t*>(seqlens_.get());
    v.batch = c_.batch;
    v.heads_kv = c_.heads_kv;
    v.head_dim = c_.head_dim;
    v.page_size = c_.page_size;
    v.max_pages = max_pages_;
    v.num_pages = num_pages_;
    v.dtype = c_.dtype;
    return v;
  }

  // Appends n[b] <= T random tokens per sequence (through new_lens when they differ).
  void append(const std::vector<int>& n, std::mt19937& rng, cudaStream_t stream = nullptr) {
    const int T = *std::max_element(n.begin(), n.end());
    const int D = c_.head_dim;
    const std::size_t elems = std::size_t(c_.batch) * c_.heads_kv * T * D;
    std::vector<float> kf, vf;
    TypedHost k = random_typed(c_.dtype, elems, rng, &kf);
    TypedHost v = random_typed(c_.dtype, elems, rng, &vf);
    DeviceBuffer dk(k.bytes()), dv(v.bytes()), dn(n.size() * 4);
    dk.upload(k.data(), k.bytes());
    dv.upload(v.data(), v.bytes());
    dn.upload(n.data(), dn.bytes());
    PagedAppendParams p;
    p.k_new = dk.get();
    p.v_new = dv.get();
    p.k_strides = p.v_strides = contiguous(c_.heads_kv, T, D);
    p.new_tokens = T;
    const bool uniform = std::all_of(n.begin(), n.end(), [&](int x) { return x == T; });
    p.new_lens = uniform ? nullptr : static_cast<const int32_t*>(dn.get());
    triageattention::paged_kv_append(view(), p, stream);
    EXPECT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
    record(n, T, kf, vf);
  }

  // Adds appended tokens to the host model ([B, Hkv, T, D] inputs).
  void record(const std::vector<int>& n, int T, const std::vector<float>& kf,
              const std::vector<float>& vf) {
    const int D = c_.head_dim;
    for (int b = 0; b < c_.batch; ++b) {
      for (int t = 0; t < n[b]; ++t)
        for (int h = 0; h < c_.heads_kv; ++h)
          for (int d = 0; d < D; ++d) {
            const std::size_t src = ((std::size_t(b) * c_.heads_kv + h) * T + t) * D + d;
            host_k_[b].push_back(kf[src]);  // position-major: [pos][h][d]
            host_v_[b].push_back(vf[src]);
          }
      lens_[b] += n[b];
    }
  }

  // Device summaries and lengths must equal the host model's exactly.
  void expect_state() const {
    std::vector<int32_t> lens(c_.batch);
    seqlens_.download(lens.data(), seqlens_.bytes());
    ASSERT_EQ(lens, lens_);
    std::vector<float> lo, hi;
    download_summaries(lo, hi);
    const int D = c_.head_dim, ps = c_.page_size;
    for (int b = 0; b < c_.batch; ++b)
      for (int p = 0; p * ps < lens_[b]; ++p)
        for (int h = 0; h < c_.heads_kv; ++h)
          for (int d = 0; d < D; ++d) {
            float mn = INFINITY, mx = -INFINITY;
            for (int t = p * ps; t < std::min(lens_[b], (p + 1) * ps); ++t) {
              mn = std::min(mn, key(b, h, t, d));
              mx = std::max(mx, key(b, h, t, d));
            }
            const int64_t s = (int64_t(host_table_[std::size_t(b) * max_pages_ + p]) * c_.heads_kv + h) * D + d;
            ASSERT_EQ(lo[s], mn) << "k_min of b" << b << " page " << p << " h" << h << " d" << d;
            ASSERT_EQ(hi[s], mx) << "k_max of b" << b << " page " << p << " h" << h << " d" << d;
          }
  }

  // Unmaps page p of sequence b (after its tokens were appended): selection must skip it.
  void unmap(int b, int p) {
    host_table_[std::size_t(b) * max_pages_ + p] = -1;
    table_.upload(host_table_.data(), table_.bytes());
  }

  float key(int b, int h, int pos, int d) const {
    return host_k_[b][(std::size_t(pos) * c_.heads_kv + h) * c_.head_dim + d];
  }
  float value(int b, int h, int pos, int d) const {
    return host_v_[b][(std::size_t(pos) * c_.heads_kv + h) * c_.head_dim + d];
  }
  int len(int b) const { return lens_[b]; }
  int max_pages() const { return max_pages_; }
  int64_t num_pages() const { return num_pages_; }
  const std::vector<int32_t>& host_table() const { return host_table_; }
  // The summaries widened to float (exact).
  void download_summaries(std::vector<float>& lo, std::vector<float>& hi) const {
    TypedHost min16(c_.dtype, k_min_.bytes() / 2), max16(c_.dtype, k_max_.bytes() / 2);
    k_min_.download(min16.data(), min16.bytes());
    k_max_.download(max16.data(), max16.bytes());
    lo.resize(min16.size());
    hi.resize(max16.size());
    for (std::size_t i = 0; i < lo.size(); ++i) {
      lo[i] = min16.get(i);
      hi[i] = max16.get(i);
    }
  }

 private:
  Config c_;
  int max_pages_;
  int64_t num_pages_, page_elems_;
  DeviceBuffer k_, v_, k_min_, k_max_, table_, seqlens_;
  std::vector<int32_t> host_table_, lens_;
  std::vector<std::vector<float>> host_k_, host_v_;
};

struct DecodeOutput {
  TypedHost out;
  std::vector<float> lse;
  std::vector<unsigned char> raw;  // out's bytes, for determinism checks
};

// One decode call with poisoned outputs (eager, or captured in a graph and replayed once);
// returns out and lse.
DecodeOutput run_decode(const Config& c, const CacheUnderTest& cache, const TypedHost& q,
                        int topk, bool captured = false) {
  const int D = c.head_dim;
  const std::size_t rows = std::size_t(c.batch) * c.heads_q * c.seqlen_q;
  DeviceBuffer dq(q.bytes()), dout(rows * D * 2), dlse(rows * 4);
  dq.upload(q.data(), q.bytes());
  dout.fill_bytes(0xFF);
  dlse.fill_bytes(0xFF);
  const std::size_t ws_bytes = triageattention::sparse_decode_workspace_bytes(
      c.batch, c.heads_kv, c.heads_q, c.seqlen_q, cache.max_pages(), D);
  DeviceBuffer ws(ws_bytes);
  ws.fill_bytes(0xFF);
  SparseDecodeParams p;
  p.q = dq.get();
  p.q_strides = p.out_strides = contiguous(c.heads_q, c.seqlen_q, D);
  p.out = dout.get();
  p.lse = static_cast<float*>(dlse.get());
  p.heads_q = c.heads_q;
  p.seqlen_q = c.seqlen_q;
  p.topk = topk;
  p.sink_pages = c.sink_pages;
  p.workspace = ws.get();
  p.workspace_bytes = ws_bytes;
  if (captured) {
    auto check = [](cudaError_t e) { EXPECT_EQ(e, cudaSuccess) << cudaGetErrorString(e); };
    cudaStream_t stream;
    check(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
    cudaGraph_t graph;
    cudaGraphExec_t exec;
    check(cudaStreamBeginCapture(stream, cudaStreamCaptureModeGlobal));
    triageattention::sparse_decode(cache.view(), p, stream);
    check(cudaStreamEndCapture(stream, &graph));
    check(cudaGraphInstantiate(&exec, graph, 0));
    check(cudaGraphLaunch(exec, stream));
    check(cudaStreamSynchronize(stream));
    check(cudaGraphExecDestroy(exec));
    check(cudaGraphDestroy(graph));
    check(cudaStreamDestroy(stream));
  } else {
    triageattention::sparse_decode(cache.view(), p, nullptr);
  }
  EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  DecodeOutput o{TypedHost(c.dtype, rows * D), std::vector<float>(rows), {}};
  dout.download(o.out.data(), o.out.bytes());
  dlse.download(o.lse.data(), rows * 4);
  o.raw.resize(o.out.bytes());
  std::memcpy(o.raw.data(), o.out.data(), o.raw.size());
  return o;
}

// GPU selection vs the CPU reference on the GPU's summaries: scores bit for bit, pages exactly.
// Returns the selected pages per (b, kv head).
std::vector<std::vector<int32_t>> check_selection(const Config& c, const CacheUnderTest& cache,
                                                  const TypedHost& q,
                                                  const std::vector<float>& q_f) {
  const int D = c.head_dim, mp = cache.max_pages();
  const std::size_t pairs = std::size_t(c.batch) * c.heads_kv;
  DeviceBuffer dq(q.bytes()), di(pairs * mp * 4), dc(pairs * 4), ds(pairs * mp * 4);
  dq.upload(q.data(), q.bytes());
  SparseDecodeParams p;
  p.q = dq.get();
  p.q_strides = contiguous(c.heads_q, c.seqlen_q, D);
  p.heads_q = c.heads_q;
  p.seqlen_q = c.seqlen_q;
  p.topk = c.topk;
  p.sink_pages = c.sink_pages;
  triageattention::select_decode_pages(cache.view(), p, static_cast<int32_t*>(di.get()),
                                       static_cast<int32_t*>(dc.get()),
                                       static_cast<float*>(ds.get()), nullptr);
  EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  std::vector<int32_t> gi(pairs * mp), gc(pairs);
  std::vector<float> gs(pairs * mp);
  di.download(gi.data(), di.bytes());
  dc.download(gc.data(), dc.bytes());
  ds.download(gs.data(), ds.bytes());

  std::vector<float> lo, hi;
  cache.download_summaries(lo, hi);
  std::vector<int32_t> lens(c.batch), ri(pairs * mp), rc(pairs);
  for (int b = 0; b < c.batch; ++b) lens[b] = cache.len(b);
  std::vector<float> rs(pairs * mp, 0.f);
  triageattention::reference::DecodeSelectionShape shape{
      c.batch, c.heads_q, c.heads_kv, c.seqlen_q, D, c.page_size, mp, cache.num_pages()};
  triageattention::reference::select_decode_pages(shape, q_f.data(), lo.data(), hi.data(),
                                                  cache.host_table().data(), lens.data(), c.topk,
                                                  c.sink_pages, rs.data(), ri.data(), rc.data());
  std::vector<std::vector<int32_t>> selected(pairs);
  for (std::size_t pr = 0; pr < pairs; ++pr) {
    const int b = int(pr / c.heads_kv);
    const int npages = (cache.len(b) + c.page_size - 1) / c.page_size;
    for (int pg = 0; pg < npages; ++pg)
      EXPECT_EQ(gs[pr * mp + pg], rs[pr * mp + pg]) << "score of pair " << pr << " page " << pg;
    EXPECT_EQ(gc[pr], rc[pr]) << "count of pair " << pr;
    for (int i = 0; i < mp; ++i)
      EXPECT_EQ(gi[pr * mp + i], ri[pr * mp + i]) << "pair " << pr << " entry " << i;
    selected[pr].assign(ri.begin() + pr * mp, ri.begin() + pr * mp + rc[pr]);
  }
  return selected;
}

// The reference decode of this step: keys j <= len - Sq + t, restricted to `selected` pages
// when given.
void expect_matches_reference(const Config& c, const CacheUnderTest& cache,
                              const std::vector<float>& q_f, const DecodeOutput& got,
                              const std::vector<std::vector<int32_t>>* selected) {
  const int D = c.head_dim;
  int max_len = 1;
  for (int b = 0; b < c.batch; ++b) max_len = std::max(max_len, cache.len(b));
  const std::size_t kv_elems = std::size_t(c.batch) * c.heads_kv * max_len * D;
  std::vector<float> k(kv_elems, 0.f), v(kv_elems, 0.f);
  for (int b = 0; b < c.batch; ++b)
    for (int h = 0; h < c.heads_kv; ++h)
      for (int j = 0; j < cache.len(b); ++j)
        for (int d = 0; d < D; ++d) {
          const std::size_t i = ((std::size_t(b) * c.heads_kv + h) * max_len + j) * D + d;
          k[i] = cache.key(b, h, j, d);
          v[i] = cache.value(b, h, j, d);
        }
  const int group = c.heads_q / c.heads_kv;
  auto allowed = [&](int b, int h, int64_t i, int64_t j) {
    if (j > cache.len(b) - c.seqlen_q + i) return false;
    if (selected == nullptr) return true;
    const auto& pages = (*selected)[std::size_t(b) * c.heads_kv + h / group];
    return std::binary_search(pages.begin(), pages.end(), int32_t(j / c.page_size));
  };
  triageattention::reference::AttentionShape shape{c.batch, c.heads_q, c.heads_kv, c.seqlen_q,
                                                   max_len, D};
  const std::size_t rows = std::size_t(c.batch) * c.heads_q * c.seqlen_q;
  std::vector<float> want(rows * D), want_lse(rows);
  triageattention::reference::attention(shape, q_f.data(), k.data(), v.data(),
                                        1.f / std::sqrt(float(D)), allowed, want.data(),
                                        want_lse.data());
  std::vector<float> out(rows * D);
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = got.out.get(i);
  const double tolerance = c.dtype == DType::kBFloat16 ? 1.0 / 32 : 1.0 / 256;
  EXPECT_LE(max_scaled_error(out, want), tolerance);
  for (std::size_t i = 0; i < rows; ++i) {
    if (std::isinf(want_lse[i])) {
      ASSERT_TRUE(std::isinf(got.lse[i]) && got.lse[i] < 0) << "row " << i << ": lse " << got.lse[i];
      for (int d = 0; d < D; ++d) ASSERT_EQ(out[i * D + d], 0.f) << "row " << i << " sees no key";
    } else {
      ASSERT_NEAR(got.lse[i], want_lse[i], 2e-3 * (1 + std::fabs(want_lse[i]))) << "lse of row " << i;
    }
  }
}

TypedHost random_queries(const Config& c, std::mt19937& rng, std::vector<float>* q_f) {
  const std::size_t elems = std::size_t(c.batch) * c.heads_q * c.seqlen_q * c.head_dim;
  random_typed(c.dtype, elems, rng, q_f);
  // Larger scores than uniform(-1, 1) give, so the softmax is far from flat.
  TypedHost q(c.dtype, elems);
  for (std::size_t i = 0; i < elems; ++i) {
    q.set(i, 3.f * (*q_f)[i]);
    (*q_f)[i] = q.get(i);
  }
  return q;
}

// check_selection with a random query and with a zero one, whose equal scores (every page
// alike) leave the winners to the index alone.
void check_selection_random_and_zero(const Config& c, const CacheUnderTest& cache,
                                     std::mt19937& rng) {
  std::vector<float> q_f;
  const TypedHost random_q = random_queries(c, rng, &q_f);
  TypedHost zero_q(c.dtype, q_f.size());
  for (std::size_t i = 0; i < q_f.size(); ++i) zero_q.set(i, 0.f);
  check_selection(c, cache, random_q, q_f);
  check_selection(c, cache, zero_q, std::vector<float>(q_f.size(), 0.f));
}

// Prefill (variable lengths through new_lens), then `steps` decode steps of seqlen_q tokens; each
// step checks dense decode, the sparse selection and sparse decode, and determinism.
void run_session(const Config& c, std::mt19937& rng) {
  SCOPED_TRACE(describe(c));
  const int longest = *std::max_element(c.prefill.begin(), c.prefill.end());
  CacheUnderTest cache(c, longest + c.steps * c.seqlen_q, rng);
  cache.append(c.prefill, rng);
  cache.expect_state();
  for (int step = 0; step < c.steps; ++step) {
    SCOPED_TRACE("step " + std::to_string(step));
    cache.append(std::vector<int>(c.batch, c.seqlen_q), rng);
    if (step == 0 || step == c.steps - 1) cache.expect_state();
    std::vector<float> q_f;
    const TypedHost q = random_queries(c, rng, &q_f);

    const DecodeOutput dense = run_decode(c, cache, q, cache.max_pages());
    expect_matches_reference(c, cache, q_f, dense, nullptr);
    const auto selected = check_selection(c, cache, q, q_f);
    const DecodeOutput sparse = run_decode(c, cache, q, c.topk);
    expect_matches_reference(c, cache, q_f, sparse, &selected);
    EXPECT_EQ(run_decode(c, cache, q, c.topk).raw, sparse.raw) << "sparse decode is not deterministic";
    if (::testing::Test::HasFatalFailure()) return;
  }
}

std::vector<int> prefill_lengths(int batch, int page_size, std::mt19937& rng) {
  // Edge lengths first (one token, around a page boundary), then random ones.
  std::vector<int> lens = {333, 1, page_size - 1, page_size, page_size + 1, 3 * page_size + 7};
  std::uniform_int_distribution<int> pick(2, 420);
  while (int(lens.size()) < batch) lens.push_back(pick(rng));
  lens.resize(batch);
  return lens;
}

class DecodeSessions : public ::testing::TestWithParam<std::tuple<DType, int, int, int>> {};

TEST_P(DecodeSessions, PrefillThenStepsMatchReference) {
  TA_REQUIRE_GPU();
  const auto [dtype, head_dim, page_size, batch] = GetParam();
  std::mt19937 rng(dtype == DType::kFloat16 ? 11 : 13 + head_dim + page_size + batch);
  Config c;
  c.dtype = dtype;
  c.head_dim = head_dim;
  c.page_size = page_size;
  c.batch = batch;
  c.prefill = prefill_lengths(batch, page_size, rng);
  c.heads_q = 8;  // GQA 4:1, one new token
  c.heads_kv = 2;
  c.seqlen_q = 1;
  run_session(c, rng);
  c.heads_q = 16;  // GQA 8:1, three new tokens: 24 rows, two row blocks
  c.seqlen_q = 3;
  c.topk = 5;
  c.sink_pages = 2;
  c.steps = 4;
  run_session(c, rng);
}

INSTANTIATE_TEST_SUITE_P(, DecodeSessions,
                         ::testing::Combine(::testing::Values(DType::kFloat16, DType::kBFloat16),
                                            ::testing::Values(64, 128), ::testing::Values(16, 64),
                                            ::testing::Values(1, 8)),
                         [](const auto& info) {
                           return std::string(std::get<0>(info.param) == DType::kFloat16 ? "fp16" : "bf16") +
                                  "_d" + std::to_string(std::get<1>(info.param)) + "_page" +
                                  std::to_string(std::get<2>(info.param)) + "_b" +
                                  std::to_string(std::get<3>(info.param));
                         });

TEST(Decode, OtherPageSizesAndEightNewTokens) {
  TA_REQUIRE_GPU();
  std::mt19937 rng(21);
  for (int page_size : {32, 128}) {
    Config c;
    c.page_size = page_size;
    c.batch = 3;
    c.heads_q = 4;
    c.heads_kv = 4;  // MHA
    c.seqlen_q = 8;
    c.steps = 3;
    c.topk = 2;
    c.prefill = {700, 9, page_size};
    run_session(c, rng);
  }
}

TEST(Decode, ManySplitsMergeTheirPartials) {
  TA_REQUIRE_GPU();
  // Contexts of thousands of tokens: dense and sparse decode run several splits per (sequence,
  // kv head), merged by the last split to arrive; the one-page sequence leaves most splits
  // without a page (partials with lse -inf).
  std::mt19937 rng(31);
  Config c;
  c.batch = 3;
  c.heads_q = 8;
  c.heads_kv = 2;
  c.page_size = 16;
  c.steps = 2;
  c.topk = 140;  // 2240 tokens: three sparse splits of at least kMinSplitTokens
  c.prefill = {3000, 5, 1400};
  run_session(c, rng);
  c.heads_q = 32;  // 16:1 with two new tokens: two row blocks, each with its own counters
  c.seqlen_q = 2;
  run_session(c, rng);
}

TEST(Decode, ManySplitsMergeInWindows) {
  TA_REQUIRE_GPU();
  // One (sequence, kv head) of 16 query rows over 16k tokens: dense decode runs 16 splits and
  // sparse decode (200 pages) 13, more than the last split stages in shared memory at once
  // (ten partials of 16 rows x D 128 fp32 in the 96 KB of pipeline stages), so it merges them in
  // two windows, carrying the running sums from the first to the second.
  std::mt19937 rng(37);
  Config c;
  c.batch = 1;
  c.heads_q = 16;
  c.heads_kv = 1;
  c.steps = 2;
  c.topk = 200;
  c.prefill = {16000};
  ASSERT_EQ(triageattention::decode::num_splits(1, 1, 1, 200 * 64, false), 13);
  ASSERT_EQ(triageattention::decode::num_splits(1, 1, 1, 16064, true), 16);
  run_session(c, rng);
}

TEST(Decode, GridsOfManyCtasMatchReferenceAndReplay) {
  TA_REQUIRE_GPU();
  // Decode grids of more CTAs than one wave at two per SM holds: 40 short sequences x 8 kv heads
  // (320 pairs, one split each), then 16 long ones x 4 kv heads (four splits of 800 tokens), each
  // also replayed from a CUDA graph, which must give the same bytes as an eager call.
  std::mt19937 rng(51);
  Config c;
  c.batch = 40;
  c.heads_q = 32;
  c.heads_kv = 8;
  c.page_size = 16;
  c.steps = 2;
  c.prefill = prefill_lengths(c.batch, c.page_size, rng);
  run_session(c, rng);
  Config l;
  l.batch = 16;
  l.heads_q = 16;
  l.heads_kv = 4;
  l.head_dim = 64;
  l.page_size = 16;
  l.steps = 2;
  l.topk = 200;  // 3200 tokens: four splits
  l.prefill = {4200, 5,    3300, 4000, 1,  3900, 4100, 3201,
               4200, 2000, 3999, 4150, 17, 3600, 4096, 3333};
  ASSERT_EQ(triageattention::decode::num_splits(l.batch, l.heads_kv, 1, 3200, false), 4);
  run_session(l, rng);
  for (const Config& shape : {c, l}) {
    SCOPED_TRACE(describe(shape));
    CacheUnderTest cache(shape, *std::max_element(shape.prefill.begin(), shape.prefill.end()),
                         rng);
    cache.append(shape.prefill, rng);
    std::vector<float> q_f;
    const TypedHost q = random_queries(shape, rng, &q_f);
    EXPECT_EQ(run_decode(shape, cache, q, shape.topk, /*captured=*/true).raw,
              run_decode(shape, cache, q, shape.topk).raw)
        << "a replayed call differs from an eager one";
  }
}

TEST(Decode, SelectionOfLongRowsAndTiesMatchesReference) {
  TA_REQUIRE_GPU();
  // Rows of more than 1024 pages take the CTA select in several register tiles, up to 1024 in
  // one (1000 pages: 8 keys per thread; 44 pages: 1); a zero query scores every page alike, so
  // the winners are decided by index alone (the threshold bucket is cut inside a tile, across
  // the tiles); k at or above the candidates takes them all.
  std::mt19937 rng(41);
  Config c;
  c.batch = 4;
  c.heads_q = 4;
  c.heads_kv = 2;
  c.head_dim = 64;
  c.page_size = 16;
  c.sink_pages = 2;
  c.prefill = {24000, 16390, 700, 16000};  // 1500, 1025, 44 and 1000 pages
  CacheUnderTest cache(c, 24000, rng);
  cache.append(c.prefill, rng);
  for (int topk : {1, 300, 1100, 1500}) {
    c.topk = topk;
    SCOPED_TRACE("topk " + std::to_string(topk));
    check_selection_random_and_zero(c, cache, rng);
  }
}

TEST(Decode, SelectionOfShortRowsMatchesReference) {
  TA_REQUIRE_GPU();
  // Rows of up to one 64-page tile per CTA of an 8-CTA cluster (up to 512 pages): lengths around
  // the tile edges (1, 2, 63, 65 pages, 7 tiles and 1 page, 8 full tiles), k from 1 to 511
  // (around k / 8 and k / 7 of a tile too), a tile left with 2 candidates by unmapped pages, an
  // unmapped sink and last page, and a zero query whose equal scores leave only the index.
  std::mt19937 rng(61);
  Config c;
  c.batch = 7;
  c.heads_q = 8;
  c.heads_kv = 2;
  c.head_dim = 64;
  c.page_size = 16;
  c.prefill = {16, 20, 63 * 16, 65 * 16 - 5, 449 * 16, 512 * 16, 300 * 16};
  CacheUnderTest cache(c, 512 * 16, rng);
  ASSERT_EQ(cache.max_pages(), 513);  // clusters of 8 CTAs
  cache.append(c.prefill, rng);
  for (int p = 128; p < 190; ++p) cache.unmap(6, p);  // tile 2 of sequence 6: 2 candidates
  cache.unmap(5, 511);                                 // the last page: not forced, not chosen
  cache.unmap(4, 0);                                   // a sink page
  for (int sinks : {1, 3}) {
    c.sink_pages = sinks;
    for (int topk : {1, 2, 7, 9, 10, 64, 65, 100, 448, 511}) {
      c.topk = topk;
      SCOPED_TRACE("sinks " + std::to_string(sinks) + " topk " + std::to_string(topk));
      check_selection_random_and_zero(c, cache, rng);
    }
  }
}

TEST(Decode, RowsBeforeTheSequenceStartSeeNoKey) {
  TA_REQUIRE_GPU();
  // The C++ API does not read device lengths, so it runs with seqlen_q > length: such rows
  // (and a whole empty sequence) get out = 0 and lse = -inf, and nothing is read out of bounds.
  std::mt19937 rng(3);
  Config c;
  c.batch = 3;
  c.heads_q = 4;
  c.heads_kv = 1;
  c.seqlen_q = 2;
  c.page_size = 16;
  CacheUnderTest cache(c, 64, rng);
  cache.append({0, 1, 2}, rng);
  std::vector<float> q_f;
  const TypedHost q = random_queries(c, rng, &q_f);
  for (int topk : {1, cache.max_pages()}) {
    const DecodeOutput o = run_decode(c, cache, q, topk);
    expect_matches_reference(c, cache, q_f, o, nullptr);
  }
}

TEST(Decode, CapturedStepsReplayLikeEagerOnes) {
  TA_REQUIRE_GPU();
  Config c;
  c.batch = 4;
  c.heads_q = 16;
  c.heads_kv = 4;
  c.seqlen_q = 2;
  c.prefill = {100, 257, 64, 3};
  const int steps = 5, D = c.head_dim;
  std::mt19937 rng_a(1), rng_b(1);
  CacheUnderTest eager(c, 300, rng_a), graphed(c, 300, rng_b);  // same page tables
  std::mt19937 data_a(2), data_b(2);
  eager.append(c.prefill, data_a);
  graphed.append(c.prefill, data_b);

  // Fixed buffers the graph reads: new K/V and q, uploaded before each replay.
  const std::size_t kv_elems = std::size_t(c.batch) * c.heads_kv * c.seqlen_q * D;
  const std::size_t q_elems = std::size_t(c.batch) * c.heads_q * c.seqlen_q * D;
  DeviceBuffer dk(kv_elems * 2), dv(kv_elems * 2), dq(q_elems * 2), dout(q_elems * 2),
      dlse(q_elems / D * 4);
  const std::size_t ws_bytes = triageattention::sparse_decode_workspace_bytes(
      c.batch, c.heads_kv, c.heads_q, c.seqlen_q, graphed.max_pages(), D);
  DeviceBuffer ws(ws_bytes);
  PagedAppendParams ap;
  ap.k_new = dk.get();
  ap.v_new = dv.get();
  ap.k_strides = ap.v_strides = contiguous(c.heads_kv, c.seqlen_q, D);
  ap.new_tokens = c.seqlen_q;
  SparseDecodeParams dp;
  dp.q = dq.get();
  dp.q_strides = dp.out_strides = contiguous(c.heads_q, c.seqlen_q, D);
  dp.out = dout.get();
  dp.lse = static_cast<float*>(dlse.get());
  dp.heads_q = c.heads_q;
  dp.seqlen_q = c.seqlen_q;
  dp.topk = 3;
  dp.workspace = ws.get();
  dp.workspace_bytes = ws_bytes;

  cudaStream_t stream;
  TA_EXPECT_CUDA(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  cudaGraph_t graph;
  TA_EXPECT_CUDA(cudaStreamBeginCapture(stream, cudaStreamCaptureModeGlobal));
  triageattention::paged_kv_append(graphed.view(), ap, stream);
  triageattention::sparse_decode(graphed.view(), dp, stream);
  TA_EXPECT_CUDA(cudaStreamEndCapture(stream, &graph));
  cudaGraphExec_t exec;
  TA_EXPECT_CUDA(cudaGraphInstantiate(&exec, graph, 0));

  for (int step = 0; step < steps; ++step) {
    SCOPED_TRACE("step " + std::to_string(step));
    std::vector<float> kf, vf, q_f;
    const TypedHost k = random_typed(c.dtype, kv_elems, data_b, &kf);
    const TypedHost v = random_typed(c.dtype, kv_elems, data_b, &vf);
    const TypedHost q = random_queries(c, data_b, &q_f);
    dk.upload(k.data(), k.bytes());
    dv.upload(v.data(), v.bytes());
    dq.upload(q.data(), q.bytes());
    dout.fill_bytes(0xFF);
    TA_EXPECT_CUDA(cudaGraphLaunch(exec, stream));
    TA_EXPECT_CUDA(cudaStreamSynchronize(stream));
    graphed.record(std::vector<int>(c.batch, c.seqlen_q), c.seqlen_q, kf, vf);
    graphed.expect_state();

    // The same step eagerly on the twin cache.
    DeviceBuffer ek(k.bytes()), ev(v.bytes());
    ek.upload(k.data(), k.bytes());
    ev.upload(v.data(), v.bytes());
    PagedAppendParams eap = ap;
    eap.k_new = ek.get();
    eap.v_new = ev.get();
    triageattention::paged_kv_append(eager.view(), eap, nullptr);
    eager.record(std::vector<int>(c.batch, c.seqlen_q), c.seqlen_q, kf, vf);
    c.topk = dp.topk;
    const DecodeOutput want = run_decode(c, eager, q, dp.topk);
    std::vector<unsigned char> got(want.raw.size());
    dout.download(got.data(), got.size());
    EXPECT_EQ(got, want.raw) << "graph replay differs from the eager step";
  }
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
  cudaStreamDestroy(stream);
}

}  // namespace
