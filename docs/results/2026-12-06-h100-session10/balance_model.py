# Would fixed work units balance the sparse B8/32k decode? A greedy model of run 1's trace:
# 264 CTA slots (two per SM), 48 of them on the 24 fast SMs that stream a 16-page split in
# ~42 µs, the rest ~49.5 µs; each unit costs `overhead` µs of start-up and merge on top of its
# pages; units are taken in order by whichever slot frees first (what the hardware's block
# scheduler or an atomic counter would do). Prints the makespan of each split.
#   python3 balance_model.py
import heapq


def makespan(units, overhead=2.0, fast_sms=24, sms=132):
    slots = [(0.0, i, (42 if i < 2 * fast_sms else 49.5) / 16) for i in range(2 * sms)]
    heapq.heapify(slots)
    end = 0.0
    for pages in units:
        t, i, per_page = heapq.heappop(slots)
        t += overhead + pages * per_page
        end = max(end, t)
        heapq.heappush(slots, (t, i, per_page))
    return end


pairs, pages = 64, 64
print(f"today, 4 splits of 16 pages: {makespan([16] * 4 * pairs):.1f} µs")
for big_share in (0.5, 0.75, 0.875):
    for small_units in (4, 8, 16):
        big, small = pages * big_share / 4, pages * (1 - big_share) / small_units
        if small >= 1:
            units = [big] * 4 * pairs + [small] * small_units * pairs
            print(f"4 splits of {big:.0f} pages, then {small_units} of {small:.1f}: "
                  f"{makespan(units):.1f} µs")
for n in (8, 16):
    print(f"{n} equal splits of {pages // n} pages: {makespan([pages // n] * n * pairs):.1f} µs")
print(f"perfect balance, no extra start-up: {4096 / (48 / (42 / 16) + 216 / (49.5 / 16)) + 2:.1f} µs")
