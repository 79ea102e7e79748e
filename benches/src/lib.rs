//! Criterion benchmarks for the gateway's hot paths; see `benches/`.
