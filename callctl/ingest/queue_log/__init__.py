"""Asterisk's queue_log: following it (tail, offsets, rotation), folding it into facts
(window, fold) and synthesising it for benchmarks (synth)."""
