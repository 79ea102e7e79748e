//! The process's allocator: jemalloc, set to give freed memory back within about a second.
//!
//! A gateway's heap swings: each busy HTTP/1 connection holds hyper's 16 KiB of buffers, given
//! back a second after it idles. With glibc's malloc most of those pages stay resident after a
//! burst (freed chunks between live ones are only returned by an explicit `malloc_trim`), so
//! 10,000 connections that arrived at once and went idle kept about 90 MB; jemalloc keeps each
//! size class in pages of its own and, with a background thread purging pages unused for a
//! second, the same connections keep about 15 MB (`benches/load/idle-memory.py`). Requests per
//! second are the same with either allocator (`benches/load/compare.sh`).

#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options, read once when it starts (`_RJEM_MALLOC_CONF` in the environment is read
/// after them and wins): purge pages unused for a second from a background thread, and no
/// second, lazier stage of purging.
// The symbol jemalloc reads is a C string pointer; no code runs.
#[allow(unsafe_code, non_upper_case_globals)]
#[export_name = "_rjem_malloc_conf"]
static malloc_conf: &[u8; 60] = b"background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0\0";
