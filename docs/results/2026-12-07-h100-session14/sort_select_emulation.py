# Host emulation of cand_b.patch's select (session 14): the bitonic network over network positions
# tid * P + j (P = per rounded up to a power of two) with the kernel's keep rule, the candidates
# and the keys above the threshold by binary search in the sorted row, then cta_select_topk's
# compaction; every selection checked against the rule (largest keys, ties to the lower index,
# key 0 not a candidate). Run: python3 sort_select_emulation.py (seconds).
import random
M32 = 0xFFFFFFFF
def network(vals, threads, P):
    N = threads * P
    a = list(vals)
    size = 2
    while size <= N:
        stride = size // 2
        while stride > 0:
            b = a[:]
            for e in range(N):
                u = a[e ^ stride]; v = a[e]
                lower = (e & stride) == 0
                desc = (e & size) == 0
                b[e] = max(u, v) if lower == desc else min(u, v)
            a = b
            stride //= 2
        size *= 2
    return a
def select(keys, k, threads=128, kpt=8):
    n = len(keys)
    per = min(kpt, (n + threads - 1) // threads)
    P = 1
    while P < per: P *= 2
    assert per * threads >= n
    vals = [0] * (threads * P)
    for t in range(threads):
        for j in range(P):
            i = t * per + j
            if j < per and i < n and keys[i] != 0:  # non-candidates and padding: 0
                vals[t * P + j] = (keys[i] << 32) | (M32 - i)
    s = network(vals, threads, P)
    assert s == sorted(vals, reverse=True)
    def lower_bound(pred):  # first e with not pred(e)
        lo, hi = 0, len(s)
        while lo < hi:
            mid = (lo + hi) // 2
            if pred(s[mid]): lo = mid + 1
            else: hi = mid
        return lo
    cand = lower_bound(lambda x: (x >> 32) >= 1)
    if cand == 0: return []
    if k >= cand: prefix, mask, take_equal = 0, 0, k
    else:
        T = s[k - 1] >> 32
        above = lower_bound(lambda x: (x >> 32) > T)
        prefix, mask, take_equal = T, M32, k - above
    out = []; eq = 0
    for i in range(n):
        if keys[i] == 0: continue
        m = keys[i] & mask
        if m > prefix: out.append(i)
        elif m == prefix:
            if eq < take_equal: out.append(i)
            eq += 1
    return out
def rule(keys, k):
    c = [i for i in range(len(keys)) if keys[i] != 0]
    c.sort(key=lambda i: (-keys[i], i))
    return sorted(c[:k])
random.seed(1)
cases = 0
for n in [1, 2, 5, 64, 100, 128, 129, 300, 512, 700, 1024]:
    for trial in range(6):
        mode = trial % 3
        if mode == 0: keys = [random.randint(1, 2**32 - 1) for _ in range(n)]
        elif mode == 1: keys = [random.choice([0, 0, 5, 7, 7, M32]) for _ in range(n)]
        else: keys = [random.randint(0, 3) for _ in range(n)]
        for k in [1, 2, max(1, n // 8), n // 2 + 1, n - 1, n]:
            if k < 1 or k >= n: continue  # k >= n takes the no-pass path before the sort
            for threads in (128, 64):
                if n > 8 * threads: continue
                got = select(keys, k, threads); want = rule(keys, k)
                assert got == want, (n, k, mode, threads)
                cases += 1
print("ok", cases, "cases")
