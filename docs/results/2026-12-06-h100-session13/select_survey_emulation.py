# Host emulation of a select that was considered in session 13 and not built (OPTIMIZATION_LOG,
# KV-cache decode, session 13): a survey before the radix passes (candidates, forced keys, AND
# and OR of the scored keys) takes forced keys outright and starts the passes below the bits all
# scored keys share, in 8-bit windows clamped at bit 0, stopping once the k-th key's bucket is
# taken whole. Checks the logic against the selection rule (largest keys, ties to the lower
# index) and counts passes against cta_select_topk's (from bit 24, forced keys included).
#   python3 select_survey_emulation.py
import random
F = 0xFFFFFFFF
def reference(keys, k):
    cand = [(kk, i) for i, kk in enumerate(keys) if kk != 0]
    cand.sort(key=lambda t: (-t[0], t[1]))
    return sorted(i for _, i in cand[:k])
def clz(x):
    return 32 - x.bit_length()
def find_digit(hist, remaining):
    run = 0
    for d in range(255, -1, -1):
        if run + hist[d] >= remaining:
            return d, run
        run += hist[d]
    return 0, run
def select_y(keys, k):
    if not keys or k <= 0: return [], 0
    cands = [x for x in keys if x != 0]
    candidates = len(cands); forced = sum(1 for x in cands if x == F)
    scored = [x for x in cands if x != F]
    all_and = 0xFFFFFFFF; any_or = 0
    for x in scored: all_and &= x; any_or |= x
    if candidates == 0: return [], 0
    prefix = mask = 0; remaining = k
    forced_win = k < candidates and forced < k
    if k < candidates and not forced_win: prefix = mask = F
    shift = -8
    if forced_win:
        remaining = k - forced
        differ = all_and ^ any_or
        if differ == 0: prefix = all_and; mask = 0xFFFFFFFF
        else:
            high = 31 - clz(differ)
            mask = 0 if high == 31 else (0xFFFFFFFF << (high + 1)) & 0xFFFFFFFF
            prefix = all_and & mask
            shift = high - 7
    passes = 0
    while shift > -8:
        low = max(shift, 0)
        hist = [0] * 256
        for x in keys:
            if x != 0 and x != F and (x & mask) == prefix:
                hist[(x >> low) & 255] += 1
        d, above = find_digit(hist, remaining)
        remaining -= above
        prefix |= d << low; mask = (mask | (255 << low)) & 0xFFFFFFFF
        passes += 1
        if hist[d] == remaining or low == 0: break
        shift -= 8
    take_equal = remaining
    out = []; eq = 0
    for i, x in enumerate(keys):
        if x == 0: continue
        outright = True if (forced_win and x == F) else (x & mask) > prefix
        at = False if (forced_win and x == F) else (x & mask) == prefix
        if outright: out.append(i)
        elif at:
            if eq < take_equal: out.append(i)
            eq += 1
    return out, passes
import struct
def score_key(s):
    if s != s: return 1
    if s == 0.0: s = 0.0
    u = struct.unpack('<I', struct.pack('<f', s))[0]
    return (~u & 0xFFFFFFFF) if u & 0x80000000 else (u | 0x80000000)
rng = random.Random(1)
bad = 0; npass = []
for trial in range(20000):
    n = rng.choice([1, 2, 5, 64, 100, 512, 1025, 2048])
    kind = rng.random()
    keys = []
    for i in range(n):
        r = rng.random()
        if r < 0.05: keys.append(0)
        elif r < 0.08: keys.append(F)
        elif kind < 0.2: keys.append(score_key(float(rng.choice([1.0, 2.0, 2.0, 3.5]))))
        elif kind < 0.3: keys.append(score_key(float('inf')) if rng.random() < 0.5 else score_key(rng.gauss(0, 1)))
        elif kind < 0.4: keys.append(rng.randint(1, 0xFF800000))
        else: keys.append(score_key(4 + rng.gauss(0, 1)))
    if kind > 0.9 and n > 2:
        keys[0] = F; keys[-1] = F
    k = rng.choice([1, 2, 8, 64, 256, n, n + 3, max(1, n // 8)])
    got, p = select_y(keys, k)
    if got != reference(keys, k):
        bad += 1
        if bad < 5: print("MISMATCH", n, k, kind)
    npass.append(p)
print("mismatches:", bad, "of 20000; mean passes", sum(npass) / len(npass))
def passes_current(keys, k):
    cands = [x for x in keys if x != 0]
    if k >= len(keys): return 0
    prefix = mask = 0; remaining = k; p = 0
    for shift in (24, 16, 8, 0):
        hist = [0] * 256
        for x in keys:
            if x != 0 and (x & mask) == prefix: hist[(x >> shift) & 255] += 1
        p += 1
        if shift == 24 and k >= len(cands): break
        d, above = find_digit(hist, remaining)
        remaining -= above; prefix |= d << shift; mask |= 255 << shift
        if hist[d] == remaining: break
    return p
for label, gen in [("normal 4+-1", lambda: 4 + rng.gauss(0, 1)), ("normal 0+-1", lambda: rng.gauss(0, 1)),
                   ("uniform 10..1000", lambda: rng.uniform(10, 1000))]:
    for n, k in [(512, 64), (2048, 256)]:
        pc = py = 0
        for t in range(200):
            keys = [score_key(gen()) for _ in range(n)]
            keys[0] = F; keys[-1] = F
            pc += passes_current(keys, k); py += select_y(keys, k)[1]
        print(f"{label:18s} n {n} k {k}: passes cta_select_topk {pc/200:.2f}, with the survey {py/200:.2f}")
