#!/usr/bin/env bash
# Prepared in session 15 for decode step 18 (t = cand_t.patch, tf = cand_tf.patch against the
# tree of the day). Session 16 ran these steps, reordered so that a call cut short would still
# return the A/B, together with a GEMM trace:
#   bash docs/results/2026-12-07-h100-session16/run1.sh
# (results in ../2026-12-07-h100-session16/README.md). This file now only points there.
exec bash "$(dirname "$0")/../2026-12-07-h100-session16/run1.sh"
