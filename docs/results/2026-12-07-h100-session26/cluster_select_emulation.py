"""Host emulation of select_in_cluster (page_select.cu) against the selection rule: the same
tile bounds, floor, contender list and ranks, on random rows with ties, forced and missing keys."""
import random

FORCED, NOT = 0xFFFFFFFF, 0

def rule(keys, k):
    cand = [i for i, x in enumerate(keys) if x != NOT]
    cand.sort(key=lambda i: (-keys[i], i))
    return sorted(cand[:k])

def outranks(kj, j, ki, i):
    return kj > ki or (kj == ki and j < i)

def emulate(keys, k, csize=8):
    n = len(keys)
    tiles = (n + 63) // 64
    quota = k if tiles <= 1 else (k + tiles - 2) // (tiles - 1)
    bound = [0] * csize
    for r in range(csize):
        lo, tp = 64 * r, min(64, n - 64 * r)
        for t in range(max(tp, 0)):
            ki = keys[lo + t]
            if ki != NOT and sum(outranks(keys[lo + e], lo + e, ki, lo + t) for e in range(tp)) == quota - 1:
                bound[r] = ki
    floor, full = FORCED, 0
    for r in range(tiles):
        if bound[r] != NOT:
            full += 1
            floor = min(floor, bound[r])
    if full * quota < k:
        floor = 1
    contenders = [(x, j) for j, x in enumerate(keys) if x >= floor]
    random.shuffle(contenders)  # any order
    selected = []
    for r in range(csize):
        for i in range(64 * r, min(64 * r + 64, n)):
            ki = keys[i]
            if ki >= floor and sum(outranks(kj, j, ki, i) for kj, j in contenders) < k:
                selected.append(i)
    return selected, len(contenders)

random.seed(1)
mismatch, total_cont, rows = 0, 0, 0
for trial in range(3000):
    n = random.choice([1, 2, 5, 63, 64, 65, 130, 449, 450, 500, 511, 512])
    k = random.choice([1, 2, 7, 8, 9, 10, 63, 64, 65, 100, 300, 511, 512, 600])
    mode = random.random()
    if mode < 0.3:
        keys = [random.randint(1, 2**32 - 2) for _ in range(n)]
    elif mode < 0.6:
        keys = [random.randint(1, 20) for _ in range(n)]  # many ties
    else:
        keys = [0x80000000 | random.randint(0, 2**20) for _ in range(n)]
    sinks = random.choice([0, 1, 3])
    for p in range(n):
        if p < sinks or p == n - 1:
            keys[p] = FORCED
        if random.random() < 0.05:
            keys[p] = NOT
    if random.random() < 0.2 and n > 190:  # a tile with few candidates
        for p in range(128, 190):
            keys[p] = NOT
    got, m = emulate(keys, k)
    if got != rule(keys, k):
        mismatch += 1
    if n == 512 and k == 64 and mode < 0.3:
        total_cont += m
        rows += 1
print("mismatches", mismatch, "of 3000; mean contenders at 512 pages, k 64, distinct keys:",
      total_cont / max(rows, 1))
